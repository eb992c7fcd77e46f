"""Losses: CLIP's InfoNCE, SigLIP's sigmoid loss, image–text matching, and the VAE's ELBO.

Used in chapter 3 (``03_alignment``), chapter 4 (``04_fusion``) and chapter 8 (``08_weak_pairs_and_generation``).
Each loss is a function that does the maths (returning a small dataclass that is easy to
plot) plus, where a parameter is learned, a module that holds it. ``logit_scale`` always
means log(1/τ), never its exponential; it is clamped at ln 100 as open_clip does.

* CLIP (Radford et al. 2021): :func:`cmlearn.align.clip_loss` (re-exported here), and
  :class:`ClipLoss` holding the learnable ``logit_scale`` (init ln(1/0.07)).
* SigLIP (Zhai et al. 2023): every pair is its own binary problem,

  .. math::

      \\mathcal{L} = -\\frac{1}{B} \\sum_{i,j} \\log \\sigma\\big(z_{ij} (t\\, x_i \\cdot y_j + b)\\big),
      \\qquad z_{ij} = 1 \\text{ if } i = j \\text{ else } -1

  with t = exp(logit_scale) (init 10) and bias b (init −10).
* ITM: binary cross-entropy on matched pairs and in-batch *hard* negatives — for each image
  the most similar wrong caption, for each caption the most similar wrong image (ALBEF, Li et al. 2021).
* VAE (Kingma & Welling 2014): reconstruction −log p(x | z) plus β · KL(q(z | x) ‖ N(0, I)).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cmlearn.align import INITIAL_TEMPERATURE, MAX_LOGIT_SCALE, ContrastiveOutput, clip_loss

__all__ = [
    "ContrastiveOutput",
    "clip_loss",
    "ClipLoss",
    "siglip_loss",
    "SigLipLoss",
    "ITMOutput",
    "hard_negatives",
    "itm_loss",
    "VAEOutput",
    "gaussian_kl",
    "reconstruction_loss",
    "vae_loss",
]


def _check_pairs(image_embeddings: torch.Tensor, text_embeddings: torch.Tensor) -> None:
    if image_embeddings.ndim != 2 or image_embeddings.shape != text_embeddings.shape:
        raise ValueError(
            "expected image and text embeddings of one shape (B, D), pairing up row by row; got image "
            f"{tuple(image_embeddings.shape)} and text {tuple(text_embeddings.shape)}"
        )


class ClipLoss(nn.Module):
    """The CLIP loss with its learnable temperature: ``logit_scale`` = log(1/τ), init ln(1/0.07).

    Forward: image_embeddings, text_embeddings (B, D), L2-normalised -> :class:`ContrastiveOutput`.
    """

    def __init__(self, init_temperature: float = INITIAL_TEMPERATURE, learnable: bool = True):
        super().__init__()
        if init_temperature <= 0:
            raise ValueError(f"expected a positive temperature, got {init_temperature}")
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / init_temperature)), requires_grad=learnable)

    @property
    def temperature(self) -> float:
        return float(torch.exp(-self.logit_scale.detach().clamp(max=MAX_LOGIT_SCALE)))

    def forward(self, image_embeddings: torch.Tensor, text_embeddings: torch.Tensor) -> ContrastiveOutput:
        return clip_loss(image_embeddings, text_embeddings, self.logit_scale)


def siglip_loss(
    image_embeddings: torch.Tensor, text_embeddings: torch.Tensor, logit_scale: torch.Tensor, logit_bias: torch.Tensor
) -> ContrastiveOutput:
    """SigLIP's pairwise sigmoid loss (see the module docstring), summed over pairs, divided by B.

    Args:
        image_embeddings, text_embeddings: (B, D), L2-normalised; row i of each is a pair.
        logit_scale: scalar log t (clamped at ln 100).
        logit_bias: scalar b.

    Returns:
        :class:`ContrastiveOutput` with ``logits_per_image`` = t·H_img·H_txtᵀ + b (B, B) and its transpose.
    """
    _check_pairs(image_embeddings, text_embeddings)
    B = image_embeddings.shape[0]
    logits = logit_scale.clamp(max=MAX_LOGIT_SCALE).exp() * image_embeddings @ text_embeddings.T + logit_bias  # (B, B)
    labels = 2 * torch.eye(B, device=logits.device, dtype=logits.dtype) - 1  # +1 on the diagonal, −1 elsewhere
    loss = -F.logsigmoid(labels * logits).sum() / B
    return ContrastiveOutput(loss, logits, logits.T)


class SigLipLoss(nn.Module):
    """SigLIP with learnable log t (init ln 10) and bias b (init −10), as in Zhai et al. 2023."""

    def __init__(self, init_logit_scale: float = math.log(10.0), init_logit_bias: float = -10.0):
        super().__init__()
        self.logit_scale = nn.Parameter(torch.tensor(float(init_logit_scale)))
        self.logit_bias = nn.Parameter(torch.tensor(float(init_logit_bias)))

    def forward(self, image_embeddings: torch.Tensor, text_embeddings: torch.Tensor) -> ContrastiveOutput:
        return siglip_loss(image_embeddings, text_embeddings, self.logit_scale, self.logit_bias)


# ----------------------------------------------------------------------------- image–text matching


@dataclass
class ITMOutput:
    """What :func:`itm_loss` computed: loss, the 3B pair logits and labels, and the negatives chosen (B,) each."""

    loss: torch.Tensor
    logits: torch.Tensor
    labels: torch.Tensor
    negative_text: torch.Tensor
    negative_image: torch.Tensor


def hard_negatives(
    similarity: torch.Tensor,
    same_content: torch.Tensor | None = None,
    sample: bool = True,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pick an in-batch hard negative for every image and every text.

    For image i, text j ≠ i is drawn with probability ∝ softmax_j(S_ij) (or the argmax when
    ``sample=False``); for text j likewise over images, softmax_i(S_ij). Pairs marked in
    ``same_content`` (e.g. two images with the same caption) are never negatives.

    Args:
        similarity: (B, B), S_ij = similarity of image i and text j (detached here).
        same_content: (B, B) bool, True where image i and text j also match; the diagonal is implied.
        sample: sample in proportion to softmax (ALBEF) or take the hardest.
        generator: for reproducible sampling.

    Returns:
        (negative_text (B,), negative_image (B,)) int64 indices.
    """
    if similarity.ndim != 2 or similarity.shape[0] != similarity.shape[1]:
        raise ValueError(f"expected a square similarity matrix (B, B), got {tuple(similarity.shape)}")
    B = similarity.shape[0]
    if B < 2:
        raise ValueError(f"expected a batch of at least 2 pairs to find negatives in, got B={B}")
    forbidden = torch.eye(B, dtype=torch.bool, device=similarity.device)
    if same_content is not None:
        if same_content.shape != (B, B):
            raise ValueError(f"expected same_content of shape ({B}, {B}), got {tuple(same_content.shape)}")
        forbidden = forbidden | same_content.bool()
    if forbidden.all(dim=1).any() or forbidden.all(dim=0).any():
        raise ValueError("some image or text has no possible negative in this batch (everything matches it)")
    S = similarity.detach().float()

    def pick(rows: torch.Tensor, banned: torch.Tensor) -> torch.Tensor:
        if not sample:
            return rows.masked_fill(banned, float("-inf")).argmax(dim=1)
        weights = torch.softmax(rows.masked_fill(banned, float("-inf")), dim=1)
        if generator is not None:
            weights = weights.to(generator.device)  # a seeded CPU generator samples on the CPU
        return torch.multinomial(weights, 1, generator=generator).squeeze(1).to(rows.device)

    return pick(S, forbidden), pick(S.T, forbidden.T)


def itm_loss(
    score_pairs: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    similarity: torch.Tensor,
    same_content: torch.Tensor | None = None,
    sample: bool = True,
    generator: torch.Generator | None = None,
) -> ITMOutput:
    """ITM binary cross-entropy on B matched pairs and 2B hard negatives.

    .. math::

        \\mathcal{L} = -\\frac{1}{3B}\\Big[\\sum_i \\log \\sigma(s_{i,i})
        + \\sum_i \\log\\big(1 - \\sigma(s_{i,j^-_i})\\big) + \\sum_j \\log\\big(1 - \\sigma(s_{i^-_j,j})\\big)\\Big]

    Args:
        score_pairs: maps (image_index (N,), text_index (N,)) to matching logits (N,) — e.g.
            ``lambda i, t: head(fusion({"image": h_img[i], "text": h_txt[t]}))``.
        similarity: (B, B) image–text similarities used to find hard negatives (e.g. the CLIP logits).
        same_content, sample, generator: see :func:`hard_negatives`.
    """
    negative_text, negative_image = hard_negatives(similarity, same_content, sample, generator)
    B = similarity.shape[0]
    rows = torch.arange(B, device=similarity.device)
    image_index = torch.cat([rows, rows, negative_image])  # positives, (i, j⁻_i), (i⁻_j, j)
    text_index = torch.cat([rows, negative_text, rows])
    logits = score_pairs(image_index, text_index)
    if logits.shape != (3 * B,):
        raise ValueError(f"expected score_pairs to return logits of shape ({3 * B},), got {tuple(logits.shape)}")
    labels = torch.cat([torch.ones(B), torch.zeros(2 * B)]).to(logits)
    loss = F.binary_cross_entropy_with_logits(logits, labels)
    return ITMOutput(loss, logits, labels, negative_text, negative_image)


# ----------------------------------------------------------------------------- VAE


@dataclass
class VAEOutput:
    """Negative ELBO and its two parts, each a mean over the batch."""

    loss: torch.Tensor
    reconstruction: torch.Tensor
    kl: torch.Tensor


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, diag σ²) ‖ N(0, I)) = ½ Σ_d (σ² + μ² − 1 − log σ²), per sample.

    Shapes:
        mu, logvar: (B, Z)  ->  (B,).
    """
    if mu.shape != logvar.shape:
        raise ValueError(f"expected mu and logvar of one shape, got {tuple(mu.shape)} and {tuple(logvar.shape)}")
    return 0.5 * (logvar.exp() + mu**2 - 1 - logvar).sum(dim=-1)


LIKELIHOODS = ("bernoulli", "gaussian", "categorical")


def reconstruction_loss(
    prediction: torch.Tensor, target: torch.Tensor, likelihood: str = "bernoulli", token_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """−log p(x | z) per sample, summed over everything but the batch axis.

    Args:
        prediction: ``"bernoulli"``: logits shaped like target (pixels in [0, 1]);
            ``"gaussian"``: the mean x̂ (unit variance; the constant ½ log 2π is dropped, so ½ ‖x − x̂‖²);
            ``"categorical"``: token logits (B, T, V).
        target: x; for ``"categorical"`` token ids (B, T).
        likelihood: one of ``"bernoulli"``, ``"gaussian"``, ``"categorical"``.
        token_mask: (B, T) for ``"categorical"``: only real tokens count.

    Returns:
        (B,)
    """
    if likelihood == "categorical":
        if prediction.ndim != 3 or prediction.shape[:2] != target.shape:
            raise ValueError(f"expected logits (B, T, V) for token ids (B, T), got {tuple(prediction.shape)} and {tuple(target.shape)}")
        nll = F.cross_entropy(prediction.transpose(1, 2), target, reduction="none")  # (B, T)
        if token_mask is not None:
            nll = nll * token_mask.to(nll.dtype)
        return nll.sum(dim=1)
    if prediction.shape != target.shape:
        raise ValueError(f"expected prediction shaped like target {tuple(target.shape)}, got {tuple(prediction.shape)}")
    if likelihood == "bernoulli":
        nll = F.binary_cross_entropy_with_logits(prediction, target, reduction="none")
    elif likelihood == "gaussian":
        nll = 0.5 * (prediction - target) ** 2
    else:
        raise ValueError(f"expected likelihood one of {LIKELIHOODS}, got {likelihood!r}")
    return nll.flatten(1).sum(dim=1)


def vae_loss(
    prediction: torch.Tensor,
    target: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    beta: float = 1.0,
    likelihood: str = "bernoulli",
) -> VAEOutput:
    """Negative ELBO: E_q[−log p(x | z)] + β · KL(q(z | x) ‖ N(0, I)), averaged over the batch (one z sample)."""
    reconstruction = reconstruction_loss(prediction, target, likelihood).mean()
    kl = gaussian_kl(mu, logvar).mean()
    return VAEOutput(reconstruction + beta * kl, reconstruction, kl)
