"""The fusions by name: which class, whether it reads tokens, and how to build it from shared-space sizes.

Used by :func:`cmlearn.model.build_model`, and so in chapter 5 (``05_multimodal_knowledge``), chapter 6
(``06_framework``) and chapter 7 (``07_more_modalities``). One :class:`FusionEntry` per name in
:data:`FUSION_REGISTRY`; its ``build`` turns what :func:`~cmlearn.model.build_model` knows into a module::

    build(dims, names, shared_dim, out_dim, head_out_dim, **kwargs) -> nn.Module

``dims`` is {modality: shared_dim} for the modalities that pass through the shared space, ``names`` every
modality in order, ``out_dim`` the fusion's own ``out_dim`` setting (``None`` if not given),
``head_out_dim`` the head's number of outputs (late fusion predicts them itself) and ``kwargs`` the rest
of the fusion's settings. Each builder keeps its fusion's conventions: concatenation keeps the full
width unless ``out_dim`` is given; gated, tensor, low-rank and FiLM fusions default to ``shared_dim``;
the weighted sum has no size to choose; attention fusions fuse tokens of width ``shared_dim``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from cmlearn.batch import check_modalities
from cmlearn.fusion.attention import CrossModalAttention, MultimodalSelfAttention
from cmlearn.fusion.film import FiLMFusion
from cmlearn.fusion.meta import MetaSpaceFusion
from cmlearn.fusion.simple import ConcatFusion, GatedFusion, LateFusion, WeightedSumFusion
from cmlearn.fusion.tensor import LowRankFusion, TensorFusion

__all__ = ["FusionEntry", "FUSION_REGISTRY"]


@dataclass(frozen=True)
class FusionEntry:
    """One fusion by name.

    Attributes:
        cls: the fusion's class.
        takes_tokens: the fusion reads token sequences / feature maps, so extractors with ``tokens()`` give them.
        build: ``(dims, names, shared_dim, out_dim, head_out_dim, **kwargs) -> module`` (see the module docstring).
        raw_target: for a fusion that reads one modality's raw input itself (FiLM's modulated CNN), that
            modality's default name; the setting ``target`` overrides it, and the modality gets no extractor
            and no shared space (its builder is called with ``target=``). ``None`` for every other fusion.
        predicts: the fusion's output already is the prediction (late fusion), so the model's head is the identity.
    """

    cls: type[nn.Module]
    takes_tokens: bool
    build: Callable[..., nn.Module]
    raw_target: str | None = None
    predicts: bool = False


def _concat(dims, names, shared_dim, out_dim, head_out_dim, **kwargs):
    return ConcatFusion(dims, out_dim)


def _late(dims, names, shared_dim, out_dim, head_out_dim, **kwargs):
    return LateFusion(dims, head_out_dim, **kwargs)


def _weighted_sum(dims, names, shared_dim, out_dim, head_out_dim, **kwargs):
    return WeightedSumFusion(dims)


def _gated(dims, names, shared_dim, out_dim, head_out_dim, **kwargs):
    return GatedFusion(dims, out_dim or shared_dim)


def _tensor(dims, names, shared_dim, out_dim, head_out_dim, **kwargs):
    return TensorFusion(dims, out_dim or shared_dim)


def _low_rank(dims, names, shared_dim, out_dim, head_out_dim, **kwargs):
    return LowRankFusion(dims, out_dim or shared_dim, **kwargs)


def _cross_attention(dims, names, shared_dim, out_dim, head_out_dim, **kwargs):
    if len(names) != 2:
        raise ValueError(f"cross-attention fuses exactly two modalities (query and context), got {names}")
    query, context = kwargs.pop("query", names[0]), kwargs.pop("context", names[1])
    check_modalities([query, context])
    return CrossModalAttention(query, context, shared_dim, out_dim=out_dim, **kwargs)


def _self_attention(dims, names, shared_dim, out_dim, head_out_dim, **kwargs):
    return MultimodalSelfAttention(names, shared_dim, out_dim=out_dim, **kwargs)


def _meta_space(dims, names, shared_dim, out_dim, head_out_dim, **kwargs):
    return MetaSpaceFusion(names, shared_dim, out_dim=out_dim, **kwargs)


def _film(dims, names, shared_dim, out_dim, head_out_dim, *, target, **kwargs):
    others = [m for m in names if m != target]
    if target not in names or len(others) != 1:
        raise ValueError(f"FiLM needs the target {target!r} and exactly one other modality, got {names}")
    return FiLMFusion(shared_dim, out_dim or shared_dim, target=target, condition=others[0], **kwargs)


FUSION_REGISTRY: dict[str, FusionEntry] = {
    "concat": FusionEntry(ConcatFusion, False, _concat),
    "late": FusionEntry(LateFusion, False, _late, predicts=True),
    "weighted_sum": FusionEntry(WeightedSumFusion, False, _weighted_sum),
    "gated": FusionEntry(GatedFusion, False, _gated),
    "tensor": FusionEntry(TensorFusion, False, _tensor),
    "low_rank": FusionEntry(LowRankFusion, False, _low_rank),
    "cross_attention": FusionEntry(CrossModalAttention, True, _cross_attention),
    "self_attention": FusionEntry(MultimodalSelfAttention, True, _self_attention),
    "meta_space": FusionEntry(MetaSpaceFusion, True, _meta_space),
    "film": FusionEntry(FiLMFusion, False, _film, raw_target="image"),
}
