"""The training engine shared by the chapters (chapter 1 onwards).

``fit`` trains any model whose loss a function can compute from a batch dict. It moves batches to the
device, runs the forward pass under the device's precision (bfloat16/float16 autocast on CUDA, float32
on CPU), shows a ``tqdm`` bar with the live loss, and returns the history as a pandas DataFrame, one row
per epoch (plot it with :func:`cmlearn.plot.training_curves`). Options add validation, early stopping,
gradient clipping, checkpoints that survive a disconnect (:mod:`cmlearn.checkpoint`) and training on
several processes (:mod:`cmlearn.distributed`).
"""

from __future__ import annotations

import math
import numbers
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch
from torch import nn
from tqdm.std import tqdm as text_tqdm

from cmlearn import distributed
from cmlearn.checkpoint import CheckpointFolder, loader_generators, rng_state, set_rng_state
from cmlearn.device import Precision, select_device

NOTEBOOK_TEXT_BAR_INTERVAL = 10.0  # seconds between redraws of a text bar inside a notebook


def progress_bar(**kwargs):
    """A tqdm bar: a widget in Jupyter/Colab when ipywidgets is installed, else plain text.

    ``tqdm.auto`` alone would warn "IProgress not found" in a notebook without ipywidgets
    (as when the book is executed at build time); the text bar is what we want there. A
    saved notebook keeps every redraw of a text bar as a line of output (the rendered book
    does not collapse carriage returns), so inside a kernel the text bar redraws only every
    ``NOTEBOOK_TEXT_BAR_INTERVAL`` seconds; in a terminal it redraws as usual.
    """
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        if "ipykernel" in sys.modules:
            kwargs = {"mininterval": NOTEBOOK_TEXT_BAR_INTERVAL, "miniters": 1, **kwargs}
        return text_tqdm(**kwargs)
    from tqdm.auto import tqdm as auto_tqdm  # imported here: importing it warns when ipywidgets is missing

    return auto_tqdm(**kwargs)


def move_to_device(batch: dict, device: torch.device) -> dict:
    """Copy every tensor of a batch dict to ``device``; other values pass through."""
    if not isinstance(batch, dict):
        raise TypeError(f"expected a batch dict such as {{'image': ..., 'input_ids': ...}}, got {type(batch).__name__}")
    return {key: value.to(device, non_blocking=True) if isinstance(value, torch.Tensor) else value for key, value in batch.items()}


def check_batch(batch: dict, required_keys: Sequence[str] | None = None, where: str = "") -> None:
    """Raise a clear error for a batch whose modalities do not pair up.

    Args:
        batch: ``{key: tensor (B, ...) or list of B items}``; every such value must have the same B.
        required_keys: keys that every batch must have (``None``: no check).
        where: the position named in the message, e.g. ``"epoch 2, step 7"``.

    Raises:
        TypeError: when ``batch`` is not a dict.
        ValueError: for missing keys, or values with different batch sizes.
    """
    if not isinstance(batch, dict):
        raise TypeError(f"{where}: expected a batch dict such as {{'image': ..., 'input_ids': ...}}, got {type(batch).__name__}")
    if required_keys is not None:
        missing = [key for key in required_keys if key not in batch]
        if missing:
            raise ValueError(f"{where}: the batch is missing key(s) {missing}; it has {sorted(batch)}")
    sizes = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor):
            if value.ndim > 0:
                sizes[key] = value.shape[0]
        elif isinstance(value, (list, tuple)):
            sizes[key] = len(value)
    if len(set(sizes.values())) > 1:
        described = ", ".join(f"{key}: {size}" for key, size in sizes.items())
        raise ValueError(f"{where}: the modalities of a batch must have the same batch size B (dimension 0), got {described}")


def warmup_cosine(step: int, warmup_steps: int, total_steps: int) -> float:
    """Learning-rate factor: linear warm-up to 1, then cosine decay to 0 (Loshchilov & Hutter 2017)."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    return 0.5 * (1 + math.cos(math.pi * (step - warmup_steps) / max(1, total_steps - warmup_steps)))


@dataclass
class TrainState:
    """Where training stands; saved in every checkpoint so a rerun continues from here."""

    epoch: int = 0  # epochs finished
    step: int = 0  # batches done in the unfinished epoch
    global_step: int = 0
    history: list = field(default_factory=list)  # one dict per finished epoch
    loss_sum: float = 0.0  # over the batches of the unfinished epoch
    seconds: float = 0.0  # training time of the unfinished epoch so far
    best: float | None = None  # best value of the monitored metric
    bad_epochs: int = 0  # epochs since it last improved
    stopped: bool = False  # early stopping fired


def _plain(value):
    """A metric as a plain Python number (a checkpoint loaded with weights_only=True holds no NumPy scalars)."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    return value


def _validation_loss(model, loss_fn, val_loader, precision: Precision, required_keys) -> float:
    """Mean of ``loss_fn`` over the validation batches (over every rank's share under torch.distributed)."""
    total, count = 0.0, 0
    with torch.no_grad(), precision.autocast():
        for step, batch in enumerate(val_loader, start=1):
            check_batch(batch, required_keys, f"validation step {step}")
            total, count = total + loss_fn(model, move_to_device(batch, precision.device)).item(), count + 1
    total, count = distributed.sum_over_ranks(total, count, device=precision.device)
    return total / max(count, 1)


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
    val_loader=None,
    max_grad_norm: float | None = None,
    early_stopping: int | None = None,
    monitor: str = "val_loss",
    mode: str = "min",
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int | None = None,
    required_keys: Sequence[str] | None = None,
    on_step: Callable[[dict], None] | None = None,
) -> pd.DataFrame:
    """Train ``model`` with AdamW for ``epochs`` passes over ``train_loader``.

    Args:
        model: the model; moved to the device.
        loss_fn: ``loss_fn(model, batch) -> scalar loss``, batch already on the device.
        train_loader: iterable of batch dicts with a ``len``, e.g. a DataLoader.
        epochs: number of passes.
        lr, weight_decay: AdamW settings; the learning rate warms up linearly over the first
            ``warmup_fraction`` of the steps, then follows a cosine decay to zero (:func:`warmup_cosine`).
        device: "auto", "cpu", "cuda", "mps" or a :class:`~cmlearn.device.Precision`; "auto" takes CUDA with
            bfloat16 autocast (float16 with a GradScaler on older GPUs) when present, else the CPU in float32.
        eval_fn: chapter-specific evaluation, called after each epoch with the model in eval mode under
            ``torch.no_grad``; its dict of metrics joins that epoch's row of the history.
        progress: show a tqdm bar with the live loss and the last epoch's metrics, and messages.
        val_loader: batches for a ``val_loss`` column: the mean of ``loss_fn`` over them after each epoch.
        max_grad_norm: clip the gradient norm to this value (``None``: no clipping).
        early_stopping: stop after this many epochs without improvement of ``monitor`` (``None``: never).
        monitor, mode: the history column that decides early stopping and ``best.pt`` ("val_loss" or a key
            of ``eval_fn``), and whether lower ("min") or higher ("max") is better.
        checkpoint_dir: folder for ``last.pt``, written atomically at each epoch's end (and every
            ``checkpoint_every`` steps), and ``best.pt`` (weights of the best epoch by ``monitor``). When
            ``last.pt`` exists, the same call resumes from it: model, optimizer, scheduler, scaler, random
            states, epoch and step, replaying the same batches (the run must use the same settings).
            A finished run's checkpoint returns its history at once.
        checkpoint_every: also checkpoint every this many steps, inside an epoch.
        required_keys: keys every batch must have; with or without them, a batch whose tensors (and lists)
            have different batch sizes raises a ValueError naming the step.
        on_step: called after each optimizer step (before that step's checkpoint) with
            ``{"epoch", "step", "global_step", "loss", "lr"}``; ``step`` counts within the epoch, from 1.

    Returns:
        DataFrame with columns ``epoch``, ``train_loss`` (mean over the epoch's batches), ``val_loss``
        (with ``val_loader``), ``seconds`` (training time of the epoch) and the keys ``eval_fn`` returns.

    Raises:
        FloatingPointError: when the loss becomes NaN or infinite; names the epoch, the step and the last good checkpoint.
        CheckpointError: when ``checkpoint_dir`` holds a corrupt, foreign or mismatched ``last.pt`` (left untouched).
        RuntimeError: for ``device="cuda"`` on a machine without CUDA.

    Surviving a disconnect: give a ``checkpoint_dir`` and, after reconnecting, run the same cell again.
    On Colab put the folder on Google Drive (``/content/drive/MyDrive/...``): a new runtime starts with
    an empty disk. ::

        history = cmlearn.fit(model, loss_fn, loader, epochs=8, checkpoint_dir="runs/01", checkpoint_every=200)

    Several processes (DistributedDataParallel): put the training in a script, seeded the same on every
    process, and launch it with ``torchrun``::

        torchrun --nproc_per_node 4 train.py                 # the 4 GPUs of one machine (NCCL)
        torchrun --standalone --nproc_per_node 2 train.py    # 2 CPU processes (gloo), e.g. to test

    ``fit`` then joins the process group, uses GPU ``LOCAL_RANK``, wraps ``LossModule(model, loss_fn)`` in
    DDP, gives each rank its share of ``train_loader`` and ``val_loader`` through a DistributedSampler (so
    ``batch_size`` is per process), averages the loss over the ranks, and lets only rank 0 show progress
    and write checkpoints. ``eval_fn`` runs on every rank with identical weights, so all ranks agree on
    early stopping. :meth:`cmlearn.align.DualEncoder.contrastive_loss` gathers the negatives of all ranks.
    End the script with ``torch.distributed.destroy_process_group()``.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    if early_stopping is not None and monitor == "val_loss" and val_loader is None:
        raise ValueError("early_stopping monitors 'val_loss', which needs val_loader=...; or monitor one of eval_fn's keys")
    if checkpoint_every is not None and (checkpoint_dir is None or checkpoint_every < 1):
        raise ValueError(f"checkpoint_every needs checkpoint_dir and must be >= 1, got {checkpoint_every}")
    precision = device if isinstance(device, Precision) else select_device(device)
    precision = distributed.setup(precision)  # joins torchrun's process group, if there is one
    world_size, main_process = distributed.world_size(), distributed.is_main_process()
    model.to(precision.device)
    if world_size > 1:
        train_loader = distributed.shard_loader(train_loader)
        val_loader = distributed.shard_loader(val_loader, shuffle=False) if val_loader is not None else None
    if not hasattr(train_loader, "__len__"):
        raise TypeError(f"train_loader needs a len() (the learning-rate schedule is planned over epochs x batches), got {type(train_loader).__name__}")
    steps_per_epoch = len(train_loader)
    if steps_per_epoch == 0:
        raise ValueError("train_loader is empty (len 0): there is nothing to train on")
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    total_steps = epochs * steps_per_epoch
    warmup_steps = max(1, int(warmup_fraction * total_steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: warmup_cosine(step, warmup_steps, total_steps))
    scaler = torch.amp.GradScaler(precision.device.type, enabled=precision.needs_grad_scaler)

    state, saved, generators = TrainState(), None, loader_generators(train_loader)
    checkpoints = None
    if checkpoint_dir is not None:
        config = {"epochs": epochs, "steps_per_epoch": steps_per_epoch, "lr": lr, "weight_decay": weight_decay,
                  "warmup_fraction": warmup_fraction, "max_grad_norm": max_grad_norm, "world_size": world_size}
        checkpoints = CheckpointFolder(checkpoint_dir, config)
        saved = checkpoints.resume(model, optimizer, scheduler, scaler)
        if saved is not None:
            state = TrainState(**saved["train"])
    # DDP must see the forward pass to average gradients: wrap the model together with its loss function.
    compute_loss = distributed.wrap_ddp(model, loss_fn, precision.device) if world_size > 1 else (lambda batch: loss_fn(model, batch))

    bar = progress_bar(total=total_steps, initial=state.epoch * steps_per_epoch + state.step, desc="training", unit="batch",
                       disable=not (progress and main_process))
    if saved is not None and progress and main_process:
        bar.write(f"resuming from {checkpoints.last_good}")
    postfix, next_postfix = {}, 0.0
    try:
        while state.epoch < epochs and not state.stopped:
            epoch = state.epoch + 1
            sampler = getattr(train_loader, "sampler", None)
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(epoch)  # DistributedSampler: a new shuffle each epoch
            if saved is not None:
                # Saved at an epoch's end, the random states are those this epoch starts from; saved mid-epoch,
                # start from the epoch's start, replay the shuffle up to the checkpoint, then take its states.
                set_rng_state((saved["epoch_start_rng"] if state.step else saved["rng"])[distributed.rank()], generators)
            epoch_start_rng = rng_state(generators) if checkpoints is not None else None
            batches = iter(train_loader)  # a DataLoader draws its shuffle from the generators here and at the first batch
            if saved is not None:
                if state.step:
                    for _ in range(state.step):
                        next(batches)
                    set_rng_state(saved["rng"][distributed.rank()], generators)
                saved = None
            model.train()
            started = time.perf_counter() - state.seconds
            for batch in batches:
                state.step += 1
                where = f"epoch {epoch}, step {state.step}"
                check_batch(batch, required_keys, where)
                batch = move_to_device(batch, precision.device)
                with precision.autocast():
                    loss = compute_loss(batch)
                if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
                    raise TypeError(f"{where}: loss_fn must return a scalar tensor, got {getattr(loss, 'shape', type(loss).__name__)}")
                loss_value = distributed.mean_over_ranks(loss.detach()) if world_size > 1 else loss.item()
                if not math.isfinite(loss_value):
                    raise FloatingPointError(f"loss became {loss_value} at {where} (global step {state.global_step + 1}); "
                                             f"training stopped. Last good checkpoint: {checkpoints.last_good if checkpoints else 'none (pass checkpoint_dir=... to keep one)'}")
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if max_grad_norm is not None:
                    scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
                    nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                state.loss_sum += loss_value
                state.global_step += 1
                if not bar.disable and time.perf_counter() >= next_postfix:  # formatting costs; the bar redraws ~10 times/s
                    bar.set_postfix({"epoch": epoch, "loss": f"{loss_value:.3f}"} | postfix, refresh=False)
                    next_postfix = time.perf_counter() + 0.1
                bar.update(1)
                if on_step is not None:
                    on_step({"epoch": epoch, "step": state.step, "global_step": state.global_step, "loss": loss_value,
                             "lr": scheduler.get_last_lr()[0]})
                if checkpoint_every and state.global_step % checkpoint_every == 0 and state.step < steps_per_epoch:
                    state.seconds = time.perf_counter() - started
                    checkpoints.save(model, optimizer, scheduler, scaler, state, epoch_start_rng, generators)
            seconds = time.perf_counter() - started
            row = {"epoch": epoch, "train_loss": state.loss_sum / state.step}
            model.eval()
            if val_loader is not None:
                row["val_loss"] = _validation_loss(model, loss_fn, val_loader, precision, required_keys)
            row["seconds"] = seconds
            if eval_fn is not None:
                with torch.no_grad(), precision.autocast():
                    row.update({key: _plain(value) for key, value in eval_fn(model).items()})
            state.history.append(row)
            _update_early_stopping(state, row, monitor, mode, early_stopping, checkpoints, model, bar if progress and main_process else None)
            state.epoch, state.step, state.loss_sum, state.seconds = epoch, 0, 0.0, 0.0
            if checkpoints is not None:
                checkpoints.save(model, optimizer, scheduler, scaler, state, None, generators)
            postfix = {key: f"{value:.3g}" for key, value in row.items() if key not in ("epoch", "train_loss", "seconds")
                       and isinstance(value, float)}
    finally:
        bar.close()
    return pd.DataFrame(state.history)


def _update_early_stopping(state: TrainState, row: dict, monitor: str, mode: str, patience: int | None, checkpoints, model, bar) -> None:
    """Track the best value of ``row[monitor]``, write ``best.pt`` when it improves, and stop after ``patience`` bad epochs."""
    if monitor not in row:
        if patience is not None:
            raise ValueError(f"early_stopping monitors {monitor!r}, which is not among this epoch's columns {list(row)}")
        return
    value = row[monitor]
    if state.best is None or (value < state.best if mode == "min" else value > state.best):
        state.best, state.bad_epochs = value, 0
        if checkpoints is not None:
            checkpoints.save_best(model, row["epoch"], monitor, value)
        return
    state.bad_epochs += 1
    if patience is not None and state.bad_epochs >= patience:
        state.stopped = True
        if bar is not None:
            bar.write(f"early stopping after epoch {row['epoch']}: {monitor} has not improved for {patience} epoch(s) (best {state.best:.4g})")
