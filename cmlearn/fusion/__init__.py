"""Fusion, z = Σ α_i h_i or z = Fusion(h) (article §3.1 part 3, §3.2.3).

Used in chapter 4 (``04_fusion``), chapter 6 (``06_framework``) and chapter 9 (``09_modality_differences``). One
interface: a module takes
``features: dict[str, Tensor]`` (modality -> shared-space features) and an optional
``mask: dict[str, BoolTensor (B,)]`` (True where a sample has that modality) and returns
z (B, D_z). Token-level fusions (``takes_tokens = True``) also take token sequences
(B, T_m, D) or feature maps (B, D, H, W) and ``token_mask: dict[str, BoolTensor (B, T_m)]``; the
attention, positions and pooling they are built from live in :mod:`cmlearn.layers`.

=========================  =============================================  ==========
module                      z                                              file
=========================  =============================================  ==========
ConcatFusion                [h_1; h_2; …] (early fusion)                   simple.py
LateFusion                  mean of per-modality predictions               simple.py
WeightedSumFusion           Σ α_i h_i, α = softmax(w)                      simple.py
GatedFusion                 Σ g_i ⊙ tanh(W_i h_i), g = softmax(U[h])       simple.py
TensorFusion                W vec(⊗ [h_i; 1]) + b (TFN)                    tensor.py
LowRankFusion               Σ_r ⊙_i W_i^(r) [h_i; 1] + b (LMF)             tensor.py
FiLMFusion                  CNN whose blocks are γ(c) ⊙ F + β(c)           film.py
CrossModalAttention         q + Attention(q, c), pooled                    attention.py
MultimodalSelfAttention     CLS of a Transformer over all tokens           attention.py
MetaSpaceFusion             prototypes read each modality, slots averaged  meta.py
=========================  =============================================  ==========

:data:`FUSION_REGISTRY` (registry.py) names them for :func:`cmlearn.model.build_model`: class, whether it
takes tokens, and how to build it from shared-space sizes.
"""

from cmlearn.fusion.attention import CrossModalAttention, MultimodalSelfAttention
from cmlearn.fusion.base import check_features, resolve_mask
from cmlearn.fusion.film import FiLM, FiLMFusion
from cmlearn.fusion.meta import MetaSpaceFusion
from cmlearn.fusion.registry import FUSION_REGISTRY, FusionEntry
from cmlearn.fusion.simple import ConcatFusion, GatedFusion, LateFusion, WeightedSumFusion
from cmlearn.fusion.tensor import LowRankFusion, TensorFusion

__all__ = [
    "ConcatFusion",
    "LateFusion",
    "WeightedSumFusion",
    "GatedFusion",
    "TensorFusion",
    "LowRankFusion",
    "FiLM",
    "FiLMFusion",
    "CrossModalAttention",
    "MultimodalSelfAttention",
    "MetaSpaceFusion",
    "check_features",
    "resolve_mask",
    "FUSION_REGISTRY",
    "FusionEntry",
]
