"""Meta-space fusion — this book's reading of a term the source article names without defining.

Used in chapter 4 (``04_fusion``).

**Definition (ours).** The *meta-space* is a coordinate system shared by all modalities and
given by K learned prototype vectors p_1, …, p_K ∈ ℝ^D. A modality m is *expressed in the
meta-space* by letting each prototype read it with attention over its tokens X_m (T_m, D):

.. math::

    s_{m,k} = p_k + \\operatorname{Attention}(p_k, X_m, X_m), \\qquad k = 1, …, K

so slot k of every modality answers the same learned question ("what does prototype k find
here?"). *Fusion in the meta-space* averages the slots of the modalities present in a
sample, slot by slot, lets the slots exchange information with self-attention, and reads z
from all of them:

.. math::

    \\bar s_k = \\frac{\\sum_m \\text{mask}_m\\, s_{m,k}}{\\sum_m \\text{mask}_m}, \\qquad
    z = W \\operatorname{vec}\\big(\\operatorname{SelfAttn}(\\bar s_1, …, \\bar s_K)\\big) + b

Any subset of modalities lands in the same K slots with the same meaning per slot, so a
missing modality changes how much evidence there is, not where it goes; and the cost is
linear in the number of tokens (K queries), not quadratic.

What it builds on: the Perceiver's latent array that cross-attends to inputs of any modality
(Jaegle et al. 2021, "Perceiver: General Perception with Iterative Attention"); pooling by
multi-head attention with learned seed vectors (Lee et al. 2019, Set Transformer); and slot
attention (Locatello et al. 2020), whose slots compete for inputs with a softmax over slots —
here, as in the Perceiver, the softmax is over inputs and the slots do not compete.
"""

from __future__ import annotations

import torch
from torch import nn

from cmlearn.fusion.base import Features, Mask, check_features, resolve_mask
from cmlearn.layers import MultiHeadAttention, ToTokens, TransformerBlock


class MetaSpaceFusion(nn.Module):
    """Fuse modalities in a meta-space of K learned prototypes (see the module docstring).

    Args:
        modalities: names of the modalities.
        dim: D of every modality's tokens and of the prototypes.
        num_prototypes: K.
        num_heads: attention heads.
        num_layers: self-attention blocks among the fused slots.
        out_dim: D_z (default D).
        positional: positions added to feature-map cells (see :class:`cmlearn.layers.ToTokens`).

    Shapes:
        features[m]: (B, T_m, D) | (B, D, H, W) | (B, D)  ->  z: (B, out_dim);
        ``last_slots``: {m: (B, K, D)}; ``last_attention``: {m: (B, heads, K, T_m)}.
    """

    takes_tokens = True

    def __init__(
        self,
        modalities: list[str],
        dim: int,
        num_prototypes: int = 8,
        num_heads: int = 4,
        num_layers: int = 1,
        out_dim: int | None = None,
        positional: str | None = "sincos",
    ):
        super().__init__()
        self.modalities = list(modalities)
        self.prototypes = nn.Parameter(torch.randn(num_prototypes, dim) * dim**-0.5)  # p_1..p_K, (K, D)
        self.to_tokens = ToTokens(dim, positional)
        self.norm_p, self.norm_x = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.read = MultiHeadAttention(dim, num_heads)  # one read-out shared by all modalities: one meta-space
        self.blocks = nn.ModuleList(TransformerBlock(dim, num_heads) for _ in range(num_layers))
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(num_prototypes * dim, out_dim or dim)
        self.num_prototypes, self.out_dim = num_prototypes, out_dim or dim
        self.last_slots: dict[str, torch.Tensor] = {}
        self.last_attention: dict[str, torch.Tensor] = {}

    def slots(self, name: str, x: torch.Tensor, token_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Modality ``name`` expressed in the meta-space, s_m (B, K, D)."""
        tokens, t_mask = self.to_tokens(name, x, token_mask)  # (B, T_m, D)
        B = tokens.shape[0]
        p = self.prototypes.unsqueeze(0).expand(B, -1, -1)  # (B, K, D)
        read, weights = self.read(self.norm_p(p), self.norm_x(tokens), t_mask)  # (B, K, D)
        self.last_attention[name] = weights.detach()
        return p + read

    def forward(self, features: Features, mask: Mask | None = None, token_mask: Mask | None = None) -> torch.Tensor:
        B = check_features(features, self.modalities)
        token_mask = token_mask or {}
        present = resolve_mask(mask, self.modalities, B, self.prototypes.device)
        total, count = 0.0, 0.0
        for m in self.modalities:
            s = self.slots(m, features[m], token_mask.get(m))  # (B, K, D)
            self.last_slots[m] = s.detach()
            w = present[m].to(s.dtype)[:, None, None]  # (B, 1, 1)
            total = total + torch.where(w.bool(), s, torch.zeros((), dtype=s.dtype, device=s.device))
            count = count + w
        fused = total / count  # (B, K, D): slot-wise mean over present modalities
        for block in self.blocks:
            fused, _ = block(fused)
        return self.out(self.norm(fused).flatten(1))  # (B, D_z)
