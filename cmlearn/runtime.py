"""Where and how a chapter runs: device and precision, seeding, glue, and the time it took.

Used in chapters 1-12:

* :func:`select_device` resolves ``device="auto"`` to CUDA when present (with mixed precision: bfloat16
  where the GPU supports it, else float16 with a gradient scaler), otherwise the CPU in float32; Apple's
  MPS only when asked for by name. The result, a :class:`Precision`, is what :func:`cmlearn.fit` takes.
* :func:`seed_everything` seeds Python's ``random``, NumPy and torch (CPU and every CUDA device) and
  returns a ``torch.Generator`` for DataLoader shuffling: the same seed gives the same numbers on the
  same machine, run after run.
* :func:`glue` hands a value computed in a chapter to the book's prose (MyST-NB's ``{glue:text}`` role),
  so that every number the book states comes from the run that rendered it. Without MyST-NB (Colab,
  plain Jupyter) it does nothing: the chapter's own cells print the value.
* :func:`cpu_seconds` and :class:`Stopwatch`: the wall-clock and CPU time a chapter (or a part) took.
"""

from __future__ import annotations

import contextlib
import random
import resource
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

try:  # present when the book is built (jupyter-book installs myst-nb)
    from myst_nb import glue as _myst_glue
except ImportError:  # Colab, plain Jupyter, a script
    _myst_glue = None


def glue(name: str, value: Any, display: bool = False) -> None:
    """Make ``value`` available to the book's text as ``{glue:text}`name```.

    Without MyST-NB installed this is a no-op (and shows ``value`` when ``display`` is True).
    """
    if _myst_glue is not None:
        _myst_glue(name, value, display=display)
    elif display:
        from IPython.display import display as show

        show(value)


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


def cpu_seconds(children: bool = False) -> float:
    """CPU time (user + system, all threads) this process has used so far, in seconds.

    With ``children=True`` also that of the child processes it started and waited for (e.g. ``torchrun``).
    """
    usage = resource.getrusage(resource.RUSAGE_SELF)
    total = usage.ru_utime + usage.ru_stime
    if children:
        waited = resource.getrusage(resource.RUSAGE_CHILDREN)
        total += waited.ru_utime + waited.ru_stime
    return total


class Stopwatch:
    """Wall-clock and CPU seconds since it was made (or last :meth:`restart`).

    ``str(stopwatch)`` reads "42 s (80 CPU-seconds)", the line a chapter prints at its end::

        clock = Stopwatch()
        ...  # train
        print(f"chapter ran in {clock}")

    Args:
        children: also count the CPU time of child processes started and waited for (see :func:`cpu_seconds`).
    """

    def __init__(self, children: bool = False):
        self.children = children
        self.restart()

    @property
    def wall(self) -> float:
        """Wall-clock seconds elapsed."""
        return time.perf_counter() - self.started_wall

    @property
    def cpu(self) -> float:
        """CPU seconds used since the start (all threads; child processes too with ``children=True``)."""
        return cpu_seconds(self.children) - self.started_cpu

    def restart(self) -> None:
        self.started_wall, self.started_cpu = time.perf_counter(), cpu_seconds(self.children)

    def __str__(self) -> str:
        return f"{self.wall:.0f} s ({self.cpu:.0f} CPU-seconds)"
