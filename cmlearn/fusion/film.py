"""FiLM: one modality modulates the other's extractor, feature by feature (Perez et al. 2018).

Used in chapter 4 (``04_fusion``). The conditioning feature c (e.g.
the question's g) sets a scale and a shift for every channel of the other modality's feature
maps inside its extractor:

.. math::

    \\operatorname{FiLM}(F \\mid c) = \\gamma(c) \\odot F + \\beta(c), \\qquad [\\gamma; \\beta] = W c + b

so fusion happens *during* feature extraction rather than after it.
"""

from __future__ import annotations

import torch
from torch import nn

from cmlearn.fusion.base import Features, Mask, check_features, resolve_mask, zero_missing


class FiLM(nn.Module):
    """γ(c) ⊙ F + β(c), with γ, β linear in c and broadcast over all axes after the channel axis.

    γ is parametrised as 1 + Δγ and the linear map starts small (zero bias), so an untrained FiLM
    is close to the identity while gradients still reach c (a common stabilisation; Perez et al.
    predict γ directly).

    Shapes:
        x: (B, C, …), condition: (B, condition_dim)  ->  (B, C, …).
    """

    def __init__(self, condition_dim: int, num_features: int):
        super().__init__()
        self.linear = nn.Linear(condition_dim, 2 * num_features)
        nn.init.normal_(self.linear.weight, std=0.02)
        nn.init.zeros_(self.linear.bias)
        self.num_features = num_features

    def coefficients(self, condition: torch.Tensor, present: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(γ, β), each (B, C); where ``present`` is False, γ = 1 and β = 0 (no modulation)."""
        delta_gamma, beta = self.linear(condition).chunk(2, dim=1)
        if present is not None:
            delta_gamma, beta = zero_missing(delta_gamma, present), zero_missing(beta, present)
        return 1 + delta_gamma, beta

    def forward(self, x: torch.Tensor, condition: torch.Tensor, present: torch.Tensor | None = None) -> torch.Tensor:
        if x.shape[1] != self.num_features:
            raise ValueError(f"expected x with {self.num_features} channels (B, {self.num_features}, ...), got {tuple(x.shape)}")
        gamma, beta = self.coefficients(condition, present)
        shape = gamma.shape + (1,) * (x.ndim - 2)  # (B, C, 1, 1) for a feature map
        return gamma.view(shape) * x + beta.view(shape)


class FiLMFusion(nn.Module):
    """A FiLM-ed CNN: the conditioning modality modulates every conv block of the target's extractor.

    Each block is Conv → BatchNorm (no affine) → FiLM(· | c) → ReLU → 2×2 max pool, as in
    Perez et al.; z is a linear map of the flattened last map (flattened, not averaged, to keep
    where things are, like :class:`cmlearn.encoders.SmallCNN`).

    Unlike the other fusions, the target modality enters as its *raw input* (images), because
    FiLM acts inside its extractor; in a :class:`cmlearn.model.FourPartModel` give that
    modality an ``nn.Identity`` extractor. A missing condition means γ = 1, β = 0; a missing
    target is replaced by zeros.

    Args:
        condition_dim: size of the conditioning feature c.
        out_dim: D_z.
        target, condition: modality names (default image modulated by text).
        channels: conv block widths.
        in_channels, image_size: the target input's C and H = W (divisible by 8).

    Shapes:
        features[target]: (B, C, H, W); features[condition]: (B, condition_dim)  ->  z: (B, out_dim).
    """

    def __init__(
        self,
        condition_dim: int,
        out_dim: int,
        target: str = "image",
        condition: str = "text",
        channels: tuple[int, ...] = (16, 32, 64),
        in_channels: int = 3,
        image_size: int = 32,
    ):
        super().__init__()
        scale = 2 ** len(channels)
        if image_size % scale:
            raise ValueError(f"expected image_size divisible by {scale} ({len(channels)} poolings), got {image_size}")
        self.target, self.condition, self.modalities = target, condition, [target, condition]
        self.convs, self.norms, self.films = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        previous = in_channels
        for width in channels:
            self.convs.append(nn.Conv2d(previous, width, 3, padding=1))
            self.norms.append(nn.BatchNorm2d(width, affine=False))  # FiLM supplies the affine part
            self.films.append(FiLM(condition_dim, width))
            previous = width
        self.pool = nn.MaxPool2d(2)
        self.out = nn.Linear(previous * (image_size // scale) ** 2, out_dim)
        self.in_channels, self.image_size, self.condition_dim = in_channels, image_size, condition_dim
        self.out_dim = out_dim

    def forward(self, features: Features, mask: Mask | None = None) -> torch.Tensor:
        B = check_features(features, self.modalities)
        x, c = features[self.target], features[self.condition]
        expected = (self.in_channels, self.image_size, self.image_size)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"expected {self.target} of shape (B, {', '.join(map(str, expected))}), got {tuple(x.shape)}")
        if c.ndim != 2 or c.shape[1] != self.condition_dim:
            raise ValueError(f"expected {self.condition} of shape (B, {self.condition_dim}), got {tuple(c.shape)}")
        present = resolve_mask(mask, self.modalities, B, x.device)
        x = zero_missing(x, present[self.target])
        for conv, norm, film in zip(self.convs, self.norms, self.films, strict=True):
            x = self.pool(torch.relu(film(norm(conv(x)), c, present[self.condition])))  # (B, C_l, H/2^l, W/2^l)
        return self.out(x.flatten(1))  # (B, D_z)
