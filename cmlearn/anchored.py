"""More modalities in one space: bind every modality to an anchor (ImageBind), article §5.1.

Used in chapter 7 (``07_more_modalities``). ("Binding" in this book means attribute binding, chapter 5;
the space here is *anchored*.)

:class:`AnchoredSpace` holds one encoder and one projection per modality and one shared
D-dimensional space. Each modality m other than the anchor a is trained only on (a, m) pairs,
with the symmetric contrastive loss of chapter 3 (Girdhar et al. 2023, ImageBind):

.. math::

    \\mathcal{L} = \\sum_{m \\ne a} \\tfrac12\\Big[\\operatorname{CE}(S^{am}, I) + \\operatorname{CE}(S^{am\\top}, I)\\Big],
    \\qquad S^{am}_{ij} = \\frac{h^{a}_i \\cdot h^{m}_j}{\\tau_m}

Two modalities that never met, say audio and text, can then be compared by h^audio · h^text. Retrieval
scored by class lives in :mod:`cmlearn.metrics`, modality dropout in :mod:`cmlearn.batch`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cmlearn.batch import MODALITY_INPUTS, check_modalities, modality_inputs, predict
from cmlearn.contrastive import ClipLoss
from cmlearn.shared import ProjectionHead


class AnchoredSpace(nn.Module):
    """One shared space for several modalities, each bound to the ``anchor`` modality.

    Args:
        anchor: the modality every other one is paired with in training (e.g. ``"image"``).
        encoders: modality -> extractor with an ``out_dim``; inputs are read from a batch by the
            keys of :data:`cmlearn.model.MODALITY_INPUTS` (``image``; ``input_ids``, ``attention_mask``; ``audio``).
        embed_dim: D, the size of the shared space.
        projection_hidden: hidden width of each projection MLP (None: linear).

    Each non-anchor modality m has its own temperature τ_m, held by its :class:`~cmlearn.contrastive.ClipLoss`
    ``contrastive[m]`` as ``logit_scale`` = log(1/τ_m).

    Shapes:
        ``encode(m, *inputs)``: inputs of modality m with batch B -> h (B, D), unit length, with gradients;
        ``embed(m, *inputs)``: the same for N samples, in batches, without gradients -> (N, D) on the CPU.
    """

    def __init__(self, anchor: str, encoders: dict[str, nn.Module], embed_dim: int = 64,
                 projection_hidden: int | None = 128):
        super().__init__()
        if not isinstance(encoders, dict) or anchor not in encoders or len(encoders) < 2:
            got = list(encoders) if isinstance(encoders, dict) else type(encoders).__name__
            raise ValueError(f"expected encoders for the anchor {anchor!r} and at least one other modality, got {got}")
        check_modalities(encoders)
        self.anchor, self.embed_dim = anchor, embed_dim
        self.encoders = nn.ModuleDict(encoders)
        self.projections = nn.ModuleDict({m: ProjectionHead(e.out_dim, embed_dim, projection_hidden) for m, e in encoders.items()})
        self.contrastive = nn.ModuleDict({m: ClipLoss() for m in encoders if m != anchor})

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.encoders)

    def add_modality(self, modality: str, encoder: nn.Module, projection_hidden: int | None = 128) -> AnchoredSpace:
        """Add a new modality with its encoder, a fresh projection and temperature; returns self.

        Train it on (anchor, modality) batches with :meth:`loss`; freeze the anchor first
        (:func:`cmlearn.encoders.freeze_`) so that the modalities already bound keep their place.
        """
        if modality in self.encoders:
            raise ValueError(f"modality {modality!r} is already in this space ({list(self.encoders)})")
        if modality not in MODALITY_INPUTS:
            raise ValueError(f"unknown modality {modality!r}; expected a name from {list(MODALITY_INPUTS)}")
        device = next(self.parameters()).device
        self.encoders[modality] = encoder.to(device)
        self.projections[modality] = ProjectionHead(encoder.out_dim, self.embed_dim, projection_hidden).to(device)
        self.contrastive[modality] = ClipLoss().to(device)
        return self

    def encode(self, modality: str, *inputs: torch.Tensor) -> torch.Tensor:
        """h = MLP_m(f_m(x)) / ‖·‖ for one modality, with gradients: (B, ...) -> (B, D)."""
        if modality not in self.encoders:
            raise KeyError(f"no encoder for modality {modality!r}; this space has {list(self.encoders)}")
        return F.normalize(self.projections[modality](self.encoders[modality](*inputs)), dim=-1)

    def inputs(self, batch: dict, modality: str) -> list[torch.Tensor]:
        """The tensors of ``batch`` that ``modality`` reads (keys from MODALITY_INPUTS)."""
        return modality_inputs(batch, modality)

    def paired_modalities(self, batch: dict) -> list[str]:
        """The non-anchor modalities whose inputs are all in ``batch``."""
        return [m for m in self.encoders if m != self.anchor and all(k in batch for k in MODALITY_INPUTS[m])]

    def loss(self, batch: dict) -> torch.Tensor:
        """The training objective: Σ over the non-anchor modalities m present in ``batch`` of clip_loss(h^anchor, h^m; τ_m).

        A batch of (image, audio) pairs trains audio; a batch of (image, text) pairs trains text.
        """
        paired = self.paired_modalities(batch)
        if not paired:
            raise ValueError(f"batch {sorted(batch)} pairs the anchor {self.anchor!r} with no other modality of {list(self.encoders)}")
        h_anchor = self.encode(self.anchor, *self.inputs(batch, self.anchor))  # (B, D)
        return sum(self.contrastive[m](h_anchor, self.encode(m, *self.inputs(batch, m))).loss for m in paired)

    def embed(self, modality: str, *inputs: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        """Embed N samples in eval mode and in batches, without gradients: -> (N, D) float32 on the CPU."""
        return predict(self, inputs, lambda model, batch: model.encode(modality, *batch), batch_size=batch_size)
