"""Vector fusions: concatenation, late fusion, weighted sum z = Σ α_i h_i, gated fusion (article §3.1 part 3).

Used in chapters 4 and 6. Each takes shared-space features ``{modality: h (B, D_m)}``
and an optional mask ``{modality: present (B,)}`` and returns z (B, D_z).
"""

from __future__ import annotations

import torch
from torch import nn

from cmlearn.fusion.base import Features, Mask, check_features, resolve_mask, zero_missing


class ConcatFusion(nn.Module):
    """Early fusion by concatenation, z = [h_1; h_2; …] (optionally followed by a linear map).

    A missing modality contributes zeros. Modalities are concatenated in the order of
    ``in_dims``, whatever the order of the input dict.

    Args:
        in_dims: modality -> D_m.
        out_dim: if given, z = W [h_1; …; h_M] + b with W (out_dim, Σ D_m).

    Shapes:
        features[m]: (B, D_m)  ->  z: (B, Σ D_m) or (B, out_dim).
    """

    def __init__(self, in_dims: dict[str, int], out_dim: int | None = None):
        super().__init__()
        self.in_dims = dict(in_dims)
        total = sum(self.in_dims.values())
        self.project = nn.Identity() if out_dim is None else nn.Linear(total, out_dim)
        self.out_dim = total if out_dim is None else out_dim

    def forward(self, features: Features, mask: Mask | None = None) -> torch.Tensor:
        B = check_features(features, self.in_dims, self.in_dims)
        present = resolve_mask(mask, self.in_dims, B, next(iter(features.values())).device)
        joined = torch.cat([zero_missing(features[m], present[m]) for m in self.in_dims], dim=1)  # (B, Σ D_m)
        return self.project(joined)


class LateFusion(nn.Module):
    """Late fusion: each modality predicts on its own, y_m = W_m h_m + b_m, and z averages the present ones.

    .. math::  z = \\frac{\\sum_m \\text{mask}_m\\, y_m}{\\sum_m \\text{mask}_m}

    Because z is already a prediction (B, out_dim), a model with late fusion uses an identity head.

    Args:
        in_dims: modality -> D_m.
        out_dim: number of outputs (classes, or 1).
        hidden_dim: if given, each per-modality predictor is a two-layer MLP.

    Shapes:
        features[m]: (B, D_m)  ->  z: (B, out_dim); ``predictions(features)``: {m: (B, out_dim)}.
    """

    def __init__(self, in_dims: dict[str, int], out_dim: int, hidden_dim: int | None = None):
        super().__init__()
        self.in_dims = dict(in_dims)

        def predictor(d: int) -> nn.Module:
            if hidden_dim is None:
                return nn.Linear(d, out_dim)
            return nn.Sequential(nn.Linear(d, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, out_dim))

        self.predictors = nn.ModuleDict({m: predictor(d) for m, d in self.in_dims.items()})
        self.out_dim = out_dim

    def predictions(self, features: Features) -> dict[str, torch.Tensor]:
        check_features(features, self.in_dims, self.in_dims)
        return {m: self.predictors[m](features[m]) for m in self.in_dims}

    def forward(self, features: Features, mask: Mask | None = None) -> torch.Tensor:
        B = check_features(features, self.in_dims, self.in_dims)
        present = resolve_mask(mask, self.in_dims, B, next(iter(features.values())).device)
        total, count = 0.0, 0.0
        for m in self.in_dims:
            w = present[m].to(features[m].dtype).unsqueeze(1)  # (B, 1)
            total = total + w * self.predictors[m](zero_missing(features[m], present[m]))
            count = count + w
        return total / count  # (B, out_dim): mean over the modalities present in each sample


class WeightedSumFusion(nn.Module):
    """z = Σ_i α_i h_i with learned weights α = softmax(w), one scalar per modality.

    The logits w start at zero (α uniform: the mean). With a mask, α is renormalised over the
    modalities present in each sample, α_i ∝ mask_i · exp(w_i). After training, ``alpha``
    tells how much the model leans on each modality.

    Args:
        in_dims: modality -> D; all modalities must share one D (they live in the shared space).

    Shapes:
        features[m]: (B, D)  ->  z: (B, D); ``alpha``: {m: float}, summing to 1.
    """

    def __init__(self, in_dims: dict[str, int]):
        super().__init__()
        dims = set(in_dims.values())
        if len(dims) != 1:
            raise ValueError(f"expected every modality in the same shared space (one D), got {dict(in_dims)}")
        self.in_dims = dict(in_dims)
        self.logits = nn.Parameter(torch.zeros(len(in_dims)))  # w; α = softmax(w)
        self.out_dim = dims.pop()

    @property
    def alpha(self) -> dict[str, float]:
        """α = softmax(w) per modality, with every modality present."""
        alpha = torch.softmax(self.logits.detach(), dim=0)
        return {m: float(a) for m, a in zip(self.in_dims, alpha, strict=True)}

    def weights(self, present: Mask) -> torch.Tensor:
        """Per-sample α (B, M), renormalised over present modalities."""
        available = torch.stack([present[m] for m in self.in_dims], dim=1)  # (B, M)
        logits = self.logits.expand(available.shape).masked_fill(~available, float("-inf"))
        return torch.softmax(logits, dim=1)

    def forward(self, features: Features, mask: Mask | None = None) -> torch.Tensor:
        B = check_features(features, self.in_dims, self.in_dims)
        present = resolve_mask(mask, self.in_dims, B, next(iter(features.values())).device)
        alpha = self.weights(present)  # (B, M)
        h = torch.stack([zero_missing(features[m], present[m]) for m in self.in_dims], dim=1)  # (B, M, D)
        return (alpha.unsqueeze(-1) * h).sum(dim=1)  # (B, D)


class GatedFusion(nn.Module):
    """Gated multimodal unit (Arevalo et al. 2017), generalised to M modalities.

    .. math::

        \\tilde h_m = \\tanh(W_m h_m), \\qquad
        g = \\operatorname{softmax}_m\\big(U_m [h_1; …; h_M]\\big), \\qquad
        z = \\sum_m g_m \\odot \\tilde h_m

    The gates are per feature and per sample: for two modalities g_1 = σ(a_1 − a_2), the
    GMU's sigmoid gate. A missing modality gets gate 0 and zeros in the gates' input.

    Args:
        in_dims: modality -> D_m.
        out_dim: D_z.

    Shapes:
        features[m]: (B, D_m)  ->  z: (B, out_dim); ``last_gates``: (B, M, out_dim) from the last call.
    """

    def __init__(self, in_dims: dict[str, int], out_dim: int):
        super().__init__()
        self.in_dims = dict(in_dims)
        self.transforms = nn.ModuleDict({m: nn.Linear(d, out_dim, bias=False) for m, d in self.in_dims.items()})
        self.gate = nn.Linear(sum(self.in_dims.values()), len(self.in_dims) * out_dim)
        self.out_dim = out_dim
        self.last_gates: torch.Tensor | None = None

    def forward(self, features: Features, mask: Mask | None = None) -> torch.Tensor:
        B = check_features(features, self.in_dims, self.in_dims)
        present = resolve_mask(mask, self.in_dims, B, next(iter(features.values())).device)
        h = {m: zero_missing(features[m], present[m]) for m in self.in_dims}
        candidates = torch.stack([torch.tanh(self.transforms[m](h[m])) for m in self.in_dims], dim=1)  # (B, M, D_z)
        logits = self.gate(torch.cat([h[m] for m in self.in_dims], dim=1)).view(B, len(self.in_dims), self.out_dim)
        available = torch.stack([present[m] for m in self.in_dims], dim=1).unsqueeze(-1)  # (B, M, 1)
        gates = torch.softmax(logits.masked_fill(~available, float("-inf")), dim=1)  # (B, M, D_z)
        self.last_gates = gates.detach()
        return (gates * candidates).sum(dim=1)  # (B, D_z)
