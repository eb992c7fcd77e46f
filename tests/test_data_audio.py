"""Tests for cmlearn.data.audio: three aligned modalities, sound signatures, features, knobs."""
import numpy as np
import pytest
import torch

from cmlearn.data.audio import (
    DIGIT_WORDS,
    digit_f0,
    log_mel_spectrogram,
    make_audio_digits,
    mel_filterbank,
    spectrogram,
    synthesize_digit_sounds,
)


@pytest.fixture(scope="module")
def digits():
    return make_audio_digits(n=600, seed=0)


def dominant_pitch(waves, sample_rate):
    spec = torch.fft.rfft(waves).abs()
    freqs = torch.fft.rfftfreq(waves.shape[-1], 1 / sample_rate)
    band = (freqs > 150) & (freqs < 800)
    return freqs[band][spec[:, band].argmax(dim=1)]


def test_shapes_and_alignment(digits):
    assert digits.images.shape == (600, 1, 8, 8) and digits.waveforms.shape == (600, 4000)
    assert digits.images.min() >= 0 and digits.images.max() <= 1 and digits.images.max() > 0.9
    item = digits[7]
    assert set(item) >= {"image", "waveform", "text", "label", "index"}
    assert all(DIGIT_WORDS[int(y)] in t for t, y in zip(digits.texts, digits.labels, strict=True))
    from sklearn.datasets import load_digits
    real = load_digits()
    k = int(digits.ids[7])
    assert np.allclose(digits.images[7, 0].numpy() * 16, real.images[k]) and real.target[k] == item["label"]


def test_pitch_identifies_the_digit(digits):
    pitch = dominant_pitch(digits.waveforms, 8000)
    f0 = torch.tensor(digit_f0(np.arange(10)), dtype=torch.float32)
    nearest = (pitch[:, None].log() - f0.log()).abs().argmin(dim=1)
    assert (nearest == digits.labels).float().mean() > 0.97


def test_beep_count_follows_digit():
    labels = np.arange(10)
    waves = synthesize_digit_sounds(labels, 8000, 0.5, seed=0, tempo_jitter=0.0, noise_level=0.0)
    envelope = waves.abs().unfold(1, 80, 80).amax(dim=2) > 0.45          # (10, 50) loud windows
    onsets = (envelope[:, 1:] & ~envelope[:, :-1]).sum(dim=1) + envelope[:, 0].long()
    assert onsets.tolist() == [1 + d % 3 for d in range(10)]


def test_jitter_and_noise_knobs():
    labels = np.full(40, 3)
    fixed = synthesize_digit_sounds(labels, seed=1, pitch_jitter=0.0, noise_level=0.0)
    varied = synthesize_digit_sounds(labels, seed=1, pitch_jitter=1.0, noise_level=0.0)
    assert dominant_pitch(fixed, 8000).unique().numel() == 1
    assert dominant_pitch(varied, 8000).unique().numel() > 5
    clean = synthesize_digit_sounds(labels, seed=2, noise_level=0.0)
    noisy = synthesize_digit_sounds(labels, seed=2, noise_level=0.5)
    ratio = ((noisy - clean).pow(2).mean(dim=1) / clean.pow(2).mean(dim=1)).sqrt()
    assert torch.allclose(ratio, torch.full_like(ratio, 0.5), atol=0.03)


def test_16khz_and_upsampled_images():
    ds = make_audio_digits(n=20, sample_rate=16000, duration=0.25, image_size=32, seed=0)
    assert ds.waveforms.shape == (20, 4000) and ds.images.shape == (20, 1, 32, 32)
    assert "16000 Hz" in ds.describe()


def test_spectrogram_and_log_mel():
    t = torch.arange(8000) / 8000
    tone = torch.sin(2 * torch.pi * 1000 * t)
    power = spectrogram(tone, n_fft=256, hop_length=64)
    assert power.shape == (1, 129, 126)
    assert power[0].mean(dim=1).argmax().item() == round(1000 / (8000 / 256))
    fb = mel_filterbank(40, 256, 8000)
    assert fb.shape == (40, 129) and (fb.sum(dim=1) > 0).all()
    log_mel = log_mel_spectrogram(tone[None], 8000, n_mels=40)
    assert log_mel.shape == (1, 40, 126) and torch.isfinite(log_mel).all()
    peak_bin = log_mel[0].mean(dim=1).argmax().item()
    centre = (fb[peak_bin] * torch.linspace(0, 4000, 129)).sum() / fb[peak_bin].sum()
    assert abs(centre.item() - 1000) < 150


def test_determinism_and_seed(digits):
    again = make_audio_digits(n=600, seed=0)
    assert torch.equal(again.waveforms, digits.waveforms) and again.texts == digits.texts
    assert torch.equal(again.ids, digits.ids)
    other = make_audio_digits(n=600, seed=1)
    assert not torch.equal(other.waveforms[:50], digits.waveforms[:50])


def test_split_is_leak_free(digits):
    train, val, test = digits.split((0.8, 0.1, 0.1), seed=0)
    assert len(train) + len(val) + len(test) == 600
    assert not set(train.ids.tolist()) & set(test.ids.tolist())
    train_images = {im.numpy().tobytes() for im in train.images}
    assert not any(im.numpy().tobytes() in train_images for im in test.images)
    assert train.log_mel().shape[:2] == (len(train), 40)


@pytest.mark.parametrize("kwargs, message", [
    (dict(sample_rate=44100), "sample_rate must be a number in"),
    (dict(duration=-1.0), "duration"),
    (dict(noise_level=-0.1), "noise_level"),
    (dict(pitch_jitter="big"), "pitch_jitter"),
    (dict(n=5000), "n must be an int in 1..1797"),
    (dict(image_size=4), "image_size"),
])
def test_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_audio_digits(**kwargs)


def test_show_audio_draws_image_waveform_and_spectrogram(digits):
    import matplotlib.pyplot as plt

    from cmlearn.data.show import show_samples
    fig = show_samples(digits, n=3)
    assert len(fig.axes) == 9 and sum(bool(ax.lines) for ax in fig.axes) == 3
    assert sum(bool(ax.images) for ax in fig.axes) == 6 and fig.axes[0].get_title() == digits.texts[0]
    plt.close(fig)
