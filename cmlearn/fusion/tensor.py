"""Tensor fusion (TFN, Zadeh et al. 2017) and its low-rank factorisation (LMF, Liu et al. 2018).

Used in chapters 4 and 6. Appending a 1 to each modality's feature before the outer
product keeps every lower-order term: with two modalities,

.. math::

    [h_1; 1] \\otimes [h_2; 1] = \\begin{bmatrix} h_1 h_2^\\top & h_1 \\\\ h_2^\\top & 1 \\end{bmatrix},

i.e. the bimodal products *and* both unimodal features. TFN maps that (D_1+1)(D_2+1)… tensor
linearly to z; LMF writes the same linear map's weight as a sum of R rank-one tensors,
W = Σ_r ⊗_m w_m^{(r)}, so z = Σ_r ⊙_m (W_m^{(r)} [h_m; 1]) + b is computed without ever
forming the outer product.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from cmlearn.fusion.base import Features, Mask, check_features, resolve_mask, zero_missing

MAX_TENSOR_SIZE = 2**22  # a larger outer product is a sign to use LowRankFusion


def _with_one(h: torch.Tensor) -> torch.Tensor:
    return torch.cat([h, h.new_ones(h.shape[0], 1)], dim=1)  # (B, D + 1): [h; 1]


class TensorFusion(nn.Module):
    """TFN: z = W · vec(⊗_m [h_m; 1]) + b.

    A missing modality's h_m is set to zero, so its factor becomes [0; 1] and only the
    terms without it remain.

    Args:
        in_dims: modality -> D_m.
        out_dim: D_z.

    Shapes:
        features[m]: (B, D_m)  ->  z: (B, out_dim); ``outer(features)``: (B, Π_m (D_m + 1)).
    """

    def __init__(self, in_dims: dict[str, int], out_dim: int):
        super().__init__()
        self.in_dims = dict(in_dims)
        self.fused_dim = math.prod(d + 1 for d in self.in_dims.values())
        if self.fused_dim > MAX_TENSOR_SIZE:
            raise ValueError(
                f"the outer product would have {self.fused_dim} entries (Π (D_m + 1) for {self.in_dims}); expected at most "
                f"{MAX_TENSOR_SIZE}: use LowRankFusion or smaller features"
            )
        self.linear = nn.Linear(self.fused_dim, out_dim)
        self.out_dim = out_dim

    def outer(self, features: Features, mask: Mask | None = None) -> torch.Tensor:
        """vec(⊗_m [h_m; 1]) in row-major order of the modalities in ``in_dims``, (B, Π (D_m + 1))."""
        B = check_features(features, self.in_dims, self.in_dims)
        present = resolve_mask(mask, self.in_dims, B, next(iter(features.values())).device)
        product = None
        for m in self.in_dims:
            h = _with_one(zero_missing(features[m], present[m]))  # (B, D_m + 1)
            product = h if product is None else (product.unsqueeze(2) * h.unsqueeze(1)).flatten(1)
        return product

    def forward(self, features: Features, mask: Mask | None = None) -> torch.Tensor:
        return self.linear(self.outer(features, mask))  # (B, D_z)


class LowRankFusion(nn.Module):
    """LMF: z = Σ_{r=1}^{R} ⊙_m (W_m^{(r)} [h_m; 1]) + b, a rank-R TFN.

    Each output unit o has its own factors (W_m^{(r)} is (D_m + 1) → D_z), so output o's TFN
    weight tensor is Σ_r ⊗_m W_m^{(r)}[:, o]. :meth:`to_tensor_fusion` builds that TFN; for two
    modalities :meth:`from_tensor_fusion` goes back exactly with R = min(D_1, D_2) + 1 (an SVD
    per output unit). With three or more modalities an exact low-rank form need not have small
    R (tensor rank), so that direction is offered for two only.

    Args:
        in_dims: modality -> D_m.
        out_dim: D_z.
        rank: R.

    Shapes:
        features[m]: (B, D_m)  ->  z: (B, out_dim).
    """

    def __init__(self, in_dims: dict[str, int], out_dim: int, rank: int = 4):
        super().__init__()
        if rank < 1:
            raise ValueError(f"expected rank >= 1, got {rank}")
        self.in_dims = dict(in_dims)
        # factor m: (R, D_m + 1, D_z); scaled so that the product of M factors keeps unit variance
        std = [(1.0 / (d + 1)) ** 0.5 for d in self.in_dims.values()]
        self.factors = nn.ParameterDict(
            {m: nn.Parameter(torch.randn(rank, d + 1, out_dim) * s) for (m, d), s in zip(self.in_dims.items(), std, strict=True)}
        )
        self.bias = nn.Parameter(torch.zeros(out_dim))
        self.rank, self.out_dim = rank, out_dim

    def forward(self, features: Features, mask: Mask | None = None) -> torch.Tensor:
        B = check_features(features, self.in_dims, self.in_dims)
        present = resolve_mask(mask, self.in_dims, B, next(iter(features.values())).device)
        product = None
        for m in self.in_dims:
            h = _with_one(zero_missing(features[m], present[m]))  # (B, D_m + 1)
            projected = torch.einsum("bd,rdo->bro", h, self.factors[m])  # (B, R, D_z): W_m^{(r)} [h_m; 1]
            product = projected if product is None else product * projected  # ⊙ over modalities
        return product.sum(dim=1) + self.bias  # Σ over ranks -> (B, D_z)

    def to_tensor_fusion(self) -> TensorFusion:
        """The TFN with the same function: weight[o] = Σ_r ⊗_m W_m^{(r)}[:, o]."""
        tfn = TensorFusion(self.in_dims, self.out_dim).to(self.bias)
        full = None
        for m in self.in_dims:
            factor = self.factors[m].detach().permute(0, 2, 1)  # (R, D_z, D_m + 1)
            full = factor if full is None else (full.unsqueeze(3) * factor.unsqueeze(2)).flatten(2)
        with torch.no_grad():
            tfn.linear.weight.copy_(full.sum(dim=0))  # (D_z, Π (D_m + 1))
            tfn.linear.bias.copy_(self.bias)
        return tfn

    @classmethod
    def from_tensor_fusion(cls, tfn: TensorFusion, rank: int | None = None) -> LowRankFusion:
        """LMF factors of a two-modality TFN by SVD; exact at ``rank = min(D_1, D_2) + 1`` (the default)."""
        if len(tfn.in_dims) != 2:
            raise ValueError(f"expected a TFN over two modalities (SVD is exact there), got {list(tfn.in_dims)}")
        (m1, d1), (m2, d2) = tfn.in_dims.items()
        full_rank = min(d1, d2) + 1
        rank = full_rank if rank is None else rank
        if not 1 <= rank <= full_rank:
            raise ValueError(f"expected 1 <= rank <= {full_rank}, got {rank}")
        W = tfn.linear.weight.detach().view(tfn.out_dim, d1 + 1, d2 + 1)  # (D_z, D_1 + 1, D_2 + 1)
        U, S, Vh = torch.linalg.svd(W, full_matrices=False)  # per output unit o: W[o] = U S Vh
        lmf = cls(tfn.in_dims, tfn.out_dim, rank).to(W)
        with torch.no_grad():
            lmf.factors[m1].copy_((U[:, :, :rank] * S[:, None, :rank]).permute(2, 1, 0))  # (R, D_1 + 1, D_z)
            lmf.factors[m2].copy_(Vh[:, :rank, :].permute(1, 2, 0))  # (R, D_2 + 1, D_z)
            lmf.bias.copy_(tfn.linear.bias)
        return lmf
