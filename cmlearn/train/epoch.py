"""One epoch of :func:`cmlearn.train.fit`: the pass over the training batches, then the epoch's end.

Holds the two steps ``fit`` repeats, :func:`train_epoch` (forward under the device's precision, backward,
gradient clipping, optimizer and learning-rate steps, ``on_step``, mid-epoch checkpoints) and :func:`end_epoch`
(validation loss, ``eval_fn`` metrics, the history row, early stopping, ``best.pt`` and ``last.pt``); what they
work on, :class:`TrainingRun` (fixed for the run) and :class:`TrainState` (where training stands, saved in every
checkpoint). Batches are checked and moved by :func:`cmlearn.batch.check_batch` and
:func:`cmlearn.batch.move_to_device`. Used by ``cmlearn.fit`` (chapters 1-10 and 12).
"""

from __future__ import annotations

import math
import numbers
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.std import tqdm as text_tqdm

from cmlearn.batch import check_batch, move_to_device
from cmlearn.runtime import Precision
from cmlearn.train import distributed
from cmlearn.train.checkpoint import CheckpointFolder

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


class Progress:
    """The bar of one ``fit`` call: one tick per batch with the live loss and the last epoch's metrics, and messages.

    Args:
        total, initial: batches of the whole run, and those already done (a resumed run).
        enabled: show the bar and the messages (``progress=True``, and rank 0 under torch.distributed).
    """

    def __init__(self, total: int, initial: int = 0, enabled: bool = True):
        self.bar = progress_bar(total=total, initial=initial, desc="training", unit="batch", disable=not enabled)
        self.enabled = enabled
        self.metrics: dict = {}  # the last epoch's metrics, shown after the live loss
        self.next_postfix = 0.0

    def step(self, epoch: int, loss: float) -> None:
        """One batch done with this loss."""
        if not self.bar.disable and time.perf_counter() >= self.next_postfix:  # formatting costs; the bar redraws ~10 times/s
            self.bar.set_postfix({"epoch": epoch, "loss": f"{loss:.3f}"} | self.metrics, refresh=False)
            self.next_postfix = time.perf_counter() + 0.1
        self.bar.update(1)

    def show_metrics(self, row: dict) -> None:
        """Show an epoch's floats other than its training loss (validation loss, ``eval_fn`` metrics) from now on."""
        self.metrics = {key: f"{value:.3g}" for key, value in row.items() if key not in ("epoch", "train_loss", "seconds")
                        and isinstance(value, float)}

    def write(self, message: str) -> None:
        if self.enabled:
            self.bar.write(message)

    def close(self) -> None:
        self.bar.close()


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


@dataclass
class TrainingRun:
    """What stays fixed during one ``fit`` call: the model and its loss, the optimizer, and the options of an epoch.

    ``compute_loss(batch)`` is ``loss_fn(model, batch)``, through DistributedDataParallel under torch.distributed
    (``None``: called directly). The other fields are ``fit``'s arguments of the same names; ``early_stopping``
    is the patience, and ``steps_per_epoch`` the ``len`` of the training loader.
    """

    model: nn.Module
    loss_fn: Callable[[nn.Module, dict], torch.Tensor]
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    precision: Precision
    steps_per_epoch: int
    compute_loss: Callable[[dict], torch.Tensor] | None = None
    world_size: int = 1
    max_grad_norm: float | None = None
    required_keys: Sequence[str] | None = None
    on_step: Callable[[dict], None] | None = None
    val_loader: Iterable | None = None
    eval_fn: Callable[[nn.Module], dict[str, float]] | None = None
    monitor: str = "val_loss"
    mode: str = "min"
    early_stopping: int | None = None
    checkpoints: CheckpointFolder | None = None
    checkpoint_every: int | None = None

    def __post_init__(self):
        if self.compute_loss is None:
            model, loss_fn = self.model, self.loss_fn
            self.compute_loss = lambda batch: loss_fn(model, batch)

    def last_good(self) -> str:
        """The last checkpoint written, for error messages."""
        return self.checkpoints.last_good if self.checkpoints else "none (pass checkpoint_dir=... to keep one)"


def train_epoch(run: TrainingRun, state: TrainState, batches: Iterable[dict], progress: Progress | None = None) -> float:
    """Train on ``batches``, the (rest of the) epoch ``state.epoch + 1``: one optimizer step per batch.

    Per batch: check it, move it to the device, ``loss = compute_loss(batch)`` under the precision's autocast,
    backward (through the GradScaler), clip the gradient norm to ``max_grad_norm``, step the optimizer and the
    learning-rate schedule, call ``on_step``, and every ``checkpoint_every`` global steps (not at the epoch's last
    batch, which :func:`end_epoch` saves) write ``last.pt``. ``state.step``, ``state.global_step``,
    ``state.loss_sum`` and ``state.seconds`` advance as it goes.

    Returns:
        The epoch's training loss, ``state.loss_sum / state.step``: the mean over all its batches (those before a
        resume included), averaged over the ranks under torch.distributed.

    Raises:
        FloatingPointError: when the loss is NaN or infinite (naming the step and the last good checkpoint).
    """
    epoch = state.epoch + 1
    run.model.train()
    started = time.perf_counter() - state.seconds
    for batch in batches:
        state.step += 1
        where = f"epoch {epoch}, step {state.step}"
        check_batch(batch, run.required_keys, where)
        batch = move_to_device(batch, run.precision.device)
        with run.precision.autocast():
            loss = run.compute_loss(batch)
        if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
            raise TypeError(f"{where}: loss_fn must return a scalar tensor, got {getattr(loss, 'shape', type(loss).__name__)}")
        loss_value = distributed.mean_over_ranks(loss.detach()) if run.world_size > 1 else loss.item()
        if not math.isfinite(loss_value):
            raise FloatingPointError(f"loss became {loss_value} at {where} (global step {state.global_step + 1}); "
                                     f"training stopped. Last good checkpoint: {run.last_good()}")
        run.optimizer.zero_grad(set_to_none=True)
        run.scaler.scale(loss).backward()
        if run.max_grad_norm is not None:
            run.scaler.unscale_(run.optimizer)  # clip the true gradients, not the scaled ones
            nn.utils.clip_grad_norm_(run.model.parameters(), run.max_grad_norm)
        run.scaler.step(run.optimizer)
        run.scaler.update()
        run.scheduler.step()
        state.loss_sum += loss_value
        state.global_step += 1
        if progress is not None:
            progress.step(epoch, loss_value)
        if run.on_step is not None:
            run.on_step({"epoch": epoch, "step": state.step, "global_step": state.global_step, "loss": loss_value,
                         "lr": run.scheduler.get_last_lr()[0]})
        if run.checkpoint_every and state.global_step % run.checkpoint_every == 0 and state.step < run.steps_per_epoch:
            state.seconds = time.perf_counter() - started
            run.checkpoints.save(run.model, run.optimizer, run.scheduler, run.scaler, state)
    state.seconds = time.perf_counter() - started
    return state.loss_sum / state.step


def end_epoch(run: TrainingRun, state: TrainState, train_loss: float, progress: Progress | None = None) -> dict:
    """Finish epoch ``state.epoch + 1`` after :func:`train_epoch`: evaluate, record, decide, save.

    With the model in eval mode: the mean validation loss over ``val_loader`` and the metrics of ``eval_fn``
    (under ``torch.no_grad``) join ``{"epoch", "train_loss", "seconds"}`` in a history row; the monitored
    column updates early stopping and ``best.pt`` (:func:`update_early_stopping`); ``state`` moves to the
    next epoch and ``last.pt`` is written.

    Returns:
        The row appended to ``state.history``: ``epoch``, ``train_loss``, ``val_loss`` (with ``val_loader``),
        ``seconds`` (training time of the epoch, validation excluded), then the keys of ``eval_fn``.
    """
    epoch = state.epoch + 1
    row = {"epoch": epoch, "train_loss": train_loss}
    run.model.eval()
    if run.val_loader is not None:
        row["val_loss"] = validation_loss(run)
    row["seconds"] = state.seconds
    if run.eval_fn is not None:
        with torch.no_grad(), run.precision.autocast():
            row.update({key: _plain(value) for key, value in run.eval_fn(run.model).items()})
    state.history.append(row)
    update_early_stopping(state, row, run.monitor, run.mode, run.early_stopping, run.checkpoints, run.model, progress)
    state.epoch, state.step, state.loss_sum, state.seconds = epoch, 0, 0.0, 0.0
    if run.checkpoints is not None:
        run.checkpoints.save(run.model, run.optimizer, run.scheduler, run.scaler, state)
    if progress is not None:
        progress.show_metrics(row)
    return row


def validation_loss(run: TrainingRun) -> float:
    """Mean of ``loss_fn`` over the validation batches (over every rank's share under torch.distributed)."""
    total, count = 0.0, 0
    with torch.no_grad(), run.precision.autocast():
        for step, batch in enumerate(run.val_loader, start=1):
            check_batch(batch, run.required_keys, f"validation step {step}")
            total, count = total + run.loss_fn(run.model, move_to_device(batch, run.precision.device)).item(), count + 1
    total, count = distributed.sum_over_ranks(total, count, device=run.precision.device)
    return total / max(count, 1)


def update_early_stopping(state: TrainState, row: dict, monitor: str, mode: str, patience: int | None,
                          checkpoints: CheckpointFolder | None = None, model: nn.Module | None = None, progress: Progress | None = None) -> None:
    """Track the best value of ``row[monitor]``, write ``best.pt`` when it improves, and stop after ``patience`` bad epochs.

    An epoch is bad when ``row[monitor]`` is not strictly better than ``state.best`` (lower for ``mode="min"``,
    higher for ``"max"``); ``state.stopped`` becomes True after ``patience`` bad epochs in a row.
    """
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
        if progress is not None:
            progress.write(f"early stopping after epoch {row['epoch']}: {monitor} has not improved for {patience} epoch(s) (best {state.best:.4g})")


def _plain(value):
    """A metric as a plain Python number (a checkpoint loaded with weights_only=True holds no NumPy scalars)."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    return value
