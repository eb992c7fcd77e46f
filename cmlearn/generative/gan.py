"""The text-to-image conditional GAN of chapter 8 (article §5.2.1); see :mod:`cmlearn.generative`.

Used in chapter 8 (``08_weak_pairs_and_generation``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from cmlearn.generative.vae import deconv_stack, randn_like


class TextToImageGenerator(nn.Module):
    """G(noise, c): [noise; c] → (H/8)×(W/8) map → three transposed convolutions → (B, C, H, W) in [0, 1]."""

    def __init__(
        self,
        condition_dim: int,
        noise_dim: int = 32,
        channels: tuple[int, int, int] = (128, 64, 32),
        image_channels: int = 3,
        image_size: int = 32,
    ):
        super().__init__()
        if image_size % 8:
            raise ValueError(f"expected image_size divisible by 8, got {image_size}")
        self.top_size = image_size // 8
        self.input = nn.Sequential(nn.Linear(noise_dim + condition_dim, channels[0] * self.top_size**2), nn.ReLU())
        self.body = deconv_stack(channels, image_channels)
        self.noise_dim, self.condition_dim, self.top_channels = noise_dim, condition_dim, channels[0]

    def forward(self, noise: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        top = self.input(torch.cat([noise, condition], dim=1)).view(-1, self.top_channels, self.top_size, self.top_size)
        return torch.sigmoid(self.body(top))  # (B, C, H, W)


class ProjectionDiscriminator(nn.Module):
    """D(x, c) = wᵀφ(x) + ⟨E c, φ(x)⟩ + b, φ a spectrally normalised CNN (Miyato & Koyama 2018)."""

    def __init__(self, condition_dim: int, channels: tuple[int, int, int] = (32, 64, 128), image_channels: int = 3):
        super().__init__()
        layers, previous = [], image_channels
        for width in channels:
            layers += [spectral_norm(nn.Conv2d(previous, width, 4, stride=2, padding=1)), nn.LeakyReLU(0.2)]
            previous = width
        self.features = nn.Sequential(*layers)
        self.linear = spectral_norm(nn.Linear(previous, 1))
        self.embed = spectral_norm(nn.Linear(condition_dim, previous, bias=False))

    def forward(self, images: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        phi = self.features(images).sum(dim=(2, 3))  # (B, F)
        return self.linear(phi).squeeze(1) + (self.embed(condition) * phi).sum(dim=1)  # (B,) logits


class ConditionalGAN(nn.Module):
    """Text → image GAN (32×32 by default) conditioned on a text feature c (B, condition_dim), e.g. :func:`bag_of_words` or MiniLM's g.

    Losses (non-saturating, with softplus(−s) = −log σ(s)):
        D: softplus(−D(x, c)) + ½[softplus(D(x, c_wrong)) + softplus(D(G(ε, c), c))]
        G: softplus(−D(G(ε, c), c))
    where c_wrong is another sample's text (the batch rolled by one).

    Args:
        condition_dim: size of the text feature c.
        noise_dim: size of the noise ε.
        image_channels: C of the images.
        generator_channels, discriminator_channels: conv widths of G (from the (H/8)×(W/8) map up) and D (from the image down).
        image_size: H = W, divisible by 8.
    """

    def __init__(
        self,
        condition_dim: int,
        noise_dim: int = 32,
        image_channels: int = 3,
        generator_channels: tuple[int, int, int] = (128, 64, 32),
        discriminator_channels: tuple[int, int, int] = (32, 64, 128),
        image_size: int = 32,
    ):
        super().__init__()
        self.generator = TextToImageGenerator(condition_dim, noise_dim, generator_channels, image_channels, image_size)
        self.discriminator = ProjectionDiscriminator(condition_dim, discriminator_channels, image_channels)
        self.noise_dim, self.condition_dim = noise_dim, condition_dim
        self.image_shape = (image_channels, image_size, image_size)

    def _check(self, condition: torch.Tensor, images: torch.Tensor | None = None) -> None:
        if condition.ndim != 2 or condition.shape[1] != self.condition_dim:
            raise ValueError(f"expected condition of shape (B, {self.condition_dim}), got {tuple(condition.shape)}")
        if images is not None:
            if images.ndim != 4 or tuple(images.shape[1:]) != self.image_shape:
                raise ValueError(f"expected images of shape (B, {', '.join(map(str, self.image_shape))}), got {tuple(images.shape)}")
            if images.shape[0] != condition.shape[0]:
                raise ValueError(f"expected one batch size, got images {images.shape[0]} and condition {condition.shape[0]}")

    def generate(self, condition: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Images (B, C, H, W) in [0, 1] for text features ``condition`` (B, condition_dim)."""
        self._check(condition)
        noise = randn_like(condition, (condition.shape[0], self.noise_dim), generator)
        return self.generator(noise, condition)

    def discriminator_loss(self, images: torch.Tensor, condition: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        self._check(condition, images)
        with torch.no_grad():
            fake = self.generate(condition, generator)
        # Real, wrong-caption and generated pairs through D in one pass: (3B,) logits.
        logits = self.discriminator(torch.cat([images, images, fake]), torch.cat([condition, condition.roll(1, dims=0), condition]))
        real, wrong, fooled = logits.split(images.shape[0])
        return F.softplus(-real).mean() + 0.5 * (F.softplus(wrong).mean() + F.softplus(fooled).mean())

    def generator_loss(self, condition: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return F.softplus(-self.discriminator(self.generate(condition, generator), condition)).mean()
