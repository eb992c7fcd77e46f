"""Alignment: a shared space and the symmetric contrastive loss (article §2.2, §3.2.2).

Used in chapter 1 (``01_background``) and chapter 3 (``03_alignment``).

Each modality's feature (f for images, g for text) is mapped by its own projection into
one D-dimensional space and L2-normalised, h = MLP(f) / ‖MLP(f)‖. In that space the
cosine similarity of an image and a caption is a dot product, and training pulls
matching pairs together and pushes the other pairs of the batch apart:

.. math::

    \\mathcal{L} = \\tfrac12\\Big[\\operatorname{CE}(S, I) + \\operatorname{CE}(S^\\top, I)\\Big],
    \\qquad S_{ij} = \\frac{h^{\\text{img}}_i \\cdot h^{\\text{txt}}_j}{\\tau}

with τ a learnable temperature stored as ``logit_scale`` = log(1/τ) (Radford et al. 2021,
CLIP; initialised at log(1/0.07) and clamped so that 1/τ ≤ 100, as open_clip does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cmlearn.train import distributed

INITIAL_TEMPERATURE = 0.07
MAX_LOGIT_SCALE = math.log(100.0)


class ProjectionHead(nn.Module):
    """h = MLP(f): a two-layer perceptron into the shared space (or one linear layer).

    Args:
        in_dim: size of the extractor feature f.
        out_dim: size D of the shared space.
        hidden_dim: hidden width; ``None`` for a single linear map.

    Shapes:
        f: (B, in_dim)  ->  h: (B, D), not normalised (normalise with ``F.normalize``).
    """

    def __init__(self, in_dim: int, out_dim: int, hidden_dim: int | None = 256):
        super().__init__()
        if hidden_dim is None:
            self.mlp = nn.Linear(in_dim, out_dim)
        else:
            self.mlp = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, out_dim))
        self.in_dim, self.out_dim = in_dim, out_dim

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if features.ndim != 2 or features.shape[1] != self.in_dim:
            raise ValueError(f"expected features of shape (B, {self.in_dim}), got {tuple(features.shape)}")
        return self.mlp(features)


@dataclass
class ContrastiveOutput:
    """What :func:`clip_loss` computed: the loss and both logit matrices, (B, B) each."""

    loss: torch.Tensor
    logits_per_image: torch.Tensor
    logits_per_text: torch.Tensor


def clip_loss(image_embeddings: torch.Tensor, text_embeddings: torch.Tensor, logit_scale: torch.Tensor) -> ContrastiveOutput:
    """Symmetric InfoNCE over a batch of B matching pairs (row i of each input is a pair).

    Args:
        image_embeddings: (B, D), L2-normalised.
        text_embeddings: (B, D), L2-normalised.
        logit_scale: scalar log(1/τ) — the *log* of the inverse temperature, not its exponential.

    Returns:
        :class:`ContrastiveOutput` with ``logits_per_image`` = S = exp(logit_scale)·H_img·H_txtᵀ
        and ``logits_per_text`` = Sᵀ.
    """
    if image_embeddings.ndim != 2 or text_embeddings.ndim != 2:
        raise ValueError(
            f"expected (B, D) embeddings, got image {tuple(image_embeddings.shape)} and text {tuple(text_embeddings.shape)}"
        )
    if image_embeddings.shape != text_embeddings.shape:
        raise ValueError(
            "image and text embeddings must pair up row by row with the same size: "
            f"got image {tuple(image_embeddings.shape)} and text {tuple(text_embeddings.shape)}"
        )
    scale = logit_scale.clamp(max=MAX_LOGIT_SCALE).exp()
    logits_per_image = scale * image_embeddings @ text_embeddings.T  # (B, B): image i vs every text
    logits_per_text = logits_per_image.T  # (B, B): text j vs every image
    labels = torch.arange(image_embeddings.shape[0], device=image_embeddings.device)
    loss = (F.cross_entropy(logits_per_image, labels) + F.cross_entropy(logits_per_text, labels)) / 2
    return ContrastiveOutput(loss, logits_per_image, logits_per_text)


class DualEncoder(nn.Module):
    """Two towers into one shared space, trained with :func:`clip_loss`.

    ``image_encoder`` maps (B, C, H, W) to f (B, F_img); ``text_encoder`` maps
    (input_ids, attention_mask) to g (B, F_txt). Each feature goes through its own
    :class:`ProjectionHead` and is L2-normalised.

    Args:
        image_encoder, text_encoder: modules with an ``out_dim`` attribute.
        embed_dim: D, the size of the shared space.
        projection_hidden: hidden width of the projection MLPs (None: linear).

    Forward:
        batch dict with ``image`` (B, C, H, W), ``input_ids`` and ``attention_mask`` (B, T)
        -> (image embeddings (B, D), text embeddings (B, D)), both unit length.
    """

    def __init__(self, image_encoder: nn.Module, text_encoder: nn.Module, embed_dim: int = 64, projection_hidden: int | None = 256):
        super().__init__()
        self.image_encoder = image_encoder
        self.text_encoder = text_encoder
        self.image_projection = ProjectionHead(image_encoder.out_dim, embed_dim, projection_hidden)
        self.text_projection = ProjectionHead(text_encoder.out_dim, embed_dim, projection_hidden)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / INITIAL_TEMPERATURE)))
        self.embed_dim = embed_dim

    @property
    def temperature(self) -> float:
        """τ = 1 / exp(logit_scale), as the loss uses it (after clamping)."""
        return float(torch.exp(-self.logit_scale.detach().clamp(max=MAX_LOGIT_SCALE)))

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.image_projection(self.image_encoder(images)), dim=-1)

    def encode_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.text_projection(self.text_encoder(input_ids, attention_mask)), dim=-1)

    @torch.no_grad()
    def embed(self, images: torch.Tensor, tokens: dict, batch_size: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
        """Embed N images and N tokenized captions in batches, without gradients.

        Args:
            images: (N, C, H, W) on any device.
            tokens: ``{"input_ids": (N, T), "attention_mask": (N, T)}`` from the tokenizer.

        Returns:
            (image embeddings (N, D), text embeddings (N, D)), float32 on the CPU.
        """
        device = self.logit_scale.device
        was_training = self.training
        self.eval()
        image_parts, text_parts = [], []
        for start in range(0, images.shape[0], batch_size):
            stop = start + batch_size
            image_parts.append(self.encode_image(images[start:stop].to(device)).float().cpu())
        for start in range(0, tokens["input_ids"].shape[0], batch_size):
            stop = start + batch_size
            ids, mask = tokens["input_ids"][start:stop].to(device), tokens["attention_mask"][start:stop].to(device)
            text_parts.append(self.encode_text(ids, mask).float().cpu())
        self.train(was_training)
        return torch.cat(image_parts), torch.cat(text_parts)

    def forward(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        missing = [k for k in ("image", "input_ids", "attention_mask") if k not in batch]
        if missing:
            raise KeyError(f"batch is missing {missing}; expected keys image, input_ids, attention_mask, got {sorted(batch)}")
        if batch["image"].shape[0] != batch["input_ids"].shape[0]:
            raise ValueError(
                f"image batch has {batch['image'].shape[0]} samples but text batch has {batch['input_ids'].shape[0]}; "
                "they must pair up one to one"
            )
        return self.encode_image(batch["image"]), self.encode_text(batch["input_ids"], batch["attention_mask"])

    def contrastive_loss(self, batch: dict) -> torch.Tensor:
        """The training objective for :func:`cmlearn.train.fit`.

        Under torch.distributed with W > 1 processes (``torchrun``), the embeddings of all ranks are
        gathered first (:func:`cmlearn.train.distributed.gather_features`): each pair then has W·B - 1 negatives.
        """
        image_embeddings, text_embeddings = self(batch)
        if distributed.world_size() > 1:
            image_embeddings, text_embeddings = distributed.gather_features(image_embeddings, text_embeddings)
        return clip_loss(image_embeddings, text_embeddings, self.logit_scale).loss
