"""The cross-modal VAE (article §5.2.1): product-of-experts posterior, cross-reconstruction or MVAE objective.

Used in chapter 8 (``08_weak_pairs_and_generation``); see :mod:`cmlearn.generative` for the formulas.
The VAE's loss parts live here too: the negative ELBO (Kingma & Welling 2014),
−ELBO = E_q[−log p(x | z)] + β · KL(q(z | x) ‖ N(0, I)).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cmlearn.encoders.text import bag_of_words, check_token_batch

MODALITIES = ("image", "text")


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


def product_of_experts(
    mu: torch.Tensor, logvar: torch.Tensor, present: torch.Tensor | None = None, prior: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Combine Gaussian experts: precision-weighted mean, precisions add (see the module docstring).

    Args:
        mu, logvar: (M, B, Z), one row per expert.
        present: (M, B) bool; an absent expert contributes nothing.
        prior: include the N(0, I) expert (precision 1, mean 0).

    Returns:
        (mu (B, Z), logvar (B, Z)) of the product.
    """
    if mu.shape != logvar.shape or mu.ndim != 3:
        raise ValueError(f"expected mu and logvar of one shape (M, B, Z), got {tuple(mu.shape)} and {tuple(logvar.shape)}")
    precision = torch.exp(-logvar)  # T_m = 1 / σ_m², (M, B, Z)
    if present is not None:
        if present.shape != mu.shape[:2]:
            raise ValueError(f"expected present of shape {tuple(mu.shape[:2])}, got {tuple(present.shape)}")
        precision = precision * present.unsqueeze(-1).to(precision.dtype)
        mu = torch.where(present.unsqueeze(-1), mu, torch.zeros((), dtype=mu.dtype, device=mu.device))
    total = precision.sum(dim=0) + (1.0 if prior else 0.0)  # (B, Z)
    mean = (precision * mu).sum(dim=0) / total  # the prior's mean is 0
    return mean, -torch.log(total)


def randn_like(x: torch.Tensor, shape=None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Standard normal noise on x's device; drawn on the generator's device (e.g. a seeded CPU one) if given."""
    device = generator.device if generator is not None else x.device
    return torch.randn(x.shape if shape is None else shape, generator=generator, device=device, dtype=x.dtype).to(x.device)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """z = μ + σ ⊙ ε, ε ~ N(0, I)."""
    return mu + torch.exp(0.5 * logvar) * randn_like(mu, generator=generator)


def conv_stack(in_channels: int, channels: tuple[int, ...]) -> nn.Sequential:
    layers, previous = [], in_channels
    for width in channels:  # each halves H and W
        layers += [nn.Conv2d(previous, width, 4, stride=2, padding=1), nn.BatchNorm2d(width), nn.LeakyReLU(0.2)]
        previous = width
    return nn.Sequential(*layers)


def deconv_stack(channels: tuple[int, ...], out_channels: int) -> nn.Sequential:
    layers = []
    for a, b in zip(channels[:-1], channels[1:], strict=True):  # each doubles H and W
        layers += [nn.ConvTranspose2d(a, b, 4, stride=2, padding=1), nn.BatchNorm2d(b), nn.ReLU()]
    layers.append(nn.ConvTranspose2d(channels[-1], out_channels, 4, stride=2, padding=1))
    return nn.Sequential(*layers)


class CrossModalVAE(nn.Module):
    """A two-modality (image, text) VAE (Kingma & Welling 2014) with MVAE's product-of-experts posterior.

    Trained by default with a cross-reconstruction objective, not MVAE's sub-sampled ELBO (see the module
    docstring and ``objective``).

    Args:
        vocab_size: token ids of the captions.
        max_length: longest caption L the text decoder writes (inputs may be shorter).
        latent_dim: Z.
        image_size: H = W (divisible by 8); image_channels: C.
        channels: conv widths of the image encoder (the decoder mirrors them).
        embed_dim, hidden_dim: the GRU's embedding and hidden sizes (the bag-of-words MLP uses hidden_dim only).
        pad_id: padding token id.
        recon_weights: weight of each modality's reconstruction term (an image has C·H·W terms, a caption L).
        text_encoder: ``"gru"`` (a GRU over the tokens) or ``"bag_of_words"`` (an MLP on :func:`bag_of_words`,
            the same text feature a :class:`ConditionalGAN` can be given).
        objective: ``"cross"`` (default: from each subset's posterior reconstruct every modality the sample
            has) or ``"mvae"`` (MVAE's sub-sampled ELBO: reconstruct only the subset's own modalities); see
            the module docstring.

    Batches: ``{"image": (B, C, H, W) in [0, 1], "input_ids": (B, T), "attention_mask": (B, T)}``;
    ``mask = {"image": (B,), "text": (B,)}`` marks which samples have which modality. A missing
    image may be anything (e.g. zeros); a missing caption may be all padding.
    """

    def __init__(
        self,
        vocab_size: int,
        max_length: int = 16,
        latent_dim: int = 16,
        image_size: int = 32,
        image_channels: int = 3,
        channels: tuple[int, int, int] = (32, 64, 128),
        embed_dim: int = 64,
        hidden_dim: int = 128,
        pad_id: int = 0,
        recon_weights: dict[str, float] | None = None,
        text_encoder: str = "gru",
        objective: str = "cross",
    ):
        super().__init__()
        if image_size % 8:
            raise ValueError(f"expected image_size divisible by 8, got {image_size}")
        if text_encoder not in ("gru", "bag_of_words"):
            raise ValueError(f"text_encoder: expected 'gru' or 'bag_of_words', got {text_encoder!r}")
        if objective not in ("cross", "mvae"):
            raise ValueError(f"objective: expected 'cross' or 'mvae', got {objective!r}")
        cells = (image_size // 8) ** 2
        self.image_encoder = nn.Sequential(conv_stack(image_channels, channels), nn.Flatten(), nn.Linear(channels[-1] * cells, 2 * latent_dim))
        if text_encoder == "gru":
            self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
            self.text_rnn = nn.GRU(embed_dim, hidden_dim, batch_first=True)
            self.text_head = nn.Linear(hidden_dim, 2 * latent_dim)
        else:  # (B, V) 0/1 words → hidden → (μ, log σ²)
            self.text_mlp = nn.Sequential(nn.Linear(vocab_size, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, 2 * latent_dim))
        self.text_encoder, self.objective = text_encoder, objective
        self.image_decoder_input = nn.Linear(latent_dim, channels[-1] * cells)
        self.image_decoder = deconv_stack(tuple(reversed(channels)), image_channels)
        self.text_decoder = nn.Sequential(nn.Linear(latent_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, max_length * vocab_size))
        self.vocab_size, self.max_length, self.latent_dim, self.pad_id = vocab_size, max_length, latent_dim, pad_id
        self.image_shape = (image_channels, image_size, image_size)
        self.top_channels, self.top_size = channels[-1], image_size // 8
        self.recon_weights = {"image": 1.0, "text": 1.0, **(recon_weights or {})}

    # --- experts
    def encode_image(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z | image): (μ, log σ²), each (B, Z)."""
        if images.ndim != 4 or tuple(images.shape[1:]) != self.image_shape:
            raise ValueError(f"expected images of shape (B, {', '.join(map(str, self.image_shape))}), got {tuple(images.shape)}")
        return self.image_encoder(images).chunk(2, dim=1)

    def encode_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, present: torch.Tensor | None = None):
        """q(z | text): (μ, log σ²), each (B, Z). Rows where ``present`` is False may be empty."""
        if present is not None and not present.all():
            attention_mask = attention_mask.clone()
            attention_mask[~present] = 0
            attention_mask[~present, 0] = 1  # a dummy one-token text; its expert is ignored downstream
        lengths = check_token_batch(input_ids, attention_mask)
        if input_ids.shape[1] > self.max_length:
            raise ValueError(f"expected captions of at most max_length={self.max_length} tokens, got T={input_ids.shape[1]}")
        if self.text_encoder == "bag_of_words":
            return self.text_mlp(bag_of_words(input_ids, attention_mask, self.vocab_size, self.pad_id)).chunk(2, dim=1)
        packed = nn.utils.rnn.pack_padded_sequence(self.embedding(input_ids), lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, last = self.text_rnn(packed)  # (1, B, H)
        return self.text_head(last[0]).chunk(2, dim=1)

    def _experts(self, batch: dict, present: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        image_mu, image_logvar = self.encode_image(batch["image"])
        text_mu, text_logvar = self.encode_text(batch["input_ids"], batch["attention_mask"], present["text"])
        if image_mu.shape[0] != text_mu.shape[0]:
            raise ValueError(f"expected one batch size, got image {image_mu.shape[0]} and text {text_mu.shape[0]}")
        return torch.stack([image_mu, text_mu]), torch.stack([image_logvar, text_logvar])  # (2, B, Z)

    def _mask(self, batch: dict, mask: dict | None) -> dict[str, torch.Tensor]:
        missing = [k for k in ("image", "input_ids", "attention_mask") if k not in batch]
        if missing:
            raise KeyError(f"batch is missing {missing}; expected keys image, input_ids, attention_mask, got {sorted(batch)}")
        B = batch["image"].shape[0]
        mask = mask or {}
        unknown = [m for m in mask if m not in MODALITIES]
        if unknown:
            raise ValueError(f"mask names unknown modality {unknown}; expected a subset of {list(MODALITIES)}")
        full = {m: torch.as_tensor(mask.get(m, torch.ones(B, dtype=torch.bool))).bool().to(batch["image"].device) for m in MODALITIES}
        for m, present in full.items():
            if present.shape != (B,):
                raise ValueError(f"expected mask[{m!r}] of shape ({B},), got {tuple(present.shape)}")
        return full

    def posterior(self, batch: dict, mask: dict | None = None, use: tuple[str, ...] = MODALITIES):
        """q(z | the modalities in ``use`` that each sample has): (μ, log σ²), each (B, Z)."""
        present = self._mask(batch, mask)
        mu, logvar = self._experts(batch, present)
        available = torch.stack([present[m] & (m in use) for m in MODALITIES])  # (2, B)
        return product_of_experts(mu, logvar, available)

    # --- decoders
    def decode(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        """Image logits (B, C, H, W) and caption token logits (B, L, V)."""
        top = self.image_decoder_input(z).view(-1, self.top_channels, self.top_size, self.top_size)
        return {"image": self.image_decoder(top), "text": self.text_decoder(z).view(-1, self.max_length, self.vocab_size)}

    def _text_targets(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        ids, m = batch["input_ids"], batch["attention_mask"]
        pad = self.max_length - ids.shape[1]
        return F.pad(ids, (0, pad), value=self.pad_id), F.pad(m, (0, pad), value=0)  # (B, L) each

    def loss(self, batch: dict, mask: dict | None = None, beta: float = 1.0, generator: torch.Generator | None = None) -> VAEOutput:
        """Negative ELBO of the joint posterior plus that of each single-modality posterior.

        For each subset S in (both, image only, text only), and each sample having a modality of S:
        decode z ~ q(z | x_S), add the reconstruction terms and β·KL(q(z | x_S) ‖ N(0, I)). With
        ``objective="cross"`` the reconstruction terms are those of every modality the sample has
        (cross-reconstruction: the caption's posterior must also draw the image); with ``"mvae"`` only
        those of the modalities in S (MVAE's sub-sampled ELBO). Missing modalities neither enter the
        posterior nor are reconstructed. Terms are divided by B.
        """
        present = self._mask(batch, mask)
        if not (present["image"] | present["text"]).all():
            raise ValueError("every sample needs an image or a caption; got samples with neither")
        mu, logvar = self._experts(batch, present)  # (2, B, Z) each
        B = mu.shape[1]
        text_ids, text_mask = self._text_targets(batch)
        subsets = (MODALITIES, ("image",), ("text",))
        S = len(subsets)
        in_subset = torch.tensor([[m in use for m in MODALITIES] for use in subsets], device=mu.device)  # (S, 2)
        available = in_subset[:, :, None] & torch.stack([present[m] for m in MODALITIES])[None]  # (S, 2, B)
        # The S posteriors side by side, (S·B, Z) each, decoded in one pass (BatchNorm statistics over all of them).
        q_mu, q_logvar = product_of_experts(mu.repeat(1, S, 1), logvar.repeat(1, S, 1), available.transpose(0, 1).reshape(2, S * B))
        out = self.decode(reparameterize(q_mu, q_logvar, generator))
        rec_image = reconstruction_loss(out["image"], batch["image"].repeat(S, 1, 1, 1), "bernoulli").view(S, B)
        rec_text = reconstruction_loss(out["text"], text_ids.repeat(S, 1), "categorical", text_mask.repeat(S, 1)).view(S, B)
        counts = available.any(dim=1).to(mu.dtype)  # (S, B): samples each subset applies to
        scored = in_subset | (self.objective == "cross")  # (S, 2): modalities each subset reconstructs
        reconstruction = (
            self.recon_weights["image"] * torch.where(scored[:, :1] & present["image"], rec_image, 0.0)
            + self.recon_weights["text"] * torch.where(scored[:, 1:] & present["text"], rec_text, 0.0)
        )  # (S, B); missing modalities are never scored
        reconstruction_total = (counts * reconstruction).sum() / B
        kl_total = (counts * gaussian_kl(q_mu, q_logvar).view(S, B)).sum() / B
        return VAEOutput(reconstruction_total + beta * kl_total, reconstruction_total, kl_total)

    @torch.no_grad()
    def generate_image(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, sample: bool = False, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """An image from a caption alone: decode z from q(z | text) (its mean, or a sample), (B, C, H, W) in [0, 1]."""
        mu, logvar = self.encode_text(input_ids, attention_mask)
        mu, logvar = product_of_experts(mu[None], logvar[None])
        z = reparameterize(mu, logvar, generator) if sample else mu
        return torch.sigmoid(self.decode(z)["image"])

    @torch.no_grad()
    def generate_text(self, images: torch.Tensor) -> torch.Tensor:
        """Caption token ids (B, L) from images alone (the most likely token at each position)."""
        mu, logvar = self.encode_image(images)
        mu, _ = product_of_experts(mu[None], logvar[None])
        return self.decode(mu)["text"].argmax(dim=-1)


# ----------------------------------------------------------------------------- conditional GAN
