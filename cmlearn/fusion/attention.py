"""Attention fusions: z = Fusion(h) by cross-modal attention or self-attention over all tokens.

Used in chapter 4 (``04_fusion``) and chapter 9 (``09_modality_differences``). Both read tokens built by
:class:`cmlearn.layers.ToTokens` (feature-map cells get their 2-D positions there) and attend with
:class:`cmlearn.layers.MultiHeadAttention`.

Token-level inputs: ``features[m]`` is (B, T_m, D) tokens, (B, D, H, W) a feature map, or (B, D)
a single vector; ``token_mask[m]`` (B, T_m) is True for real tokens (like ``attention_mask``);
``mask[m]`` (B,) is True where sample b has modality m.
"""

from __future__ import annotations

import torch
from torch import nn

from cmlearn.fusion.base import Features, Mask, check_features, resolve_mask, zero_missing
from cmlearn.layers import MultiHeadAttention, ToTokens, TransformerBlock, masked_mean


class CrossModalAttention(nn.Module):
    """One modality attends to another: u = q + Attention(q, c, c), z = W · mean_t(u + MLP(u)).

    E.g. question tokens (query) attend to image cells (context) — ViLBERT's co-attention
    (Lu et al. 2019) in one direction. A missing context adds nothing (u = q); a missing query is
    replaced by a learned "no query" token that still reads the context.

    Args:
        query, context: modality names.
        dim: D of both modalities' tokens.
        num_heads: attention heads.
        out_dim: D_z (default D).
        positional: positions added to feature-map cells (see :class:`ToTokens`).

    Shapes:
        features[query]: (B, T_q, D) | (B, D); features[context]: (B, T_c, D) | (B, D, H, W) | (B, D)
        ->  z: (B, out_dim); ``last_attention``: (B, heads, T_q, T_c).
    """

    takes_tokens = True

    def __init__(self, query: str, context: str, dim: int, num_heads: int = 4, out_dim: int | None = None, positional: str | None = "sincos"):
        super().__init__()
        if query == context:
            raise ValueError(f"expected two different modalities, got query = context = {query!r}")
        self.query, self.context, self.modalities = query, context, [query, context]
        self.to_tokens = ToTokens(dim, positional)
        self.norm_q, self.norm_c, self.norm_u = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = MultiHeadAttention(dim, num_heads)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.null_query = nn.Parameter(torch.zeros(1, 1, dim))
        self.out = nn.Linear(dim, out_dim or dim)
        self.out_dim = out_dim or dim
        self.last_attention: torch.Tensor | None = None

    def forward(self, features: Features, mask: Mask | None = None, token_mask: Mask | None = None) -> torch.Tensor:
        B = check_features(features, self.modalities)
        token_mask = token_mask or {}
        q, q_mask = self.to_tokens(self.query, features[self.query], token_mask.get(self.query))
        c, c_mask = self.to_tokens(self.context, features[self.context], token_mask.get(self.context))
        present = resolve_mask(mask, self.modalities, B, q.device)
        has_q = present[self.query]
        q = torch.where(has_q[:, None, None], q, self.null_query.expand_as(q))  # missing query -> learned token
        q_mask = torch.where(has_q[:, None], q_mask, torch.arange(q.shape[1], device=q.device) == 0)
        c = zero_missing(c, present[self.context])
        c_mask = c_mask & present[self.context][:, None]  # missing context: no key at all -> zero attention output
        a, weights = self.attn(self.norm_q(q), self.norm_c(c), c_mask)  # (B, T_q, D)
        self.last_attention = weights.detach()
        u = q + a
        u = u + self.mlp(self.norm_u(u))
        return self.out(masked_mean(u, q_mask))  # (B, D_z)


class MultimodalSelfAttention(nn.Module):
    """Self-attention over the joined token sequence [CLS; tokens_1 + e_1; tokens_2 + e_2; …].

    Single-stream fusion (VisualBERT, Li et al. 2019; ViLT, Kim et al. 2021): every token
    attends to every token of every modality; e_m is a learned modality-type embedding and
    z is read from the CLS token. A missing modality's tokens are removed as keys.

    Args:
        modalities: names, in the order their tokens are joined.
        dim: D of every modality's tokens.
        num_heads, num_layers: attention heads and Transformer blocks.
        out_dim: D_z (default D).
        positional: positions added to feature-map cells (see :class:`ToTokens`).

    Shapes:
        features[m]: (B, T_m, D) | (B, D, H, W) | (B, D)  ->  z: (B, out_dim);
        ``last_attention``: list of (B, heads, 1 + Σ T_m, 1 + Σ T_m), one per block.
    """

    takes_tokens = True

    def __init__(
        self,
        modalities: list[str],
        dim: int,
        num_heads: int = 4,
        num_layers: int = 2,
        out_dim: int | None = None,
        positional: str | None = "sincos",
    ):
        super().__init__()
        self.modalities = list(modalities)
        self.to_tokens = ToTokens(dim, positional)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.type_embedding = nn.ParameterDict({m: nn.Parameter(torch.randn(dim) * 0.02) for m in self.modalities})
        self.blocks = nn.ModuleList(TransformerBlock(dim, num_heads) for _ in range(num_layers))
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, out_dim or dim)
        self.out_dim = out_dim or dim
        self.last_attention: list[torch.Tensor] = []

    def forward(self, features: Features, mask: Mask | None = None, token_mask: Mask | None = None) -> torch.Tensor:
        B = check_features(features, self.modalities)
        token_mask = token_mask or {}
        sequence, keys = [self.cls.expand(B, 1, -1)], [torch.ones(B, 1, dtype=torch.bool, device=self.cls.device)]
        present = None
        for m in self.modalities:
            tokens, t_mask = self.to_tokens(m, features[m], token_mask.get(m))
            if present is None:
                present = resolve_mask(mask, self.modalities, B, tokens.device)
            sequence.append(zero_missing(tokens, present[m]) + self.type_embedding[m])
            keys.append(t_mask & present[m][:, None])
        x, key_mask = torch.cat(sequence, dim=1), torch.cat(keys, dim=1)  # (B, 1 + Σ T_m, D), (B, 1 + Σ T_m)
        self.last_attention = []
        for block in self.blocks:
            x, weights = block(x, key_mask)
            self.last_attention.append(weights.detach())
        return self.out(self.norm(x[:, 0]))  # CLS -> (B, D_z)
