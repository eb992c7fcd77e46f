"""Audio feature extractors: a 1-D CNN on the waveform, or a 2-D CNN on a log-mel spectrogram.

Used in chapters 2 and 7. Both are f(x) = Conv(x; W_c) + b_c, once along time
(Conv1d on samples) and once on a time–frequency image (Conv2d on the spectrogram), the way
image CNNs read pixels.

The spectrogram comes from :func:`cmlearn.data.audio.log_mel_spectrogram` (``torch.stft`` and a
triangular mel filterbank on the HTK mel scale, mel(f) = 2595·log10(1 + f/700)), so no audio
library is needed.
"""

from __future__ import annotations

import torch
from torch import nn

from cmlearn.data.audio import log_mel_spectrogram, mel_filterbank  # noqa: F401  (re-exported)


def _check_waveform(waveform: torch.Tensor) -> torch.Tensor:
    """Accept (B, N) or (B, 1, N) floats and return (B, N)."""
    if not isinstance(waveform, torch.Tensor):
        raise TypeError(f"expected a waveform tensor (B, N) or (B, 1, N), got {type(waveform).__name__}")
    if waveform.ndim == 3 and waveform.shape[1] == 1:
        waveform = waveform[:, 0]
    if waveform.ndim != 2 or not waveform.is_floating_point():
        raise ValueError(f"expected a float waveform of shape (B, N) or (B, 1, N), got {tuple(waveform.shape)} {waveform.dtype}")
    return waveform


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
        spectrogram = log_mel_spectrogram(waveform, **self.spectrogram_args).unsqueeze(1)  # (B, 1, M, frames)
        mean = spectrogram.mean(dim=(2, 3), keepdim=True)
        std = spectrogram.std(dim=(2, 3), keepdim=True)
        spectrogram = (spectrogram - mean) / (std + 1e-5)  # per-clip standardisation: loudness does not matter
        return self.features(spectrogram)  # (B, C, M/8, frames/8)

    def tokens(self, waveform: torch.Tensor) -> torch.Tensor:
        return self.feature_map(waveform)  # a map: fusion adds 2-D (frequency, time) positions

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return self.project(self.feature_map(waveform).mean(dim=(2, 3)))  # (B, D)
