"""More modalities in one space: bind every modality to an anchor (ImageBind), and live with gaps.

Used in chapter 7 (``07_more_modalities``), article §5.1 (更多模态的融合, more modalities).

:class:`BindingSpace` holds one encoder and one projection per modality and one shared
D-dimensional space. Each modality m other than the anchor a is trained only on (a, m) pairs,
with the symmetric contrastive loss of chapter 3 (Girdhar et al. 2023, ImageBind):

.. math::

    \\mathcal{L} = \\sum_{m \\ne a} \\tfrac12\\Big[\\operatorname{CE}(S^{am}, I) + \\operatorname{CE}(S^{am\\top}, I)\\Big],
    \\qquad S^{am}_{ij} = \\frac{h^{a}_i \\cdot h^{m}_j}{\\tau_m}

Two modalities that never met, say audio and text, can then be compared by h^audio · h^text.

Also here: retrieval scored by *class* (:func:`class_retrieval_report`: a retrieved item is
correct when its label equals the query's), its chance level (:func:`chance_class_recall`),
modality dropout (:func:`modality_dropout_mask`), and the order-blind video baseline
:class:`FrameMeanVideoEncoder`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from cmlearn.align import INITIAL_TEMPERATURE, ProjectionHead, clip_loss
from cmlearn.encoders.image import SmallCNN
from cmlearn.metrics import mean_average_precision
from cmlearn.model import MODALITY_INPUTS, check_modalities, modality_inputs

__all__ = ["BindingSpace", "class_retrieval_report", "chance_class_recall", "modality_dropout_mask",
           "FrameMeanVideoEncoder"]


class BindingSpace(nn.Module):
    """One shared space for several modalities, each bound to the ``anchor`` modality.

    Args:
        anchor: the modality every other one is paired with in training (e.g. ``"image"``).
        encoders: modality -> extractor with an ``out_dim``; inputs are read from a batch by the
            keys of :data:`cmlearn.model.MODALITY_INPUTS` (``image``; ``input_ids``, ``attention_mask``; ``audio``).
        embed_dim: D, the size of the shared space.
        projection_hidden: hidden width of each projection MLP (None: linear).

    Each non-anchor modality m has its own temperature τ_m, stored as ``logit_scale[m]`` = log(1/τ_m).

    Shapes:
        ``embed(m, *inputs)``: inputs of modality m with batch B -> h (B, D), unit length.
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
        self.logit_scale = nn.ParameterDict({m: nn.Parameter(torch.tensor(math.log(1 / INITIAL_TEMPERATURE)))
                                             for m in encoders if m != anchor})

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.encoders)

    def add_modality(self, modality: str, encoder: nn.Module, projection_hidden: int | None = 128) -> BindingSpace:
        """Add a new modality with its encoder, a fresh projection and temperature; returns self.

        Train it on (anchor, modality) batches with :meth:`binding_loss`; freeze the anchor first
        (:func:`cmlearn.encoders.freeze_`) so that the modalities already bound keep their place.
        """
        if modality in self.encoders:
            raise ValueError(f"modality {modality!r} is already in this space ({list(self.encoders)})")
        if modality not in MODALITY_INPUTS:
            raise ValueError(f"unknown modality {modality!r}; expected a name from {list(MODALITY_INPUTS)}")
        device = self.logit_scale[next(iter(self.logit_scale))].device
        self.encoders[modality] = encoder.to(device)
        self.projections[modality] = ProjectionHead(encoder.out_dim, self.embed_dim, projection_hidden).to(device)
        self.logit_scale[modality] = nn.Parameter(torch.tensor(math.log(1 / INITIAL_TEMPERATURE), device=device))
        return self

    def embed(self, modality: str, *inputs: torch.Tensor) -> torch.Tensor:
        """h = MLP_m(f_m(x)) / ‖·‖ for one modality: (B, ...) -> (B, D)."""
        if modality not in self.encoders:
            raise KeyError(f"no encoder for modality {modality!r}; this space has {list(self.encoders)}")
        return F.normalize(self.projections[modality](self.encoders[modality](*inputs)), dim=-1)

    def inputs(self, batch: dict, modality: str) -> list[torch.Tensor]:
        """The tensors of ``batch`` that ``modality`` reads (keys from MODALITY_INPUTS)."""
        return modality_inputs(batch, modality)

    def paired_modalities(self, batch: dict) -> list[str]:
        """The non-anchor modalities whose inputs are all in ``batch``."""
        return [m for m in self.encoders if m != self.anchor and all(k in batch for k in MODALITY_INPUTS[m])]

    def binding_loss(self, batch: dict) -> torch.Tensor:
        """Σ over the non-anchor modalities present in ``batch`` of clip_loss(h^anchor, h^m, logit_scale[m]).

        A batch of (image, audio) pairs trains audio; a batch of (image, text) pairs trains text.
        """
        paired = self.paired_modalities(batch)
        if not paired:
            raise ValueError(f"batch {sorted(batch)} pairs the anchor {self.anchor!r} with no other modality of {list(self.encoders)}")
        h_anchor = self.embed(self.anchor, *self.inputs(batch, self.anchor))  # (B, D)
        return sum(clip_loss(h_anchor, self.embed(m, *self.inputs(batch, m)), self.logit_scale[m]).loss for m in paired)

    @torch.no_grad()
    def embed_all(self, modality: str, *inputs: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        """Embed N samples in eval mode and in batches, without gradients: -> (N, D) float32 on the CPU."""
        device = next(self.parameters()).device
        was_training = self.training
        self.eval()
        parts = [self.embed(modality, *(x[start:start + batch_size].to(device) for x in inputs)).float().cpu()
                 for start in range(0, inputs[0].shape[0], batch_size)]
        self.train(was_training)
        return torch.cat(parts)


def _relevance(similarity: torch.Tensor, query_labels: torch.Tensor, item_labels: torch.Tensor) -> torch.Tensor:
    if similarity.ndim != 2:
        raise ValueError(f"expected a (Q, N) similarity matrix, got {tuple(similarity.shape)}")
    q, n = similarity.shape
    if tuple(query_labels.shape) != (q,) or tuple(item_labels.shape) != (n,):
        raise ValueError(f"expected query_labels ({q},) and item_labels ({n},) for a ({q}, {n}) similarity, "
                         f"got {tuple(query_labels.shape)} and {tuple(item_labels.shape)}")
    return query_labels.view(-1, 1) == item_labels.view(1, -1)  # (Q, N) bool


def class_retrieval_report(similarity: torch.Tensor, query_labels: torch.Tensor, item_labels: torch.Tensor,
                           ks: Sequence[int] = (1, 5)) -> dict[str, float]:
    """Retrieval where every gallery item with the query's label is a correct answer.

    R@K is the fraction of queries with at least one correct item among their K most similar;
    mAP is :func:`cmlearn.metrics.mean_average_precision` with ``relevant`` = same label.

    Args:
        similarity: (Q, N) scores, row = query, column = gallery item.
        query_labels: (Q,) class of each query; item_labels: (N,) class of each item.
        ks: the K of R@K.

    Returns:
        ``{"R@1": ..., "R@5": ..., "mAP": ...}``.
    """
    relevant = _relevance(similarity, query_labels, item_labels)
    top = similarity.topk(min(max(ks), similarity.shape[1]), dim=1).indices  # (Q, K)
    hits = relevant.gather(1, top)  # (Q, K): is the k-th retrieved item correct?
    report = {f"R@{k}": float(hits[:, :k].any(dim=1).float().mean()) for k in ks}
    report["mAP"] = mean_average_precision(similarity, relevant)
    return report


def chance_class_recall(query_labels: torch.Tensor, item_labels: torch.Tensor, k: int = 1) -> float:
    """Expected R@K of a random ranking: mean over queries of 1 - C(N - r, K) / C(N, K), r = correct items."""
    n = item_labels.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k must be in 1..{n} (the gallery size), got {k}")
    correct = (query_labels.view(-1, 1) == item_labels.view(1, -1)).sum(dim=1).tolist()  # r per query
    return sum(1 - math.comb(n - r, k) / math.comb(n, k) for r in correct) / len(correct)


def modality_dropout_mask(batch_size: int, modalities: Sequence[str], p: float,
                          generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """Drop each modality of each sample with probability ``p``, keeping at least one per sample.

    Training a fused model under such masks (``model(batch, mask=...)``) teaches it to predict from
    whatever is present. Samples that lost every modality get one back, drawn uniformly.

    Returns:
        {modality: (B,) bool, True = present}.
    """
    if not 0.0 <= p < 1.0:
        raise ValueError(f"p must be a probability in [0, 1), got {p!r}")
    if len(modalities) < 2:
        raise ValueError(f"modality dropout needs at least two modalities, got {list(modalities)}")
    present = torch.rand(batch_size, len(modalities), generator=generator) >= p  # (B, M)
    keep = torch.randint(len(modalities), (batch_size,), generator=generator)  # (B,) the one to restore
    empty = ~present.any(dim=1)
    present[empty, keep[empty]] = True
    return {m: present[:, i] for i, m in enumerate(modalities)}


class FrameMeanVideoEncoder(nn.Module):
    """Order-blind video baseline: the same :class:`SmallCNN` on every frame, then the mean over time.

    f = (1/T) Σ_t Conv(x_t): permuting the frames, e.g. playing the clip backwards, gives the same f.

    Args:
        out_dim: size D of the output feature.
        channels: channels of the frame CNN.
        image_size: H = W of the frames (divisible by 8).
        in_channels: C of the frames.

    Shapes:
        video: (B, T, C, H, W) -> f: (B, D).
    """

    def __init__(self, out_dim: int = 64, channels: tuple[int, int, int] = (16, 32, 64), image_size: int = 32, in_channels: int = 3):
        super().__init__()
        self.frame_encoder = SmallCNN(out_dim=out_dim, channels=channels, image_size=image_size, in_channels=in_channels)
        self.in_channels, self.out_dim = in_channels, out_dim

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        if not isinstance(video, torch.Tensor) or video.ndim != 5 or video.shape[2] != self.in_channels:
            got = tuple(video.shape) if isinstance(video, torch.Tensor) else type(video).__name__
            raise ValueError(f"expected video of shape (B, T, {self.in_channels}, H, W), got {got}")
        B, T = video.shape[:2]
        frames = self.frame_encoder(video.flatten(0, 1))  # (B·T, D): every frame through the same CNN
        return frames.view(B, T, -1).mean(dim=1)  # (B, D): the order of the frames is gone
