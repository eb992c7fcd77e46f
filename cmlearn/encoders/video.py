"""Video feature extractors: the frame average, per-frame CNN + temporal GRU, or a 3-D convolution.

Used in chapter 2 (``02_modalities``) and chapter 7 (``07_more_modalities``). A clip is (B, T, C, H, W):
T frames of images.

* :class:`FrameMeanVideoEncoder`, the order-blind baseline: the same :class:`SmallCNN` on every frame,
  then the mean over time, f = W · (1/T) Σ_t Conv(x_t); playing the clip backwards gives the same f.

* :class:`FrameGRUVideoEncoder` reads each frame with a :class:`SmallCNN`, f_t = Conv(x_t),
  then a GRU runs over f_1..f_T, so the order of the frames matters (a ball moving left
  and one moving right differ).
* :class:`Conv3dVideoEncoder` convolves over time and space at once, f = Conv3d(x; W_c) + b_c
  (Tran et al. 2015, C3D), pooling over space and time at the end.
"""

from __future__ import annotations

import torch
from torch import nn

from cmlearn.encoders.image import SmallCNN


def _check_video(video: torch.Tensor, channels: int) -> None:
    if not isinstance(video, torch.Tensor):
        raise TypeError(f"expected a video tensor (B, T, {channels}, H, W), got {type(video).__name__}")
    if video.ndim != 5 or video.shape[2] != channels:
        raise ValueError(f"expected video of shape (B, T, {channels}, H, W), got {tuple(video.shape)}")


class FrameGRUVideoEncoder(nn.Module):
    """Per-frame :class:`SmallCNN` (shared weights) followed by a GRU over time.

    Args:
        out_dim: size D of the output feature.
        frame_dim: size of each frame's CNN feature.
        hidden_dim: GRU hidden size.
        image_size: H = W of the frames (divisible by 8).
        in_channels: C of the frames.
        channels: channels of the frame CNN's three conv blocks (see :class:`SmallCNN`).

    Shapes:
        video: (B, T, C, H, W) in [0, 1]  ->  f: (B, D); ``tokens``: (B, T, hidden_dim), one per frame.
    """

    def __init__(self, out_dim: int = 128, frame_dim: int = 64, hidden_dim: int = 64, image_size: int = 32, in_channels: int = 3,
                 channels: tuple[int, int, int] = (16, 32, 64)):
        super().__init__()
        self.frame_encoder = SmallCNN(out_dim=frame_dim, channels=channels, image_size=image_size, in_channels=in_channels)
        self.rnn = nn.GRU(frame_dim, hidden_dim, batch_first=True)
        self.project = nn.Linear(hidden_dim, out_dim)
        self.in_channels = in_channels
        self.out_dim, self.token_dim = out_dim, hidden_dim

    def tokens(self, video: torch.Tensor) -> torch.Tensor:
        _check_video(video, self.in_channels)
        B, T = video.shape[:2]
        frames = self.frame_encoder(video.flatten(0, 1))  # (B·T, frame_dim): every frame through the same CNN
        states, _ = self.rnn(frames.view(B, T, -1))  # (B, T, hidden_dim)
        return states

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        return self.project(self.tokens(video)[:, -1])  # last GRU state has seen every frame -> (B, D)


class Conv3dVideoEncoder(nn.Module):
    """A small 3-D CNN: Conv3d 3×3×3 blocks (pooling space only, then space and time), global average.

    Args:
        out_dim: size D of the output feature.
        channels: channels of the three conv blocks.
        in_channels: C of the frames.

    Shapes:
        video: (B, T, C, H, W), T ≥ 2, H, W ≥ 8  ->  f: (B, D); ``feature_map``: (B, C₃, T/2, H/8, W/8).
    """

    def __init__(self, out_dim: int = 128, channels: tuple[int, int, int] = (16, 32, 64), in_channels: int = 3):
        super().__init__()
        pools = [(1, 2, 2), (1, 2, 2), (2, 2, 2)]  # keep time resolution early, as C3D does
        blocks, previous = [], in_channels
        for width, pool in zip(channels, pools, strict=True):
            blocks += [nn.Conv3d(previous, width, 3, padding=1), nn.BatchNorm3d(width), nn.ReLU(), nn.MaxPool3d(pool)]
            previous = width
        self.features = nn.Sequential(*blocks)
        self.project = nn.Linear(previous, out_dim)
        self.in_channels = in_channels
        self.out_dim, self.token_dim = out_dim, previous

    def feature_map(self, video: torch.Tensor) -> torch.Tensor:
        _check_video(video, self.in_channels)
        if video.shape[1] < 2 or min(video.shape[-2:]) < 8:
            raise ValueError(f"expected at least 2 frames of at least 8×8 pixels, got {tuple(video.shape)}")
        return self.features(video.transpose(1, 2))  # (B, C, T, H, W) -> (B, C₃, T/2, H/8, W/8)

    def tokens(self, video: torch.Tensor) -> torch.Tensor:
        return self.feature_map(video).mean(dim=(3, 4)).transpose(1, 2)  # (B, T/2, C₃): one token per time step

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        return self.project(self.feature_map(video).mean(dim=(2, 3, 4)))  # (B, D)


class FrameMeanVideoEncoder(nn.Module):
    """Order-blind video baseline: f = W · (1/T) Σ_t Conv(x_t), the same :class:`SmallCNN` on every frame.

    Permuting the frames, e.g. playing the clip backwards, gives the same f.

    Args:
        out_dim: size D of the output feature.
        channels: channels of the frame CNN.
        image_size: H = W of the frames (divisible by 8).
        in_channels: C of the frames.
        frame_dim: size of each frame's CNN feature; ``None`` (default) makes it ``out_dim`` and drops W
            (f is the plain mean), else a linear map W takes the mean from frame_dim to out_dim.

    Shapes:
        video: (B, T, C, H, W) -> f: (B, D).
    """

    def __init__(self, out_dim: int = 64, channels: tuple[int, int, int] = (16, 32, 64), image_size: int = 32,
                 in_channels: int = 3, frame_dim: int | None = None):
        super().__init__()
        self.frame_encoder = SmallCNN(out_dim=frame_dim or out_dim, channels=channels, image_size=image_size,
                                      in_channels=in_channels)
        self.project = nn.Identity() if frame_dim is None else nn.Linear(frame_dim, out_dim)
        self.in_channels, self.out_dim = in_channels, out_dim

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        _check_video(video, self.in_channels)
        B, T = video.shape[:2]
        frames = self.frame_encoder(video.flatten(0, 1))  # (B·T, frame_dim): every frame through the same CNN
        return self.project(frames.view(B, T, -1).mean(dim=1))  # (B, D): the order of the frames is gone
