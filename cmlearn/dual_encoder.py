"""The two-tower aligner of chapters 1 and 3 (article §2.2, §3.2.2): two encoders, one shared space.

Used in chapters 1, 3, 5, 8 and 10. Each modality's feature (f for images, g for text) is mapped by its
own projection into one D-dimensional space and L2-normalised, h = MLP(f) / ‖MLP(f)‖. In that space the cosine
similarity of an image and a caption is a dot product, and training pulls matching pairs together and pushes
the other pairs of the batch apart with the CLIP loss (:mod:`cmlearn.contrastive`):

.. math::

    \\mathcal{L} = \\tfrac12\\Big[\\operatorname{CE}(S, I) + \\operatorname{CE}(S^\\top, I)\\Big],
    \\qquad S_{ij} = \\frac{h^{\\text{img}}_i \\cdot h^{\\text{txt}}_j}{\\tau}

with τ learned as ``logit_scale`` = log(1/τ) (Radford et al. 2021), held by the model's :class:`ClipLoss`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cmlearn.contrastive import ClipLoss
from cmlearn.shared import ProjectionHead
from cmlearn.train import distributed


class DualEncoder(nn.Module):
    """Two towers into one shared space, trained with :func:`cmlearn.contrastive.clip_loss`.

    ``image_encoder`` maps (B, C, H, W) to f (B, F_img); ``text_encoder`` maps
    (input_ids, attention_mask) to g (B, F_txt). Each feature goes through its own
    :class:`ProjectionHead` and is L2-normalised.

    Args:
        image_encoder, text_encoder: modules with an ``out_dim`` attribute.
        embed_dim: D, the size of the shared space.
        projection_hidden: hidden width of the projection MLPs (None: linear).

    ``encode_image``/``encode_text`` run one batch with gradients; :meth:`embed` runs N samples in batches
    without them, for evaluation. :meth:`loss` is the training objective.

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
        self.contrastive = ClipLoss()  # owns logit_scale = log(1/τ), init log(1/0.07)
        self.embed_dim = embed_dim

    @property
    def logit_scale(self) -> nn.Parameter:
        """log(1/τ), the learned parameter of :attr:`contrastive`."""
        return self.contrastive.logit_scale

    @property
    def temperature(self) -> float:
        """τ = 1 / exp(logit_scale), as the loss uses it (after clamping)."""
        return self.contrastive.temperature

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

    def loss(self, batch: dict) -> torch.Tensor:
        """The training objective, the CLIP loss of the batch's pairs: ``fit(model, lambda m, b: m.loss(b), ...)``.

        Under torch.distributed with W > 1 processes (``torchrun``), the embeddings of all ranks are
        gathered first (:func:`cmlearn.train.distributed.gather_features`): each pair then has W·B - 1 negatives.
        """
        image_embeddings, text_embeddings = self(batch)
        if distributed.world_size() > 1:
            image_embeddings, text_embeddings = distributed.gather_features(image_embeddings, text_embeddings)
        return self.contrastive(image_embeddings, text_embeddings).loss
