"""Task heads, y = Linear(z; W_y) + b_y (article §3.1 part 4, §3.2.4).

Used in chapters 4 and 6. A head maps the fused
representation z (B, D_z) to the task's output: class logits, a regression value, or the
image–text matching logit.
"""

from __future__ import annotations

import torch
from torch import nn


def _check_z(z: torch.Tensor, in_dim: int) -> None:
    if not isinstance(z, torch.Tensor):
        raise TypeError(f"expected z as a torch.Tensor (B, {in_dim}), got {type(z).__name__}")
    if z.ndim != 2 or z.shape[1] != in_dim:
        raise ValueError(f"expected z of shape (B, {in_dim}), got {tuple(z.shape)}")


class LinearHead(nn.Module):
    """y = W_y z + b_y (a dense layer).

    Shapes:
        z: (B, in_dim)  ->  y: (B, out_dim).
    """

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.linear = nn.Linear(in_dim, out_dim)
        self.in_dim, self.out_dim = in_dim, out_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        _check_z(z, self.in_dim)
        return self.linear(z)


class MLPHead(nn.Module):
    """y = W_2 GELU(W_1 z + b_1) + b_2, with optional dropout on the hidden layer.

    Shapes:
        z: (B, in_dim)  ->  y: (B, out_dim).
    """

    def __init__(self, in_dim: int, out_dim: int, hidden_dim: int = 128, dropout: float = 0.0):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden_dim, out_dim))
        self.in_dim, self.out_dim = in_dim, out_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        _check_z(z, self.in_dim)
        return self.mlp(z)


class MatchingHead(nn.Module):
    """Image–text matching (ITM): one logit per fused pair, p(match) = σ(y).

    The fused z of an (image, text) pair goes through a linear layer (or a small MLP) to a
    single logit, trained with binary cross-entropy against matched/unmatched labels
    (:func:`cmlearn.contrastive.itm_loss`), as in ALBEF (Li et al. 2021) and BLIP.

    Shapes:
        z: (B, in_dim)  ->  y: (B,) logits.
    """

    def __init__(self, in_dim: int, hidden_dim: int | None = None):
        super().__init__()
        if hidden_dim is None:
            self.score = nn.Linear(in_dim, 1)
        else:
            self.score = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, 1))
        self.in_dim, self.out_dim = in_dim, 1

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        _check_z(z, self.in_dim)
        return self.score(z).squeeze(-1)  # (B,)
