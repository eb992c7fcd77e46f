"""Corrupting generated scenes: mismatched pairs, missing modalities, pixel noise, typos and omissions.

Used by the knobs of
:func:`cmlearn.data.scenes.make_scenes`, which first generates clean scenes (objects, pixels, true
captions) and then applies one :class:`Corruptions`. Applied to clean scenes in this order, each step
drawing from the same ``numpy`` generator only when its knob is non-zero (except where noted)::

    mismatch_fraction   a fraction of captions replaced by the caption of a scene with other content
    typo_rate, omission_rate   per-word typos and dropped words in the served captions
    image_noise         Gaussian pixel noise, clipped to [0, 1]
    missing_fraction    a fraction of scenes lose a modality (image zeroed, or caption ""),
                        which one set by missing_modality: "image", "text" or "either"

Modalities are named as in the model's masks (:data:`cmlearn.model.MODALITY_INPUTS`): ``"image"`` and
``"text"``.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from cmlearn.data import scene_text as text_
from cmlearn.data.common import check_fraction

__all__ = ["MISSING_MODALITIES", "Corruptions", "CorruptedScenes"]

MISSING_MODALITIES = ("image", "text", "either")


@dataclass
class CorruptedScenes:
    """What :meth:`Corruptions.apply` returns.

    Attributes:
        images: (N, 3, H, W) float32 array in [0, 1] (the array passed in, changed in place).
        captions: N captions as served; "" where the text is missing.
        matched: (N,) bool, False where the caption was taken from another scene.
        present: {"image": (N,) bool, "text": (N,) bool}, True where the scene has that modality.
    """

    images: np.ndarray
    captions: list[str]
    matched: np.ndarray
    present: dict[str, np.ndarray]


@dataclass(frozen=True)
class Corruptions:
    """The corruption knobs of :func:`cmlearn.data.scenes.make_scenes`; all zero: clean scenes.

    Attributes:
        mismatch_fraction: fraction of scenes whose caption is replaced by the (clean) caption of another
            scene with different content (partly correlated modalities, section 5.2.1).
        missing_fraction: fraction of scenes missing a modality (image zeroed or caption "").
        missing_modality: which one goes missing: "image", "text" or "either" (a fair coin per scene).
        image_noise: std of Gaussian pixel noise (result clipped to [0, 1]).
        typo_rate: per-word probability of a character typo in served captions.
        omission_rate: per-word probability that a word is dropped from served captions.

    Raises:
        ValueError: on a value out of range, naming it and what was expected.
    """

    mismatch_fraction: float = 0.0
    missing_fraction: float = 0.0
    missing_modality: str = "either"
    image_noise: float = 0.0
    typo_rate: float = 0.0
    omission_rate: float = 0.0

    def __post_init__(self):
        for name in ("mismatch_fraction", "missing_fraction", "typo_rate", "omission_rate"):
            check_fraction(name, getattr(self, name))
        if not (isinstance(self.image_noise, (int, float)) and 0.0 <= self.image_noise <= 1.0):
            raise ValueError(f"image_noise must be a std in [0, 1], got {self.image_noise!r}")
        if self.missing_modality == "caption":
            raise ValueError("missing_modality 'caption' is now called 'text' (the modality's name in model masks); "
                             "use 'image', 'text' or 'either'")
        if self.missing_modality not in MISSING_MODALITIES:
            raise ValueError(f"missing_modality must be 'image', 'text' or 'either', got {self.missing_modality!r}")

    def apply(self, images: np.ndarray, captions: Sequence[str], canonical: Callable[[], Sequence[str]],
              rng: np.random.Generator) -> CorruptedScenes:
        """Corrupt N clean scenes, in the order of the module docstring.

        Args:
            images: (N, 3, H, W) float32 array in [0, 1]; noised and zeroed in place.
            captions: the N true captions.
            canonical: returns N captions that are equal exactly when two scenes have the same content
                (e.g. every caption with the first template); called only if some captions are mismatched.
            rng: the generator every random choice is drawn from.
        """
        matched, served = mismatch(captions, canonical, self.mismatch_fraction, rng)
        if self.typo_rate or self.omission_rate:
            served = [text_.corrupt(c, self.typo_rate, self.omission_rate, rng) for c in served]
        if self.image_noise:
            images += rng.normal(0.0, self.image_noise, images.shape).astype(np.float32)
            np.clip(images, 0.0, 1.0, out=images)
        present = drop_modalities(len(served), self.missing_fraction, self.missing_modality, rng)
        images[~present["image"]] = 0.0
        served = [c if keep else "" for c, keep in zip(served, present["text"], strict=True)]
        return CorruptedScenes(images, served, matched, present)


def mismatch(captions: Sequence[str], canonical: Callable[[], Sequence[str]], fraction: float,
             rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    """Replace round(fraction · N) captions, picked at random, by the caption of a scene with other content.

    For each picked scene i (in index order) scenes j are drawn at random until ``canonical()[j]`` differs
    from ``canonical()[i]`` (at most 100 tries).

    Returns:
        matched (N,) bool, False for the replaced captions, and the N served captions.

    Raises:
        ValueError: if 100 draws found no scene with other content.
    """
    n = len(captions)
    matched = np.ones(n, bool)
    served = list(captions)
    n_mismatch = int(round(fraction * n))
    if n_mismatch:
        matched[rng.choice(n, n_mismatch, replace=False)] = False
        canon = canonical()
        for i in np.nonzero(~matched)[0]:
            for _ in range(100):
                j = int(rng.integers(n))
                if canon[j] != canon[i]:
                    served[i] = captions[j]
                    break
            else:
                raise ValueError("mismatch_fraction > 0 but all scenes have the same content")
    return matched, served


def drop_modalities(n: int, fraction: float, modality: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Which of n scenes keep each modality: round(fraction · n) scenes, picked at random, lose one.

    ``modality`` is the one they lose: "image", "text", or "either" (a fair coin per scene; the coins are
    drawn whatever ``modality`` is, so the draws do not depend on it).

    Returns:
        {"image": (n,) bool, "text": (n,) bool}; no scene loses both.
    """
    present = {"image": np.ones(n, bool), "text": np.ones(n, bool)}
    n_missing = int(round(fraction * n))
    if n_missing:
        gone = rng.choice(n, n_missing, replace=False)
        coins = rng.random(n_missing) < 0.5
        lose_image = {"image": np.ones(n_missing, bool), "text": np.zeros(n_missing, bool), "either": coins}[modality]
        present["image"][gone[lose_image]] = False
        present["text"][gone[~lose_image]] = False
    return present
