"""Helpers shared by every cmlearn dataset: argument checks, leak-free splits, and pixel noise.

Used in chapters 4, 7 and 10 (:func:`add_pixel_noise`); the checks and splits by every dataset module.
"""
from __future__ import annotations

import numbers

import numpy as np
import torch

__all__ = ["check_fraction", "check_names", "check_fractions", "group_split", "add_pixel_noise"]


def check_fraction(name: str, value) -> float:
    """Return `value` as float if it is a number in [0, 1], else raise ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must be a fraction in [0, 1], got {value!r}")
    return float(value)


def check_names(kind: str, names, allowed) -> None:
    """Raise ValueError if any of `names` is not in `allowed` (or `names` is empty)."""
    names = list(names)
    if not names:
        raise ValueError(f"need at least one {kind}; expected some of {tuple(allowed)}")
    for name in names:
        if name not in allowed:
            raise ValueError(f"unknown {kind} {name!r}; expected one of {tuple(allowed)}")
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate {kind} names in {names!r}")


def check_fractions(fractions) -> tuple[float, ...]:
    """Validate split fractions: 2 or 3 numbers in [0, 1] summing to 1."""
    fractions = tuple(fractions)
    if len(fractions) not in (2, 3):
        raise ValueError(f"split fractions must have 2 or 3 entries, got {fractions!r}")
    for f in fractions:
        check_fraction("split fraction", f)
    if abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"split fractions must sum to 1, got {fractions!r} (sum {sum(fractions)})")
    return tuple(float(f) for f in fractions)


def group_split(groups, fractions, seed: int = 0) -> list[np.ndarray]:
    """Randomly split sample indices so that samples sharing a group id stay together.

    Args:
        groups: (N,) array of hashable group ids (e.g. content keys, source image ids).
        fractions: 2 or 3 fractions summing to 1.
        seed: shuffle seed.

    Returns:
        list of int64 index arrays, one per fraction, disjoint, covering 0..N-1, with
        sizes close to fractions * N (exact when all groups have size 1).
    """
    fractions = check_fractions(fractions)
    groups = np.asarray(groups)
    _, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    order = np.random.default_rng(seed).permutation(len(counts))      # shuffled group ids
    start = np.cumsum(counts[order]) - counts[order]                   # samples before each group
    bounds = np.round(np.cumsum(fractions)[:-1] * len(groups))
    part_of_group = np.empty(len(counts), np.int64)
    part_of_group[order] = np.searchsorted(bounds, start, side="right")
    part = part_of_group[inverse.reshape(-1)]
    rank = np.empty(len(counts), np.int64)
    rank[order] = np.arange(len(counts))
    out = []
    for p in range(len(fractions)):
        idx = np.nonzero(part == p)[0]
        out.append(idx[np.argsort(rank[inverse.reshape(-1)[idx]], kind="stable")])
    return out


def add_pixel_noise(images: torch.Tensor, std, generator: torch.Generator | None = None) -> torch.Tensor:
    """x + σ·ε, ε ~ N(0, I), clipped to [0, 1] (as ``make_scenes(image_noise=...)`` does).

    Args:
        images: (B, C, H, W) (or any shape) in [0, 1], on the CPU when ``generator`` is a CPU generator.
        std: σ, a number, or a tensor that broadcasts against ``images`` (e.g. one per image, (B, 1, 1, 1)).
        generator: for reproducible noise.
    """
    if isinstance(std, (int, float)) and std < 0:
        raise ValueError(f"expected a noise std >= 0, got {std!r}")
    return (images + std * torch.randn(images.shape, generator=generator)).clamp(0, 1)
