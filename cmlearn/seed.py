"""One seeding call for a reproducible chapter.

Seeds Python's ``random``, NumPy and torch (CPU and every CUDA device) and returns a
``torch.Generator`` for DataLoader shuffling, so that the same seed gives the same
numbers on the CPU run after run.
"""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> torch.Generator:
    """Seed all random number generators and return a seeded CPU ``torch.Generator``."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator
