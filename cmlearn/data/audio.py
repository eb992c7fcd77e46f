"""Three modalities of one concept: handwritten digit image, synthesized sound, digit word.

Images are scikit-learn's bundled handwritten digits (``sklearn.datasets.load_digits``: 1,797
real 8x8 scans, no download). Each is paired with a waveform synthesized from a per-digit sound
signature and with the digit's word ("seven", "the digit seven", ...):

* pitch: fundamental ``f0 = 200 Hz * 2 ** (digit / 5)`` (200-696 Hz, 2.4 semitones apart),
  jittered by ``pitch_jitter`` semitones (std) per sample;
* tempo: ``1 + digit % 3`` beeps, their length and spacing scaled by ``1 + tempo_jitter * N(0, 1)``;
* timbre: harmonic profile ``digit % 4`` (pure, odd harmonics, sawtooth-like, bright), each
  harmonic's amplitude jittered by ``timbre_jitter``; the fundamental is always the loudest;
* noise: white noise with std ``noise_level`` times the signal's RMS.

:func:`spectrogram` and :func:`log_mel_spectrogram` compute features with ``torch.stft`` so the
sound can be shown, and encoded, as an image (B, n_mels, frames).

Used in chapters 2 and 7.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import Dataset

from cmlearn.data.common import group_split

__all__ = ["DIGIT_WORDS", "digit_f0", "AudioDigitsDataset", "make_audio_digits", "synthesize_digit_sounds",
           "spectrogram", "mel_filterbank", "log_mel_spectrogram"]

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_TEXT_TEMPLATES = ("{w}", "the digit {w}", "a handwritten {w}", "number {w}")
_TIMBRES = np.array([[1.0, 0.0, 0.0, 0.0, 0.0, 0.0],          # pure
                     [1.0, 0.0, 0.45, 0.0, 0.25, 0.0],         # odd harmonics (hollow)
                     [1.0, 0.5, 0.33, 0.25, 0.2, 0.17],        # sawtooth-like
                     [1.0, 0.8, 0.7, 0.6, 0.5, 0.4]], np.float32)   # bright


def digit_f0(digit) -> np.ndarray:
    """Fundamental frequency in Hz of each digit's sound signature (before jitter)."""
    return 200.0 * 2.0 ** (np.asarray(digit, dtype=np.float64) / 5.0)


def synthesize_digit_sounds(labels, sample_rate: int = 8000, duration: float = 0.5, seed: int = 0, *,
                            pitch_jitter: float = 0.3, tempo_jitter: float = 0.1,
                            timbre_jitter: float = 0.2, noise_level: float = 0.1) -> torch.Tensor:
    """Waveforms (N, T) with T = round(sample_rate * duration), peak amplitude 0.9 before noise.

    Vectorized over samples, harmonics and beeps; see the module docstring for the signature.
    """
    labels = np.asarray(labels, dtype=np.int64)
    rng = np.random.default_rng(seed)
    n, n_samples = len(labels), int(round(sample_rate * duration))
    t = np.arange(n_samples, dtype=np.float32) / sample_rate                      # (T,)
    f0 = digit_f0(labels) * 2.0 ** (pitch_jitter * rng.standard_normal(n) / 12.0)  # (N,)
    k = np.arange(1, _TIMBRES.shape[1] + 1)
    amp = _TIMBRES[labels % 4] * np.exp(timbre_jitter * rng.standard_normal((n, len(k))))
    amp[:, 1:] = np.minimum(amp[:, 1:], 0.95)                                     # fundamental loudest
    amp[:, 0] = 1.0
    amp *= (k[None, :] * f0[:, None] < sample_rate / 2)                            # no aliasing
    phase = torch.from_numpy(rng.uniform(0, 2 * np.pi, n).astype(np.float32))       # harmonic h: (h+1) x
    freq = torch.from_numpy((2 * np.pi * f0).astype(np.float32))                    # angular f0 (N,)
    amp_t = torch.from_numpy(amp.astype(np.float32))
    n_beeps = 1 + labels % 3
    stretch = np.clip(1.0 + tempo_jitter * rng.standard_normal(n), 0.5, 1.5) * duration
    slot = stretch / 3.0                                                            # beep period
    centres = 0.08 * duration + slot[:, None] * (np.arange(3)[None, :] + 0.35)      # (N, 3)
    centres = torch.from_numpy(centres.astype(np.float32))[:, :, None]
    width = torch.from_numpy((0.22 * slot).astype(np.float32))[:, None, None]
    beep_on = torch.from_numpy(np.arange(3)[None, :] < n_beeps[:, None])[:, :, None]
    t_ = torch.from_numpy(t)
    wave = torch.empty(n, n_samples)
    for lo in range(0, n, 128):                   # chunks keep temporaries small (cache friendly)
        c = slice(lo, lo + 128)
        theta = torch.addcmul(phase[c, None], freq[c, None], t_)                        # (B, T)
        s_prev, s_k, two_cos = torch.zeros_like(theta), torch.sin(theta), 2 * torch.cos(theta)
        tone = amp_t[c, 0:1] * s_k
        for h in range(1, amp_t.shape[1]):        # sin((h+1) theta) by the Chebyshev recurrence
            s_prev, s_k = s_k, two_cos * s_k - s_prev
            tone += amp_t[c, h:h + 1] * s_k
        bumps = torch.exp(-0.5 * ((t_ - centres[c]) / width[c]) ** 2) * beep_on[c]     # (B, 3, T)
        wave[c] = tone * bumps.amax(dim=1)
    wave *= 0.9 / wave.abs().amax(dim=1, keepdim=True).clamp_min(1e-6)
    if noise_level:
        rms = wave.pow(2).mean(dim=1, keepdim=True).sqrt()
        wave += noise_level * rms * torch.from_numpy(rng.standard_normal(tuple(wave.shape), dtype=np.float32))
    return wave.contiguous()


def _as_batch(waveforms: torch.Tensor) -> torch.Tensor:
    """Accept (T,), (B, T) or (B, 1, T) float waveforms and return (B, T)."""
    if not isinstance(waveforms, torch.Tensor):
        raise TypeError(f"expected a waveform tensor (B, T), got {type(waveforms).__name__}")
    if waveforms.ndim == 3 and waveforms.shape[1] == 1:
        waveforms = waveforms[:, 0]
    if waveforms.ndim == 1:
        waveforms = waveforms[None]
    if waveforms.ndim != 2:
        raise ValueError(f"expected a waveform of shape (T,), (B, T) or (B, 1, T), got {tuple(waveforms.shape)}")
    return waveforms if waveforms.is_floating_point() else waveforms.float()


def spectrogram(waveforms: torch.Tensor, n_fft: int = 256, hop_length: int = 64) -> torch.Tensor:
    """Power spectrogram |STFT(x)|² with a Hann window: (B, T) -> (B, n_fft // 2 + 1, frames).

    Computed on the waveform's device (CPU or GPU) with ``torch.stft``.
    """
    x = _as_batch(waveforms)
    window = torch.hann_window(n_fft, device=x.device, dtype=x.dtype)
    spec = torch.stft(x, n_fft=n_fft, hop_length=hop_length, window=window, center=True, return_complex=True)
    return spec.abs() ** 2


def hz_to_mel(f):
    """HTK mel scale: mel(f) = 2595 · log10(1 + f / 700)."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m):
    """Inverse of :func:`hz_to_mel`."""
    return 700.0 * (10 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(n_mels: int, n_fft: int, sample_rate: int, f_min: float = 0.0,
                   f_max: float | None = None) -> torch.Tensor:
    """Triangular filters evenly spaced on the HTK mel scale, (n_mels, n_fft // 2 + 1); each peaks near 1."""
    f_max = sample_rate / 2 if f_max is None else f_max
    edges = mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))  # (M + 2,)
    freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)  # (F,) centre frequency of each STFT bin
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]  # (M, 1) each
    rise = (freqs[None, :] - lower) / (centre - lower)
    fall = (upper - freqs[None, :]) / (upper - centre)
    return torch.from_numpy(np.clip(np.minimum(rise, fall), 0, None).astype(np.float32))  # (M, F)


def log_mel_spectrogram(waveforms: torch.Tensor, sample_rate: int = 8000, n_fft: int = 256,
                        hop_length: int = 64, n_mels: int = 40, eps: float = 1e-6) -> torch.Tensor:
    """log(mel filterbank @ |STFT(x)|² + eps): (B, T) -> (B, n_mels, frames).

    ``n_mels=0`` keeps the linear-frequency power (n_fft // 2 + 1 rows) instead of mel bands.
    Used by the audio datasets' ``log_mel()`` and by :class:`cmlearn.encoders.SpectrogramEncoder`.
    """
    power = spectrogram(waveforms, n_fft, hop_length)  # (B, F, frames)
    if n_mels:
        power = mel_filterbank(n_mels, n_fft, sample_rate).to(power) @ power  # (B, M, frames)
    return torch.log(power + eps)


class AudioDigitsDataset(Dataset):
    """Digit images, synthesized digit sounds and digit words.

    Attributes:
        images: (N, 1, H, W) float in [0, 1] (H = W = 8 native, or ``image_size``).
        waveforms: (N, T) float, T = sample_rate * duration.
        texts: list of N strings naming the digit.
        labels: (N,) long digit 0-9.
        ids: (N,) long index into ``load_digits()`` (stable across splits).
        config: knobs of :func:`make_audio_digits`.
    """

    def __init__(self, images, waveforms, texts, labels, ids, config):
        self.images, self.waveforms, self.texts = images, waveforms, list(texts)
        self.labels, self.ids, self.config = labels, ids, dict(config)

    @property
    def sample_rate(self) -> int:
        return int(self.config["sample_rate"])

    def __len__(self) -> int:
        return self.labels.shape[0]

    def __getitem__(self, i: int) -> dict:
        """dict(image=(1, H, W), waveform=(T,), text=str, label=int, index=int)."""
        return dict(image=self.images[i], waveform=self.waveforms[i], text=self.texts[i],
                    label=int(self.labels[i]), index=int(self.ids[i]))

    def log_mel(self, n_fft: int = 256, hop_length: int = 64, n_mels: int = 40) -> torch.Tensor:
        """Log-mel features of all waveforms, (N, n_mels, frames)."""
        return log_mel_spectrogram(self.waveforms, self.sample_rate, n_fft, hop_length, n_mels)

    def subset(self, indices) -> AudioDigitsDataset:
        idx = torch.as_tensor(np.asarray(indices, dtype=np.int64))
        return AudioDigitsDataset(self.images[idx], self.waveforms[idx], [self.texts[i] for i in idx.tolist()],
                                  self.labels[idx], self.ids[idx], self.config)

    def split(self, fractions=(0.8, 0.1, 0.1), seed: int = 0) -> tuple[AudioDigitsDataset, ...]:
        """Disjoint random subsets; identical digit scans always share a subset."""
        flat = self.images.flatten(1).numpy()
        _, keys = np.unique(flat, axis=0, return_inverse=True)
        return tuple(self.subset(ix) for ix in group_split(keys.reshape(-1), fractions, seed))

    def describe(self) -> str:
        c = self.config
        counts = torch.bincount(self.labels, minlength=10).tolist()
        return "\n".join([
            f"AudioDigitsDataset: {len(self)} samples x 3 modalities",
            f"  images {tuple(self.images.shape)} (N, 1, H, W) from sklearn load_digits",
            f"  waveforms {tuple(self.waveforms.shape)} (N, T) at {c['sample_rate']} Hz, {c['duration']} s",
            f"  texts: digit words, paraphrases={c['paraphrases']}; per-digit counts {counts}",
            f"  pitch_jitter={c['pitch_jitter']} semitones, tempo_jitter={c['tempo_jitter']}, "
            f"timbre_jitter={c['timbre_jitter']}, noise_level={c['noise_level']}, seed={c['seed']}"])

    def __repr__(self) -> str:
        c = self.config
        return (f"AudioDigitsDataset(n={len(self)}, sample_rate={c['sample_rate']}, duration={c['duration']}, "
                f"noise_level={c['noise_level']}, seed={c['seed']})")


def _check_number(name, value, low, high=math.inf):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not low <= value <= high:
        raise ValueError(f"{name} must be a number in [{low}, {high}], got {value!r}")


def make_audio_digits(n: int | None = None, sample_rate: int = 8000, duration: float = 0.5, seed: int = 0, *,
                      pitch_jitter: float = 0.3, tempo_jitter: float = 0.1, timbre_jitter: float = 0.2,
                      noise_level: float = 0.1, image_size: int = 8,
                      paraphrases: bool = True) -> AudioDigitsDataset:
    """Pair each ``load_digits`` image with a synthesized sound and its digit word.

    Args:
        n: number of samples (a seeded random subset of the 1,797 scans); None = all.
        sample_rate: 8000 to 16000 Hz.
        duration: seconds per waveform, in (0, 2].
        seed: drives the subset, the sound variation and the text templates.
        pitch_jitter: std of per-sample pitch shift, in semitones (>= 0).
        tempo_jitter: std of the relative beep length / spacing change (>= 0).
        timbre_jitter: std of the log-amplitude change of each harmonic (>= 0).
        noise_level: white-noise std relative to the signal RMS (>= 0; 1.0 = 0 dB SNR).
        image_size: side of the returned images (8 native; larger is bilinear upsampling).
        paraphrases: vary the text ("seven", "the digit seven", ...); False: just the word.

    Returns:
        :class:`AudioDigitsDataset`.
    """
    from sklearn.datasets import load_digits  # bundled with scikit-learn, no download

    digits = load_digits()
    if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 0 < n <= len(digits.target)):
        raise ValueError(f"n must be an int in 1..{len(digits.target)} (load_digits has that many scans) or None, got {n!r}")
    _check_number("sample_rate", sample_rate, 8000, 16000)
    _check_number("duration", duration, 1e-3, 2.0)
    for name, value in [("pitch_jitter", pitch_jitter), ("tempo_jitter", tempo_jitter),
                        ("timbre_jitter", timbre_jitter), ("noise_level", noise_level)]:
        _check_number(name, value, 0.0, 10.0)
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or not 8 <= image_size <= 128:
        raise ValueError(f"image_size must be an int in 8..128, got {image_size!r}")
    rng = np.random.default_rng(seed)
    ids = np.sort(rng.choice(len(digits.target), n, replace=False)) if n is not None else np.arange(len(digits.target))
    labels = digits.target[ids].astype(np.int64)
    images = torch.from_numpy(digits.images[ids].astype(np.float32) / 16.0)[:, None]
    if image_size != 8:
        images = F.interpolate(images, size=(image_size, image_size), mode="bilinear", align_corners=False).clamp(0, 1)
    waves = synthesize_digit_sounds(labels, sample_rate, duration, int(rng.integers(2 ** 31)),
                                    pitch_jitter=pitch_jitter, tempo_jitter=tempo_jitter,
                                    timbre_jitter=timbre_jitter, noise_level=noise_level)
    templates = rng.integers(0, len(_TEXT_TEMPLATES), len(ids)) if paraphrases else np.zeros(len(ids), int)
    texts = [_TEXT_TEMPLATES[t].format(w=DIGIT_WORDS[d]) for t, d in zip(templates.tolist(), labels.tolist(), strict=True)]
    config = dict(n=len(ids), sample_rate=int(sample_rate), duration=duration, seed=seed, pitch_jitter=pitch_jitter,
                  tempo_jitter=tempo_jitter, timbre_jitter=timbre_jitter, noise_level=noise_level,
                  image_size=image_size, paraphrases=paraphrases)
    return AudioDigitsDataset(images, waves, texts, torch.from_numpy(labels), torch.from_numpy(ids), config)
