"""Where a chapter runs: the device and its numeric precision.

Used by every chapter's first cells. ``device="auto"`` picks CUDA when present (with
mixed precision: bfloat16 where the GPU supports it, else float16 with a gradient
scaler), otherwise the CPU in float32. Apple's MPS is used only when asked for by name.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

VALID_DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass(frozen=True)
class Precision:
    """How a forward pass is computed on a device.

    Attributes:
        device: the torch device.
        amp_dtype: dtype for ``torch.autocast`` (None means plain float32).
        needs_grad_scaler: True for float16 autocast, whose small gradients underflow
            without a ``torch.amp.GradScaler``.
    """

    device: torch.device
    amp_dtype: torch.dtype | None

    @property
    def needs_grad_scaler(self) -> bool:
        return self.amp_dtype == torch.float16

    def autocast(self):
        """Context manager for the forward pass: autocast on CUDA, a no-op on CPU."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def describe(self) -> str:
        if self.device.type == "cuda":
            name = torch.cuda.get_device_name(self.device)
            return f"cuda ({name}), mixed precision {str(self.amp_dtype).removeprefix('torch.')}"
        if self.device.type == "mps":
            return "mps (Apple GPU), float32"
        return f"cpu ({torch.get_num_threads()} threads), float32"


def select_device(device: str | torch.device = "auto", mixed_precision: bool = True) -> Precision:
    """Resolve ``device`` ("auto", "cpu", "cuda", "cuda:1", "mps") to a :class:`Precision`.

    Raises:
        ValueError: for an unknown device name.
        RuntimeError: when a device is asked for by name but is not available here.
    """
    if isinstance(device, torch.device):
        name = device.type
    elif isinstance(device, str):
        name = device.split(":")[0]
    else:
        raise TypeError(f"device must be a str or torch.device, got {type(device).__name__}")
    if name not in VALID_DEVICES:
        raise ValueError(f"device must be one of {VALID_DEVICES} (optionally 'cuda:N'), got {device!r}")
    if name == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
        name = device
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"device={device!r} was requested but CUDA is not available on this machine "
            "(torch.cuda.is_available() is False). Use device='auto' or 'cpu'; on Colab choose "
            "Runtime > Change runtime type > GPU."
        )
    if name == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise RuntimeError(f"device={device!r} was requested but MPS is not available on this machine")
    torch_device = torch.device(device)
    amp_dtype = None
    if torch_device.type == "cuda" and mixed_precision:
        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return Precision(device=torch_device, amp_dtype=amp_dtype)
