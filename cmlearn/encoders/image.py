"""Image feature extractors, f(x) = Conv(x; W_c) + b_c (article §3.2.1).

Used in chapters 1, 2, 3, 4, 5, 6, 7, 8 and 10.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cmlearn.encoders.common import freeze_


def _check_images(x: torch.Tensor, channels: int) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"expected images as a torch.Tensor (B, {channels}, H, W), got {type(x).__name__}")
    if x.ndim != 4 or x.shape[1] != channels:
        raise ValueError(f"expected images of shape (B, {channels}, H, W), got {tuple(x.shape)}")


class SmallCNN(nn.Module):
    """A small convolutional image encoder: three conv blocks, then a linear layer.

    Each block is f(x) = Conv(x; W_c) + b_c, batch norm, ReLU and 2×2 max pooling,
    so a 32×32 image becomes a (C₃, 4, 4) feature map. The map is flattened rather
    than averaged: averaging would throw away *where* things are, and captions such as
    "a red circle left of a blue square" are about where things are.

    Args:
        out_dim: size D of the output feature.
        channels: channels of the three conv blocks.
        image_size: H = W of the input (divisible by 8).
        in_channels: C of the input.

    Shapes:
        x: (B, C, H, W) float in [0, 1]  ->  f: (B, D)
    """

    def __init__(
        self,
        out_dim: int = 128,
        channels: tuple[int, int, int] = (16, 32, 64),
        image_size: int = 32,
        in_channels: int = 3,
    ):
        super().__init__()
        if image_size % 8:
            raise ValueError(f"image_size must be divisible by 8 (three 2x2 poolings), got {image_size}")
        self.in_channels = in_channels
        blocks, previous = [], in_channels
        for width in channels:
            blocks += [
                nn.Conv2d(previous, width, kernel_size=3, padding=1),  # Conv(x; W_c) + b_c
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            previous = width
        self.features = nn.Sequential(*blocks)
        cells = (image_size // 8) ** 2
        self.project = nn.Linear(previous * cells, out_dim)
        self.out_dim = out_dim

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """The last conv block's output, (B, C₃, H/8, W/8)."""
        _check_images(x, self.in_channels)
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feature_map = self.feature_map(x)  # (B, C3, H/8, W/8)
        return self.project(feature_map.flatten(1))  # (B, D)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """The feature map as cells for token-level fusion, (B, C₃, H/8, W/8) (positions are added there)."""
        return self.feature_map(x)

    @property
    def token_dim(self) -> int:
        """C₃, the channels of :meth:`tokens`."""
        return [m for m in self.features if isinstance(m, nn.Conv2d)][-1].out_channels


def conv2d_by_hand(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, stride: int = 1, padding: int = 0
) -> torch.Tensor:
    """f(x) = Conv(x; W_c) + b_c written out: every output cell is a dot product with one patch.

    ``F.unfold`` cuts x into the (C·k·k)-long patches a k×k filter sees, and the convolution
    is then a single matrix product with the filters flattened the same way:

    .. math::

        f_{b,o,p} = \\sum_{c,i,j} W_{o,c,i,j}\\, x_{b,c,\\,p+(i,j)} + b_o

    Args:
        x: (B, C, H, W) input.
        weight: (O, C, k, k) filters W_c (e.g. ``conv.weight``).
        bias: (O,) b_c or None.
        stride, padding: as for ``nn.Conv2d``.

    Returns:
        (B, O, H', W') with H' = (H + 2·padding − k) // stride + 1, equal to ``F.conv2d``.
    """
    _check_images(x, weight.shape[1])
    out_channels, _, kh, kw = weight.shape
    B, _, H, W = x.shape
    H_out = (H + 2 * padding - kh) // stride + 1
    W_out = (W + 2 * padding - kw) // stride + 1
    patches = F.unfold(x, (kh, kw), padding=padding, stride=stride)  # (B, C·k·k, H'·W')
    out = weight.reshape(out_channels, -1) @ patches  # (B, O, H'·W')
    if bias is not None:
        out = out + bias[:, None]
    return out.reshape(B, out_channels, H_out, W_out)


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class TorchvisionImageEncoder(nn.Module):
    """A torchvision backbone as the image extractor f(x): ResNet-18/50 or MobileNetV2.

    The ImageNet classifier is kept aside (``classify``) and ``forward`` returns the pooled
    last feature map, optionally projected to ``out_dim``. Inputs are images in [0, 1], like
    :class:`SmallCNN`'s; the ImageNet mean/std normalisation the weights expect happens inside.

    Args:
        arch: ``"resnet18"``, ``"resnet50"`` or ``"mobilenet_v2"``.
        pretrained: load torchvision's ImageNet weights through torchvision's own loader
            (``weights=...IMAGENET1K_...``). MobileNetV2's file is installed offline by
            :func:`cmlearn.encoders.pretrained.install_offline_image_weights`; ResNets download (Colab).
        out_dim: size D of the output feature; ``None`` keeps the backbone's width
            (512, 2048 or 1280).
        freeze: freeze the backbone (see :func:`cmlearn.encoders.common.freeze_`); a projection
            to ``out_dim`` stays trainable.
        allow_download: whether torchvision may download a missing weight file; ``None`` means
            "unless HF_HUB_OFFLINE or CMLEARN_OFFLINE is set".

    Shapes:
        x: (B, 3, H, W) in [0, 1]  ->  f: (B, D); ``feature_map(x)``: (B, F, H/32, W/32).
    """

    def __init__(
        self,
        arch: str = "resnet18",
        pretrained: bool = False,
        out_dim: int | None = None,
        freeze: bool = False,
        allow_download: bool | None = None,
    ):
        super().__init__()
        from cmlearn.encoders.pretrained import torchvision_backbone  # on first use: keeps torchvision's import lazy

        self.arch = arch
        self.in_channels = 3
        self.body, self.classifier, feature_dim = torchvision_backbone(arch, pretrained, allow_download)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        if freeze:
            freeze_(self.body)
            freeze_(self.classifier)
        self.feature_dim = self.token_dim = feature_dim
        self.project = nn.Identity() if out_dim is None else nn.Linear(feature_dim, out_dim)
        self.out_dim = feature_dim if out_dim is None else out_dim

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """The backbone's last feature map, (B, F, H/32, W/32)."""
        _check_images(x, self.in_channels)
        return self.body((x - self.mean) / self.std)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        return self.feature_map(x)

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        return self.feature_map(x).mean(dim=(2, 3))  # (B, F): global average pooling, as torchvision does

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(self.pooled(x))  # (B, D)

    def pooled_blocks(self, x: torch.Tensor, blocks: tuple[int, ...]) -> torch.Tensor:
        """The global-average-pooled outputs of several blocks of the body, concatenated: (B, Σ channels).

        Early blocks keep colour and texture, late ones the kind of object; ``blocks`` index ``self.body``
        (MobileNetV2: 0-18, the last being the 1280-channel map that ``pooled`` averages).
        """
        _check_images(x, self.in_channels)
        if not blocks or min(blocks) < 0 or max(blocks) >= len(self.body):
            raise ValueError(f"expected block indices in [0, {len(self.body) - 1}], got {blocks}")
        h, parts = (x - self.mean) / self.std, []
        for i, block in enumerate(self.body[: max(blocks) + 1]):
            h = block(h)
            if i in blocks:
                parts.append(h.mean(dim=(2, 3)))
        return torch.cat(parts, dim=1)

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits (B, 1000) through the backbone's own classifier (meaningful when pretrained)."""
        return self.classifier(self.pooled(x))
