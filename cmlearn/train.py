"""Training loop shared by the chapters (chapter 1 onwards).

``fit`` trains any model whose loss a function can compute from a batch dict. It moves
batches to the device, runs the forward pass under the device's precision (autocast on
CUDA, float32 on CPU), shows a ``tqdm`` progress bar with the live loss, and returns the
history as a pandas DataFrame (one row per epoch).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm as auto_tqdm
from tqdm.std import tqdm as text_tqdm

from cmlearn.device import Precision, select_device


def progress_bar(**kwargs):
    """A tqdm bar: a widget in Jupyter/Colab when ipywidgets is installed, else plain text.

    ``tqdm.auto`` alone would warn "IProgress not found" in a notebook without ipywidgets
    (as when the book is executed at build time); the text bar is what we want there.
    """
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return text_tqdm(**kwargs)
    return auto_tqdm(**kwargs)


def move_to_device(batch: dict, device: torch.device) -> dict:
    """Copy every tensor of a batch dict to ``device``; other values pass through."""
    if not isinstance(batch, dict):
        raise TypeError(f"expected a batch dict such as {{'image': ..., 'input_ids': ...}}, got {type(batch).__name__}")
    return {key: value.to(device, non_blocking=True) if isinstance(value, torch.Tensor) else value for key, value in batch.items()}


def fit(
    model: nn.Module,
    loss_fn: Callable[[nn.Module, dict], torch.Tensor],
    train_loader,
    *,
    epochs: int,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    warmup_fraction: float = 0.05,
    device: str | torch.device | Precision = "auto",
    eval_fn: Callable[[nn.Module], dict[str, float]] | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Train ``model`` with AdamW for ``epochs`` passes over ``train_loader``.

    Args:
        model: the model; moved to the device.
        loss_fn: ``loss_fn(model, batch) -> scalar loss``, batch already on the device.
        train_loader: iterable of batch dicts.
        epochs: number of passes.
        lr, weight_decay: AdamW settings; the learning rate warms up linearly over the first
            ``warmup_fraction`` of the steps, then follows a cosine decay to zero.
        device: "auto", "cpu", "cuda" or a :class:`~cmlearn.device.Precision`.
        eval_fn: called after each epoch with the model in eval mode under ``torch.no_grad``;
            its dict of metrics joins that epoch's row of the history.
        progress: show a tqdm progress bar.

    Returns:
        DataFrame with columns ``epoch``, ``train_loss`` (mean over the epoch), ``seconds``
        and the keys ``eval_fn`` returns.

    Raises:
        FloatingPointError: when the loss becomes NaN or infinite (names the epoch and step).
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    precision = device if isinstance(device, Precision) else select_device(device)
    model.to(precision.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    total_steps = epochs * len(train_loader)
    warmup_steps = max(1, int(warmup_fraction * total_steps))
    # Linear warm-up, then cosine decay to zero (Loshchilov & Hutter 2017).
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: (step + 1) / warmup_steps if step < warmup_steps
        else 0.5 * (1 + math.cos(math.pi * (step - warmup_steps) / max(1, total_steps - warmup_steps))),
    )
    scaler = torch.amp.GradScaler(precision.device.type, enabled=precision.needs_grad_scaler)
    rows = []
    bar = progress_bar(total=epochs * len(train_loader), desc="training", unit="batch", disable=not progress)
    for epoch in range(1, epochs + 1):
        model.train()
        started, total, count = time.perf_counter(), 0.0, 0
        for step, batch in enumerate(train_loader, start=1):
            batch = move_to_device(batch, precision.device)
            with precision.autocast():
                loss = loss_fn(model, batch)
            if not math.isfinite(loss.item()):
                bar.close()
                raise FloatingPointError(f"loss became {loss.item()} at epoch {epoch}, step {step}; training stopped")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            total, count = total + loss.item(), count + 1
            bar.update(1)
            bar.set_postfix(epoch=epoch, loss=f"{loss.item():.3f}")
        row = {"epoch": epoch, "train_loss": total / count, "seconds": time.perf_counter() - started}
        if eval_fn is not None:
            model.eval()
            with torch.no_grad(), precision.autocast():
                row.update(eval_fn(model))
        rows.append(row)
    bar.close()
    return pd.DataFrame(rows)
