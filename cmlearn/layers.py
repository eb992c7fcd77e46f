"""Layers the book builds its fusions and shared spaces from: attention, positions, pooling.

Used in chapters 3, 4 and 9. Scaled dot-product
attention (Vaswani et al. 2017):

.. math::

    \\operatorname{Attention}(Q, K, V) = \\operatorname{softmax}\\Big(\\frac{Q K^\\top}{\\sqrt{d}}\\Big) V

Attention is a weighted *sum* over keys, blind to their order. An image feature map's cells therefore
carry their position: :class:`ToTokens` turns a map (B, D, H, W) into H·W tokens *plus* a 2-D positional
encoding (sin-cos, :func:`positional_encoding_2d`, or learned from (x, y) coordinates as in CoordConv,
Liu et al. 2018). Without that, "is the circle left of the square?" has no answer (``positional=None``
exists only to show this). :class:`AttentionPooling` reads a token sequence with one learned query,
h = Attention(q, X, X).
"""

from __future__ import annotations

import math

import torch
from torch import nn

POSITIONAL = ("sincos", "coords", None)


def attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, key_mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(Q Kᵀ / √d) V, written out; returns (output, weights).

    Args:
        q: (..., T_q, d); k: (..., T_k, d); v: (..., T_k, d_v).
        key_mask: bool, broadcastable to (..., T_q, T_k), True where a key may be attended to.
            A query with no allowed key gets zero weights and a zero output (no NaN).

    Returns:
        output (..., T_q, d_v) — equal to ``F.scaled_dot_product_attention`` where every query
        has a key — and weights (..., T_q, T_k), rows summing to 1 (or 0).
    """
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., T_q, T_k)
    if key_mask is not None:
        scores = scores.masked_fill(~key_mask, torch.finfo(scores.dtype).min)
    weights = torch.softmax(scores, dim=-1)
    if key_mask is not None:
        weights = weights * key_mask  # exact zeros; rows with no key at all become 0
    return weights @ v, weights


class MultiHeadAttention(nn.Module):
    """Multi-head attention with its own projections, returning the weights for plotting.

    Same computation as ``nn.MultiheadAttention(dim, num_heads, batch_first=True)`` (its
    ``in_proj_weight`` is our q/k/v weights stacked).

    Shapes:
        query (B, T_q, D), context (B, T_k, D), key_mask (B, T_k) bool  ->
        (output (B, T_q, D), weights (B, heads, T_q, T_k)).
    """

    def __init__(self, dim: int, num_heads: int = 4):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"expected dim divisible by num_heads, got dim={dim}, num_heads={num_heads}")
        self.q_proj, self.k_proj, self.v_proj = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)
        self.num_heads = num_heads

    def forward(
        self, query: torch.Tensor, context: torch.Tensor, key_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        B, T_q, D = query.shape
        T_k, H = context.shape[1], self.num_heads
        q = self.q_proj(query).view(B, T_q, H, D // H).transpose(1, 2)  # (B, H, T_q, D/H)
        k = self.k_proj(context).view(B, T_k, H, D // H).transpose(1, 2)  # (B, H, T_k, D/H)
        v = self.v_proj(context).view(B, T_k, H, D // H).transpose(1, 2)
        mask = None if key_mask is None else key_mask[:, None, None, :]  # (B, 1, 1, T_k)
        out, weights = attention(q, k, v, mask)  # (B, H, T_q, D/H)
        return self.out_proj(out.transpose(1, 2).reshape(B, T_q, D)), weights


class TransformerBlock(nn.Module):
    """Pre-norm block: x + Attn(LN x), then x + MLP(LN x). Keys are masked with ``key_mask`` (B, T)."""

    def __init__(self, dim: int, num_heads: int = 4, mlp_ratio: int = 2):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = MultiHeadAttention(dim, num_heads)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Linear(mlp_ratio * dim, dim))

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        y = self.norm1(x)
        a, weights = self.attn(y, y, key_mask)
        x = x + a
        return x + self.mlp(self.norm2(x)), weights


def positional_encoding_1d(length: int, dim: int) -> torch.Tensor:
    """Sinusoidal positions (Vaswani et al. 2017), (length, dim): sin/cos of p·10000^(−2k/dim)."""
    if dim % 2:
        raise ValueError(f"expected an even dim for sin/cos pairs, got {dim}")
    position = torch.arange(length, dtype=torch.float32)[:, None]  # (L, 1)
    frequency = torch.exp(-math.log(10000.0) * torch.arange(0, dim, 2, dtype=torch.float32) / dim)  # (dim/2,)
    pe = torch.zeros(length, dim)
    pe[:, 0::2] = torch.sin(position * frequency)
    pe[:, 1::2] = torch.cos(position * frequency)
    return pe


def positional_encoding_2d(height: int, width: int, dim: int) -> torch.Tensor:
    """2-D sin-cos positions (as in MAE, He et al. 2022), (H·W, dim), cells in row-major order.

    The first dim/2 channels encode the row y, the last dim/2 the column x, each with
    :func:`positional_encoding_1d`; so cells left and right of each other differ.
    """
    if dim % 4:
        raise ValueError(f"expected dim divisible by 4 for 2-D sin-cos positions, got {dim}")
    rows = positional_encoding_1d(height, dim // 2)  # (H, dim/2)
    cols = positional_encoding_1d(width, dim // 2)  # (W, dim/2)
    grid = torch.cat([rows[:, None, :].expand(height, width, -1), cols[None, :, :].expand(height, width, -1)], dim=-1)
    return grid.reshape(height * width, dim)


def coordinate_grid(height: int, width: int) -> torch.Tensor:
    """(x, y) of each cell in [-1, 1], (H·W, 2), row-major — the CoordConv channels as a list."""
    y = torch.linspace(-1, 1, height) if height > 1 else torch.zeros(1)
    x = torch.linspace(-1, 1, width) if width > 1 else torch.zeros(1)
    yy, xx = torch.meshgrid(y, x, indexing="ij")
    return torch.stack([xx, yy], dim=-1).reshape(height * width, 2)


class ToTokens(nn.Module):
    """Turn a modality's input into (tokens (B, T, D), token mask (B, T)), adding 2-D positions to maps.

    Args:
        dim: D.
        positional: ``"sincos"`` (fixed 2-D sin-cos added), ``"coords"`` (a learned linear map of the
            cell's (x, y) added) or ``None`` (no positions; attention then cannot tell left from right).
    """

    def __init__(self, dim: int, positional: str | None = "sincos"):
        super().__init__()
        if positional not in POSITIONAL:
            raise ValueError(f"expected positional one of {POSITIONAL}, got {positional!r}")
        self.dim, self.positional = dim, positional
        self.coord_proj = nn.Linear(2, dim) if positional == "coords" else None

    def forward(self, name: str, x: torch.Tensor, token_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        D = self.dim
        if x.ndim == 2 and x.shape[1] == D:
            tokens = x.unsqueeze(1)  # (B, 1, D): a vector is one token
        elif x.ndim == 3 and x.shape[2] == D:
            tokens = x
        elif x.ndim == 4 and x.shape[1] == D:
            H, W = x.shape[2:]
            tokens = x.flatten(2).transpose(1, 2)  # (B, H·W, D), row-major cells
            if self.positional == "sincos":
                tokens = tokens + positional_encoding_2d(H, W, D).to(tokens)
            elif self.positional == "coords":
                tokens = tokens + self.coord_proj(coordinate_grid(H, W).to(tokens))
        else:
            raise ValueError(f"expected {name} as (B, {D}), tokens (B, T, {D}) or a map (B, {D}, H, W), got {tuple(x.shape)}")
        B, T = tokens.shape[:2]
        if token_mask is None:
            token_mask = torch.ones(B, T, dtype=torch.bool, device=tokens.device)
        elif token_mask.shape != (B, T):
            raise ValueError(f"expected token_mask[{name!r}] of shape ({B}, {T}), got {tuple(token_mask.shape)}")
        return tokens, token_mask.bool()


def masked_mean(x: torch.Tensor, token_mask: torch.Tensor) -> torch.Tensor:
    """Mean over the real tokens: x (B, T, D), token_mask (B, T) bool (True = real) -> (B, D)."""
    m = token_mask.unsqueeze(-1).to(x.dtype)  # (B, T, 1)
    return (x * m).sum(1) / m.sum(1).clamp(min=1.0)


class AttentionPooling(nn.Module):
    """h = Attention(q, X, X): one learned query q reads a token sequence.

    Shapes:
        tokens (B, T, D), token_mask (B, T) bool (True = real)  ->  h (B, D);
        ``last_weights``: (B, heads, 1, T).
    """

    def __init__(self, dim: int, num_heads: int = 1):
        super().__init__()
        self.query = nn.Parameter(torch.randn(1, 1, dim) * dim**-0.5)
        self.norm = nn.LayerNorm(dim)
        self.attn = MultiHeadAttention(dim, num_heads)
        self.last_weights: torch.Tensor | None = None

    def forward(self, tokens: torch.Tensor, token_mask: torch.Tensor | None = None) -> torch.Tensor:
        if tokens.ndim != 3:
            raise ValueError(f"expected tokens of shape (B, T, D), got {tuple(tokens.shape)}")
        pooled, weights = self.attn(self.query.expand(tokens.shape[0], -1, -1), self.norm(tokens), token_mask)
        self.last_weights = weights.detach()
        return pooled[:, 0]  # (B, D)
