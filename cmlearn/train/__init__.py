"""Training: the loop every chapter runs, its epochs, checkpoints, and training on several processes.

Used in chapters 1-12 (``01_background`` to ``12_scaling``) as ``cmlearn.fit``; chapter 12 (``12_scaling``) also
trains under ``torchrun`` (:mod:`cmlearn.scripts.train_ddp`). One module per part:

- :mod:`cmlearn.train.loop` — :func:`fit` and the learning-rate schedule :func:`warmup_cosine`;
- :mod:`cmlearn.train.epoch` — one epoch: :func:`train_epoch` (the pass over the batches) and :func:`end_epoch`
  (validation, history row, early stopping, checkpoints), and :class:`TrainState`;
- :mod:`cmlearn.train.checkpoint` — atomic checkpoints, random-number states, resuming mid-epoch;
- :mod:`cmlearn.train.distributed` — the same training under ``torchrun`` with gathered negatives;
- :mod:`cmlearn.train.stacked` — several seeds of a small model trained together as one batched model.
"""

from cmlearn.train import distributed
from cmlearn.train.checkpoint import (
    CheckpointError,
    CheckpointFolder,
    load_checkpoint,
    load_weights,
    loader_generators,
    params_are_finite,
    remove_temporaries,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from cmlearn.train.distributed import LossModule, gather_features, shard_loader, wrap_ddp
from cmlearn.train.epoch import (
    Progress,
    TrainingRun,
    TrainState,
    end_epoch,
    progress_bar,
    train_epoch,
    update_early_stopping,
    validation_loss,
)
from cmlearn.train.loop import fit, warmup_cosine
from cmlearn.train.stacked import StackedBatches, StackedSeeds

__all__ = [
    "CheckpointError", "CheckpointFolder", "LossModule", "Progress", "StackedBatches", "StackedSeeds", "TrainState", "TrainingRun", "distributed",
    "end_epoch", "fit", "gather_features", "load_checkpoint", "load_weights", "loader_generators",
    "params_are_finite", "progress_bar", "remove_temporaries", "rng_state", "save_checkpoint", "set_rng_state", "shard_loader",
    "train_epoch", "update_early_stopping", "validation_loss", "warmup_cosine", "wrap_ddp",
]
