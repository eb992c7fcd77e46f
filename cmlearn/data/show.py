"""Look at a few samples of every dataset: image grids with captions, questions and answers,
waveforms with their log-mel spectrograms, video frames. Every function returns its figure.

Used in chapter 2 (``02_modalities``), where the book first meets sound and video.
"""
from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np
import torch

__all__ = ["show_scenes", "show_questions", "show_audio", "show_video", "show_image_captions", "show_samples"]


def _pick(ds, n: int, indices=None) -> list[int]:
    if indices is not None:
        indices = [int(i) for i in indices]
        bad = [i for i in indices if not 0 <= i < len(ds)]
        if bad:
            raise ValueError(f"indices {bad} out of range for a dataset of {len(ds)} samples")
        return indices
    if not isinstance(n, int) or n <= 0:
        raise ValueError(f"n must be a positive int, got {n!r}")
    return list(range(min(n, len(ds))))


def _image(ax, image: torch.Tensor, title: str, width: int = 22) -> None:
    image = image.detach().float().cpu().clamp(0, 1)
    if image.shape[0] == 1:
        ax.imshow(image[0].numpy(), cmap="gray", vmin=0, vmax=1)
    else:
        ax.imshow(image.permute(1, 2, 0).numpy(), interpolation="nearest")
    ax.set_title("\n".join(textwrap.wrap(title, width)) or "(no caption)", fontsize=8)
    ax.axis("off")


def _grid(n: int, ncols: int, size: float, height: float = 1.45):
    ncols = min(ncols, n)
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows * height), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    return fig, axes.flat


def show_scenes(ds, n: int = 8, indices=None, ncols: int = 4, size: float = 2.0):
    """Scenes (SceneDataset) as an image grid titled with their served captions.

    Missing images are shown black and missing captions as "(no caption)"; mismatched pairs
    are marked "[mismatched]".
    """
    idx = _pick(ds, n, indices)
    fig, axes = _grid(len(idx), ncols, size)
    for ax, i in zip(axes, idx, strict=False):
        flag = "" if bool(ds.matched[i]) else " [mismatched]"
        _image(ax, ds.images[i], ds.captions[i] + flag)
    fig.tight_layout()
    return fig


def show_questions(ds, n: int = 8, indices=None, ncols: int = 4, size: float = 2.2):
    """Question samples (QuestionDataset): image with "Q: ... A: ..." as its title."""
    idx = _pick(ds, n, indices)
    fig, axes = _grid(len(idx), ncols, size, height=1.55)
    for ax, i in zip(axes, idx, strict=False):
        _image(ax, ds.images[i], f"Q: {ds.questions[i]} A: {ds.answer_names[int(ds.answers[i])]}", width=26)
    fig.tight_layout()
    return fig


def show_audio(ds, n: int = 4, indices=None, n_mels: int = 40):
    """Three-modality digits (AudioDigitsDataset): one row per sample with the image and its
    text, the waveform, and the log-mel spectrogram (mel bins x frames)."""
    from cmlearn.data.audio import log_mel_spectrogram

    idx = _pick(ds, n, indices)
    fig, axes = plt.subplots(len(idx), 3, figsize=(10, 2.0 * len(idx)), squeeze=False,
                             gridspec_kw=dict(width_ratios=(1, 3, 3)))
    rate = ds.sample_rate
    mels = log_mel_spectrogram(ds.waveforms[idx], rate, n_mels=n_mels)
    for row, (i, mel) in enumerate(zip(idx, mels, strict=True)):
        _image(axes[row, 0], ds.images[i], ds.texts[i])
        wave = ds.waveforms[i].numpy()
        axes[row, 1].plot(np.arange(len(wave)) / rate, wave, lw=0.4)
        axes[row, 1].set(xlabel="time (s)" if row == len(idx) - 1 else "", ylabel="amplitude", xlim=(0, len(wave) / rate))
        axes[row, 2].imshow(mel.numpy(), origin="lower", aspect="auto", cmap="magma",
                            extent=(0, len(wave) / rate, 0, n_mels))
        axes[row, 2].set(xlabel="time (s)" if row == len(idx) - 1 else "", ylabel="mel bin")
    axes[0, 1].set_title("waveform", fontsize=9)
    axes[0, 2].set_title("log-mel spectrogram", fontsize=9)
    fig.tight_layout()
    return fig


def show_video(ds, n: int = 3, indices=None, size: float = 1.2):
    """Clips (MotionClipDataset): one row of frames per clip, captioned on its first frame."""
    idx = _pick(ds, n, indices)
    n_frames = ds.videos.shape[1]
    fig, axes = plt.subplots(len(idx), n_frames, figsize=(size * n_frames, size * 1.35 * len(idx)), squeeze=False)
    for row, i in enumerate(idx):
        for t in range(n_frames):
            _image(axes[row, t], ds.videos[i, t], "")
            axes[row, t].set_title("")
            axes[row, t].text(0.5, -0.04, f"t={t}", transform=axes[row, t].transAxes, ha="center", va="top", fontsize=7)
        axes[row, 0].set_title(ds.captions[i], fontsize=9, loc="left")
    fig.subplots_adjust(left=0.02, right=0.98, top=0.9, bottom=0.08, wspace=0.08, hspace=0.45)
    return fig


def show_image_captions(ds, n: int = 6, indices=None, ncols: int = 3, size: float = 2.6):
    """Real image-caption pairs (ImageCaptionFolder): transformed image titled with its caption."""
    idx = _pick(ds, n, indices)
    fig, axes = _grid(len(idx), ncols, size, height=1.35)
    for ax, i in zip(axes, idx, strict=False):
        item = ds[i]
        _image(ax, item["image"], item["caption"], width=34)
    fig.tight_layout()
    return fig


def show_samples(ds, n: int | None = None, indices=None):
    """Pick the right viewer for any cmlearn dataset and return its figure."""
    from cmlearn.data.audio import AudioDigitsDataset
    from cmlearn.data.folders import ImageCaptionFolder
    from cmlearn.data.questions import QuestionDataset
    from cmlearn.data.scenes import SceneDataset
    from cmlearn.data.video import MotionClipDataset

    viewers = [(SceneDataset, show_scenes, 8), (QuestionDataset, show_questions, 8), (AudioDigitsDataset, show_audio, 4),
               (MotionClipDataset, show_video, 3), (ImageCaptionFolder, show_image_captions, 6)]
    for kind, viewer, default_n in viewers:
        if isinstance(ds, kind):
            return viewer(ds, default_n if n is None else n, indices)
    raise ValueError(f"show_samples does not know {type(ds).__name__}; expected one of "
                     f"{[k.__name__ for k, _, _ in viewers]}")
