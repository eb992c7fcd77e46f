"""A tiny dataset shared by tests/test_train.py and the subprocess script of tests/test_resume.py."""

import torch
from torch.utils.data import Dataset


class NoisyPoints(Dataset):
    """Three classes of points; __getitem__ adds fresh noise from the global torch RNG (an augmentation)."""

    def __init__(self, n=96):
        g = torch.Generator().manual_seed(1)
        self.x, self.y = torch.randn(n, 4, generator=g), torch.randint(0, 3, (n,), generator=g)

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return {"x": self.x[i] + 0.1 * torch.randn(4), "y": self.y[i]}
