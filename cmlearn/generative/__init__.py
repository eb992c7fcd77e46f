"""Cross-modal generation (article §5.2.1): a product-of-experts VAE and a text-to-image conditional GAN.

Used in chapter 8 (``08_weak_pairs_and_generation``): :mod:`cmlearn.generative.vae` and :mod:`cmlearn.generative.gan`.

* :class:`CrossModalVAE`: a VAE (Kingma & Welling 2014) over two modalities with the
  product-of-experts posterior of MVAE (Wu & Goodman 2018). Each modality m has an encoder
  giving a Gaussian "expert" q(z | x_m) = N(μ_m, σ_m²). The posterior given any *subset* of
  modalities is the product of their experts and the prior N(0, I),

  .. math::

      T_m = \\sigma_m^{-2}, \\qquad
      \\sigma^2 = \\Big(1 + \\sum_{m \\text{ present}} T_m\\Big)^{-1}, \\qquad
      \\mu = \\sigma^2 \\sum_{m \\text{ present}} T_m\\, \\mu_m

  (a precision-weighted mean; the prior adds precision 1 at mean 0). So a sample without a
  caption simply has one expert fewer: the model trains on partly paired data, and an
  image is generated from text alone by decoding z from q(z | text).

  Its default objective (``objective="cross"``) is a **cross-reconstruction** variant, not
  MVAE's: for each subset S of {image, text} it decodes z ~ q(z | x_S) into *every* modality the
  sample has, so the text-only posterior must also explain the image. MVAE's sub-sampled ELBO
  (``objective="mvae"``) reconstructs from q(z | x_S) only the modalities in S,

  .. math::

      \\mathcal L_{\\text{MVAE}} = \\sum_{S} \\Big(\\mathbb E_{q(z \\mid x_S)}\\Big[-\\sum_{m \\in S} \\lambda_m \\log p(x_m \\mid z)\\Big]
          + \\beta\\,\\mathrm{KL}\\big(q(z \\mid x_S)\\,\\|\\,\\mathcal N(0, I)\\big)\\Big),

  and the cross variant replaces m ∈ S by "every m the sample has".
* :class:`ConditionalGAN` (text → 32×32 image): a generator G(noise, c) and a projection
  discriminator D(x, c) = wᵀφ(x) + ⟨E c, φ(x)⟩ (Miyato & Koyama 2018), trained with the
  matching-aware loss of GAN-INT-CLS (Reed et al. 2016): a real image with the *wrong* text
  counts as fake too, so D must check that image and text agree.
Both can take a caption as :func:`cmlearn.encoders.bag_of_words`, a 0/1 vector over the vocabulary
(``CrossModalVAE(text_encoder="bag_of_words")`` and the GAN's condition c).
"""

from cmlearn.generative.gan import ConditionalGAN, ProjectionDiscriminator, TextToImageGenerator
from cmlearn.generative.vae import (
    CrossModalVAE,
    VAEOutput,
    gaussian_kl,
    product_of_experts,
    reconstruction_loss,
    reparameterize,
    vae_loss,
)

__all__ = [
    "ConditionalGAN",
    "CrossModalVAE",
    "ProjectionDiscriminator",
    "TextToImageGenerator",
    "VAEOutput",
    "gaussian_kl",
    "product_of_experts",
    "reconstruction_loss",
    "reparameterize",
    "vae_loss",
]
