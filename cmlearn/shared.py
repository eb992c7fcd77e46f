"""The shared representation space, h = MLP(f, g) or Attention(f, g) (article §3.1 part 2, §3.2.2).

Used in chapter 3 (``03_alignment``), chapter 4 (``04_fusion``) and chapter 6 (``06_framework``); the
two-tower :class:`cmlearn.DualEncoder` and the anchored space of chapter 7 use :class:`ProjectionHead`. Each modality's extractor
feature is mapped by its own projection into one D-dimensional space:

* a vector feature f (B, F) by an MLP projection head, h = MLP(f) (:class:`ProjectionHead`),
  then L2-normalised, h / ‖h‖, so that similarity is a dot product;
* a token sequence (B, T, F) or a feature map (B, F, H, W) by a per-token linear map into D,
  kept as tokens for token-level fusion, or pooled by attention with a learned query,
  h = Attention(q, W X, W X) (feature-map cells get 2-D positions first), then normalised.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cmlearn.layers import AttentionPooling, ToTokens

POOLINGS = (None, "attention", "mean")


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


class SharedSpace(nn.Module):
    """Per-modality projections into one D-dimensional space.

    Args:
        in_dims: modality -> F_m, the extractor's feature size (channels for a map).
        dim: D.
        hidden_dim: hidden width of the vector projection MLPs (``None``: linear).
        token_modalities: modalities whose extractor gives tokens (B, T, F) or a map (B, F, H, W).
        pooling: for token modalities, ``None`` keeps tokens (for token-level fusion),
            ``"attention"`` or ``"mean"`` pools them to (B, D).
        normalize: L2-normalise every (B, D) embedding.
        positional: positions added to map cells before pooling (see :class:`cmlearn.layers.ToTokens`).

    Shapes:
        features[m]: (B, F_m) -> (B, D); (B, T, F_m) -> (B, T, D) or (B, D);
        (B, F_m, H, W) -> (B, D, H, W) or (B, D).
    """

    def __init__(
        self,
        in_dims: dict[str, int],
        dim: int,
        hidden_dim: int | None = 256,
        token_modalities: tuple[str, ...] | list[str] = (),
        pooling: str | None = None,
        normalize: bool = True,
        positional: str | None = "sincos",
    ):
        super().__init__()
        unknown = [m for m in token_modalities if m not in in_dims]
        if unknown:
            raise ValueError(f"token_modalities {unknown} are not in in_dims {list(in_dims)}")
        if pooling not in POOLINGS:
            raise ValueError(f"expected pooling one of {POOLINGS}, got {pooling!r}")
        self.in_dims, self.dim = dict(in_dims), dim
        self.token_modalities = tuple(token_modalities)
        self.pooling, self.normalize = pooling, normalize
        self.projections = nn.ModuleDict(
            {m: nn.Linear(d, dim) if m in self.token_modalities else ProjectionHead(d, dim, hidden_dim) for m, d in self.in_dims.items()}
        )
        if pooling is not None and self.token_modalities:
            self.to_tokens = ToTokens(dim, positional)
            if pooling == "attention":
                self.pools = nn.ModuleDict({m: AttentionPooling(dim) for m in self.token_modalities})

    def project(self, name: str, f: torch.Tensor, token_mask: torch.Tensor | None = None) -> torch.Tensor:
        """h for one modality (see the class docstring for shapes)."""
        if name not in self.in_dims:
            raise ValueError(f"unknown modality {name!r}; expected one of {list(self.in_dims)}")
        F_m = self.in_dims[name]
        if name not in self.token_modalities:
            if f.ndim != 2 or f.shape[1] != F_m:
                raise ValueError(f"expected {name} features of shape (B, {F_m}), got {tuple(f.shape)}")
            h = self.projections[name](f)
            return F.normalize(h, dim=-1) if self.normalize else h
        if f.ndim == 3 and f.shape[2] == F_m:
            h = self.projections[name](f)  # (B, T, D)
        elif f.ndim == 4 and f.shape[1] == F_m:
            h = self.projections[name](f.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # per cell: (B, D, H, W)
        else:
            raise ValueError(f"expected {name} tokens (B, T, {F_m}) or a map (B, {F_m}, H, W), got {tuple(f.shape)}")
        if self.pooling is None:
            return h
        tokens, t_mask = self.to_tokens(name, h, token_mask)  # maps get their 2-D positions here
        if self.pooling == "attention":
            h = self.pools[name](tokens, t_mask)
        else:
            m = t_mask.unsqueeze(-1).to(tokens.dtype)
            h = (tokens * m).sum(1) / m.sum(1).clamp(min=1.0)
        return F.normalize(h, dim=-1) if self.normalize else h

    def forward(self, features: dict[str, torch.Tensor], token_mask: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        if not isinstance(features, dict):
            raise TypeError(f"expected features as a dict {{modality: tensor}}, got {type(features).__name__}")
        token_mask = token_mask or {}
        return {m: self.project(m, f, token_mask.get(m)) for m, f in features.items()}
