"""Audio feature extractors: a 1-D CNN on the waveform, or a 2-D CNN on a log-mel spectrogram.

Used in chapter 2 (``02_modalities``). Both are f(x) = Conv(x; W_c) + b_c, once along time
(Conv1d on samples) and once on a time–frequency image (Conv2d on the spectrogram), the way
image CNNs read pixels.

The spectrogram is computed here with ``torch.stft`` and a triangular mel filterbank
(HTK mel scale, mel(f) = 2595·log10(1 + f/700)), so no audio library is needed.
"""

from __future__ import annotations

import torch
from torch import nn


def _check_waveform(waveform: torch.Tensor) -> torch.Tensor:
    """Accept (B, N) or (B, 1, N) floats and return (B, N)."""
    if not isinstance(waveform, torch.Tensor):
        raise TypeError(f"expected a waveform tensor (B, N) or (B, 1, N), got {type(waveform).__name__}")
    if waveform.ndim == 3 and waveform.shape[1] == 1:
        waveform = waveform[:, 0]
    if waveform.ndim != 2 or not waveform.is_floating_point():
        raise ValueError(f"expected a float waveform of shape (B, N) or (B, 1, N), got {tuple(waveform.shape)} {waveform.dtype}")
    return waveform


def hz_to_mel(f: torch.Tensor | float) -> torch.Tensor:
    return 2595.0 * torch.log10(1.0 + torch.as_tensor(f, dtype=torch.float32) / 700.0)


def mel_to_hz(m: torch.Tensor) -> torch.Tensor:
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


def mel_filterbank(n_freqs: int, n_mels: int, sample_rate: int) -> torch.Tensor:
    """Triangular filters evenly spaced on the mel scale, (n_mels, n_freqs); rows peak at 1."""
    freqs = torch.linspace(0, sample_rate / 2, n_freqs)  # (F,) centre frequency of each STFT bin
    edges = mel_to_hz(torch.linspace(0, float(hz_to_mel(sample_rate / 2)), n_mels + 2))  # (M+2,)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]  # (M, 1) each
    rising = (freqs - lower) / (centre - lower)
    falling = (upper - freqs) / (upper - centre)
    return torch.clamp(torch.minimum(rising, falling), min=0.0)  # (M, F)


def log_mel_spectrogram(
    waveform: torch.Tensor, sample_rate: int = 8000, n_fft: int = 256, hop_length: int = 128, n_mels: int = 32
) -> torch.Tensor:
    """log(1e-6 + mel · |STFT(x)|²), a (B, 1, n_mels, frames) image of the sound.

    Args:
        waveform: (B, N) or (B, 1, N) samples.
        sample_rate: samples per second.
        n_fft, hop_length: STFT window (Hann) and hop, in samples.
        n_mels: number of mel bands; ``0`` keeps the linear-frequency power (n_fft/2 + 1 bins).
    """
    waveform = _check_waveform(waveform)
    window = torch.hann_window(n_fft, device=waveform.device, dtype=waveform.dtype)
    stft = torch.stft(waveform, n_fft, hop_length=hop_length, window=window, center=True, return_complex=True)
    power = stft.abs() ** 2  # (B, n_fft/2 + 1, frames)
    if n_mels:
        filters = mel_filterbank(power.shape[1], n_mels, sample_rate).to(power)
        power = filters @ power  # (B, n_mels, frames)
    return torch.log(power + 1e-6).unsqueeze(1)  # (B, 1, n_mels, frames)


class WaveformEncoder(nn.Module):
    """1-D CNN on raw samples: strided Conv1d blocks, then mean and max over time.

    Args:
        out_dim: size D of the output feature.
        channels: channels of the conv blocks (each: Conv1d k=9 stride 4, batch norm, ReLU).

    Shapes:
        waveform: (B, N) or (B, 1, N), N ≥ 4^len(channels)  ->  f: (B, D); ``tokens``: (B, C, N / 4^L).
    """

    def __init__(self, out_dim: int = 128, channels: tuple[int, ...] = (16, 32, 64)):
        super().__init__()
        blocks, previous = [], 1
        for width in channels:
            blocks += [nn.Conv1d(previous, width, kernel_size=9, stride=4, padding=4), nn.BatchNorm1d(width), nn.ReLU()]
            previous = width
        self.features = nn.Sequential(*blocks)
        self.project = nn.Linear(2 * previous, out_dim)
        self.min_length = 4 ** len(channels)
        self.out_dim, self.token_dim = out_dim, previous

    def feature_map(self, waveform: torch.Tensor) -> torch.Tensor:
        waveform = _check_waveform(waveform)
        if waveform.shape[1] < self.min_length:
            raise ValueError(f"expected at least {self.min_length} samples, got {waveform.shape[1]}")
        return self.features(waveform.unsqueeze(1))  # (B, C, N')

    def tokens(self, waveform: torch.Tensor) -> torch.Tensor:
        return self.feature_map(waveform).transpose(1, 2)  # (B, N', C): one token per time step

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        fmap = self.feature_map(waveform)  # (B, C, N')
        pooled = torch.cat([fmap.mean(-1), fmap.amax(-1)], dim=1)  # (B, 2C)
        return self.project(pooled)  # (B, D)


class SpectrogramEncoder(nn.Module):
    """2-D CNN on the log-mel spectrogram: three conv blocks, then average over time and frequency.

    Args:
        out_dim: size D of the output feature.
        sample_rate, n_fft, hop_length, n_mels: spectrogram settings (see :func:`log_mel_spectrogram`).
        channels: channels of the conv blocks (Conv2d 3×3, batch norm, ReLU, 2×2 max pool).

    Shapes:
        waveform: (B, N) or (B, 1, N)  ->  f: (B, D); ``feature_map``: (B, C, n_mels/8, frames/8).
    """

    def __init__(
        self,
        out_dim: int = 128,
        sample_rate: int = 8000,
        n_fft: int = 256,
        hop_length: int = 128,
        n_mels: int = 32,
        channels: tuple[int, int, int] = (16, 32, 64),
    ):
        super().__init__()
        blocks, previous = [], 1
        for width in channels:
            blocks += [nn.Conv2d(previous, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2)]
            previous = width
        self.features = nn.Sequential(*blocks)
        self.project = nn.Linear(previous, out_dim)
        self.spectrogram_args = dict(sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels)
        self.min_length = hop_length * 8  # at least 8 frames survive three 2×2 poolings
        self.out_dim, self.token_dim = out_dim, previous

    def feature_map(self, waveform: torch.Tensor) -> torch.Tensor:
        waveform = _check_waveform(waveform)
        if waveform.shape[1] < self.min_length:
            raise ValueError(f"expected at least {self.min_length} samples (8 STFT frames), got {waveform.shape[1]}")
        spectrogram = log_mel_spectrogram(waveform, **self.spectrogram_args)  # (B, 1, M, frames)
        mean = spectrogram.mean(dim=(2, 3), keepdim=True)
        std = spectrogram.std(dim=(2, 3), keepdim=True)
        spectrogram = (spectrogram - mean) / (std + 1e-5)  # per-clip standardisation: loudness does not matter
        return self.features(spectrogram)  # (B, C, M/8, frames/8)

    def tokens(self, waveform: torch.Tensor) -> torch.Tensor:
        return self.feature_map(waveform)  # a map: fusion adds 2-D (frequency, time) positions

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return self.project(self.feature_map(waveform).mean(dim=(2, 3)))  # (B, D)
