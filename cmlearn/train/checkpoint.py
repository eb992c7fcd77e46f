"""Checkpoints that survive a disconnect: atomic writes, safe loading, random-number states, resuming.

Holds :class:`CheckpointFolder` (``last.pt`` and ``best.pt`` of one :func:`cmlearn.train.fit` run, and the replay of
a resumed epoch), :func:`save_checkpoint` / :func:`load_checkpoint` / :func:`load_weights`, and the random-number
states a run draws from; ``cmlearn.CheckpointError`` and ``cmlearn.load_weights`` come from here. Used by
:func:`cmlearn.fit` when it is given a ``checkpoint_dir``, which no chapter's cell passes (their runs are short); chapter 12 (``12_scaling``) tells that under ``torchrun`` only rank 0 writes them.

A Colab runtime can vanish in the middle of an epoch. ``fit`` writes ``last.pt`` at the end of every epoch
(and every ``checkpoint_every`` steps); running the same cell again finds it and continues where it
stopped, replaying the same batches with the same random numbers, so the final numbers are those of an
uninterrupted run.

- **Atomic writes.** The state goes to a temporary file in the same folder, is flushed to the disk
  (``fsync``), and only then renamed over the old file with ``os.replace``, which the operating system
  does in one step: a kill during the write leaves the previous checkpoint whole.
- **Safe loading.** ``torch.load(weights_only=True)`` unpickles only tensors and plain containers, so a
  checkpoint from elsewhere cannot run code. A file that is not a readable cmlearn checkpoint raises
  :class:`CheckpointError` naming the file, and ``fit`` leaves it untouched.
- **Random-number states** of Python, NumPy, torch (CPU and CUDA) and the DataLoader's generator are
  saved, so a resumed run draws the same shuffles, dropout masks and augmentations.
- **Replay.** A checkpoint written in the middle of an epoch also holds the random states that epoch
  started from: :meth:`CheckpointFolder.start_epoch` restores them, draws the same shuffle, skips the
  batches already trained on, then restores the states of the moment of the checkpoint.

:class:`CheckpointFolder` puts these together for one run; :func:`load_weights` loads a checkpoint's
weights into a model, e.g. those of ``best.pt`` after early stopping.
"""

from __future__ import annotations

import contextlib
import os
import random
import tempfile
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cmlearn.train import distributed

FORMAT = "cmlearn-checkpoint"
VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be used: unreadable, foreign, or written by a different run."""


def save_checkpoint(state: dict, path: str | os.PathLike) -> Path:
    """Write ``state`` to ``path`` atomically (temporary file, fsync, rename).

    Args:
        state: tensors and plain Python values (dict, list, tuple, str, int, float, bool, None).
        path: the file; its folder is created if needed.

    Returns:
        The path written.
    """
    return atomic_save({"format": FORMAT, "version": VERSION, **state}, path)


def atomic_save(obj, path: str | os.PathLike) -> Path:
    """``torch.save(obj)`` to ``path`` so that the file is either the old one or the whole new one, never half.

    The bytes go to a temporary file in the same folder, reach the disk (fsync), and only then replace ``path``
    (``os.replace``); a write killed midway leaves the old file and a ``.*.pt.tmp`` (see :func:`remove_temporaries`).
    Used for checkpoints and for cached tensors (:func:`cmlearn.data.openmoji.cached_tensor`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The temporary file must be in the same folder: os.replace is atomic only within one file system.
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".pt.tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            torch.save(obj, file)
            file.flush()
            os.fsync(file.fileno())  # the bytes are on the disk before the name points at them
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_folder(path.parent)  # make the rename itself durable
    return path


def _fsync_folder(folder: Path) -> None:
    if os.name != "posix":  # Windows cannot open a folder for fsync; its rename is durable enough
        return
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def remove_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files that a write killed midway left in ``folder``; returns them."""
    stale = sorted(Path(folder).glob(".*.pt.tmp"))
    for path in stale:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return stale


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`, with ``torch.load(weights_only=True)``.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        CheckpointError: when the file is corrupt (e.g. cut short) or not a cmlearn checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    advice = "It was left untouched: move or delete it, or choose another checkpoint folder."
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises many types here: UnpicklingError, RuntimeError, EOFError, ...
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"cannot read checkpoint {path}: it is corrupt or not a PyTorch file ({reason}). {advice}") from error
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is a PyTorch file but not a cmlearn checkpoint (it has no format={FORMAT!r} entry). {advice}")
    if state.get("version") != VERSION:
        raise CheckpointError(f"{path} is a cmlearn checkpoint of version {state.get('version')}; this cmlearn reads version {VERSION}. {advice}")
    return state


def load_weights(model: nn.Module, path: str | os.PathLike) -> dict:
    """Load the model weights of a checkpoint (``last.pt`` or ``best.pt``) into ``model``.

    Returns:
        The checkpoint (its ``"epoch"`` and, for ``best.pt``, ``"monitor"`` and ``"value"`` say which state it is).

    Raises:
        CheckpointError: when the checkpoint is unreadable or its weights do not fit ``model``.
    """
    checkpoint = load_checkpoint(path)
    try:
        model.load_state_dict(checkpoint["model"])
    except (RuntimeError, KeyError) as error:
        raise CheckpointError(f"the weights in {path} do not fit this model: {error}") from error
    return checkpoint


def params_are_finite(model: nn.Module) -> bool:
    """True when no parameter of ``model`` holds a NaN or an infinity (checked before every save)."""
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


def loader_generators(loader) -> list[torch.Generator]:
    """The torch generators a DataLoader draws its shuffles from (its own and its sampler's, once each)."""
    generators = []
    for owner in (loader, getattr(loader, "sampler", None), getattr(loader, "batch_sampler", None)):
        generator = getattr(owner, "generator", None)
        if isinstance(generator, torch.Generator) and all(generator is not g for g in generators):
            generators.append(generator)
    return generators


def rng_state(generators: list[torch.Generator] = ()) -> dict:
    """Every random-number state a training step can draw from, as tensors and plain values.

    Args:
        generators: extra torch generators, such as a DataLoader's (see :func:`loader_generators`).
    """
    _, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "position": int(position),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached_gaussian)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else [],
        "generators": [generator.get_state() for generator in generators],
    }


def set_rng_state(state: dict, generators: list[torch.Generator] = ()) -> None:
    """Restore what :func:`rng_state` captured (the same generators, in the same order)."""
    if len(state["generators"]) != len(generators):
        raise CheckpointError(f"the checkpoint holds {len(state['generators'])} DataLoader generator state(s) but this loader has {len(generators)}")
    random.setstate(state["python"])
    numpy = state["numpy"]
    np.random.set_state(("MT19937", numpy["keys"].numpy().astype(np.uint32), numpy["position"], numpy["has_gauss"], numpy["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    for generator, saved in zip(generators, state["generators"]):
        generator.set_state(saved)


class CheckpointFolder:
    """The checkpoints of one :func:`cmlearn.train.fit` run: ``last.pt`` (to resume) and ``best.pt`` (weights).

    Under torch.distributed every rank calls the methods (their random states are gathered) and rank 0 writes.

    Args:
        folder: where the files go.
        config: the run's settings; a ``last.pt`` written with other settings is not resumed.
        generators: the torch generators the training loader shuffles with (:func:`loader_generators`); their
            states are saved and restored with the others.
    """

    def __init__(self, folder: str | os.PathLike, config: dict, generators: list[torch.Generator] = ()):
        self.folder = Path(folder)
        self.last, self.best = self.folder / "last.pt", self.folder / "best.pt"
        self.config = config
        self.generators = list(generators)
        self.last_good = "none written yet"
        self.resumed: dict | None = None  # the checkpoint resume() loaded, until start_epoch() has replayed it
        self.epoch_start_rng: dict | None = None  # random states at the start of the running epoch (saved mid-epoch)

    def resume(self, model, optimizer, scheduler, scaler) -> dict | None:
        """Load ``last.pt`` into the modules and return it; ``None`` when there is none yet.

        The next :meth:`start_epoch` then continues from it: the random states, and the batches already seen.
        """
        if distributed.is_main_process() and self.folder.is_dir():
            remove_temporaries(self.folder)
        if not self.last.exists():
            return None
        checkpoint = load_checkpoint(self.last)
        missing = {"train", "model", "optimizer", "scheduler", "scaler", "rng", "epoch_start_rng"} - checkpoint.keys()
        if missing:
            raise CheckpointError(f"{self.last} holds no training state to resume (it lacks {sorted(missing)}; best.pt holds weights only). "
                                  "Move it away or choose another checkpoint_dir (the file was left untouched).")
        saved = checkpoint.get("config", {})
        differences = [f"{key}: {saved.get(key)!r} in the checkpoint, {value!r} now" for key, value in self.config.items() if saved.get(key) != value]
        if differences:
            raise CheckpointError(
                f"{self.last} was written by a run with other settings ({'; '.join(differences)}). Rerun with the same "
                "settings to resume it, or choose another checkpoint_dir (the file was left untouched)."
            )
        try:
            model.load_state_dict(checkpoint["model"])
        except RuntimeError as error:
            raise CheckpointError(f"the weights in {self.last} do not fit this model (the file was left untouched): {error}") from error
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        if checkpoint["scaler"]:  # a disabled GradScaler saves {}
            scaler.load_state_dict(checkpoint["scaler"])
        self.last_good = self._describe(checkpoint["train"])
        self.resumed = checkpoint
        return checkpoint

    def start_epoch(self, loader, step: int = 0):
        """An iterator over the batches of the epoch about to start, ``step`` of them already trained on.

        Remembers the random states the epoch starts from (a mid-epoch :meth:`save` stores them). Right after
        :meth:`resume`, first restores the checkpoint's random states: saved at an epoch's end, they are those
        this epoch starts from; saved mid-epoch (``step`` > 0), it starts from the saved epoch's start states,
        draws the same shuffle, skips the ``step`` batches already trained on, then takes the checkpoint's states.

        Args:
            loader: the training loader (its generators are those given to the constructor).
            step: batches of this epoch already done (``TrainState.step``; 0 except when resuming mid-epoch).
        """
        resumed, self.resumed = self.resumed, None
        if resumed is not None:
            set_rng_state((resumed["epoch_start_rng"] if step else resumed["rng"])[distributed.rank()], self.generators)
        self.epoch_start_rng = rng_state(self.generators)
        batches = iter(loader)  # a DataLoader draws its shuffle from the generators here and at the first batch
        if resumed is not None and step:
            for _ in range(step):
                next(batches)
            set_rng_state(resumed["rng"][distributed.rank()], self.generators)
        return batches

    def _describe(self, train: dict) -> str:
        where = f"epoch {train['epoch'] + 1}, step {train['step']}" if train["step"] else f"end of epoch {train['epoch']}"
        return f"{self.last} ({where})"

    def save(self, model, optimizer, scheduler, scaler, state) -> None:
        """Write ``last.pt``: the modules' states, ``state`` (a dataclass with ``epoch`` and ``step``) and random states.

        Mid-epoch (``state.step`` > 0) it also stores the random states the epoch started from (:meth:`start_epoch`).
        """
        # Never replace a good checkpoint with a broken state.
        if not params_are_finite(model):
            raise FloatingPointError(f"the parameters hold NaN or infinite values; not saving them. Last good checkpoint: {self.last_good}")
        rng = distributed.gather_objects(rng_state(self.generators))  # one state per rank
        epoch_start = distributed.gather_objects(self.epoch_start_rng) if state.step else None
        if distributed.is_main_process():
            save_checkpoint({
                "config": self.config, "train": asdict(state), "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(), "rng": rng, "epoch_start_rng": epoch_start,
            }, self.last)
        self.last_good = self._describe(asdict(state))

    def save_best(self, model, epoch: int, monitor: str, value: float) -> None:
        """Write ``best.pt``: the weights after ``epoch``, where ``monitor`` reached ``value``."""
        if distributed.is_main_process() and params_are_finite(model):
            save_checkpoint({"config": self.config, "model": model.state_dict(), "epoch": epoch, "monitor": monitor, "value": value}, self.best)
