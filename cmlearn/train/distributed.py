"""Several processes, one model: torch.distributed for :func:`cmlearn.train.fit` and the contrastive loss.

Holds the rank helpers (:func:`world_size`, :func:`rank`, :func:`setup`, ...), :func:`shard_loader`,
:func:`wrap_ddp` and :func:`gather_features`. Used by chapter 12 through
:mod:`cmlearn.scripts.train_ddp` launched with ``torchrun --nproc_per_node N`` (see :func:`cmlearn.train.fit`);
every ``cmlearn.fit`` call asks it whether ``torchrun`` started the process, and the chapters' contrastive loss
(:meth:`cmlearn.DualEncoder.loss`) gathers through it. A single process never calls into
``torch.distributed`` and every function here is then the identity.

Two ideas live here:

1. **Data parallelism** (DistributedDataParallel, DDP): each of the W processes ("ranks") holds a copy of
   the model, trains on its own shard of every batch, and DDP averages the gradients over the ranks
   during ``backward``, so the copies stay equal. :func:`shard_loader` gives each rank its shard and
   :func:`wrap_ddp` makes the loss function a module DDP can watch.
2. **Gathered negatives** for contrastive learning (article §3.2.2): with B pairs per rank, each rank
   sees only B - 1 negatives per pair, but the W·B embeddings of all ranks together give W·B - 1.
   :func:`gather_features` collects them, keeping the gradient of this rank's own rows (open_clip's
   ``gather_features``, Cherti et al. 2023), so the negatives grow with the number of GPUs.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import BatchSampler, DataLoader, DistributedSampler, IterableDataset, RandomSampler

from cmlearn.runtime import Precision


def world_size() -> int:
    """W, the number of processes training together (1 without torch.distributed)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    """This process's index in 0..W-1 (0 without torch.distributed)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main_process() -> bool:
    """True on rank 0, the process that shows progress and writes checkpoints."""
    return rank() == 0


def setup(precision: Precision) -> Precision:
    """Join the process group that ``torchrun`` describes in the environment, if any.

    ``torchrun`` sets ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; with
    ``WORLD_SIZE`` > 1 this initialises ``torch.distributed`` (NCCL between GPUs, gloo on CPUs) unless the
    script already did. On CUDA each rank then uses GPU ``LOCAL_RANK``.

    Args:
        precision: the device and precision chosen for a single process.

    Returns:
        The precision on this rank's device (``precision`` itself without torch.distributed).
    """
    if not dist.is_initialized():
        if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
            return precision
        dist.init_process_group(backend="nccl" if precision.device.type == "cuda" else "gloo")
    if precision.device.type != "cuda":
        return precision
    local_rank = int(os.environ.get("LOCAL_RANK", rank() % torch.cuda.device_count()))
    torch.cuda.set_device(local_rank)
    return Precision(device=torch.device("cuda", local_rank), amp_dtype=precision.amp_dtype)


class _ScaleGradient(torch.autograd.Function):
    """Identity forward; multiplies the gradient by ``factor`` on the way back."""

    @staticmethod
    def forward(ctx, features: torch.Tensor, factor: float) -> torch.Tensor:
        ctx.factor = factor
        return features.view_as(features)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad * ctx.factor, None


def _gather_rows(features: torch.Tensor) -> torch.Tensor:
    """(B, ...) on each rank -> (W·B, ...) in rank order; only this rank's rows carry gradient (times W)."""
    shards = [torch.empty_like(features) for _ in range(world_size())]
    dist.all_gather(shards, features.detach().contiguous())  # all_gather itself does not back-propagate
    # Put back the tensor with the autograd graph in this rank's slot, its gradient scaled by W (see gather_features).
    shards[rank()] = _ScaleGradient.apply(features, float(world_size()))
    return torch.cat(shards)  # (W·B, ...)


def gather_features(image_features: torch.Tensor, text_features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """All ranks' embeddings, in rank order, for a contrastive loss over W·B pairs.

    Every rank computes the *same* loss L over all W·B pairs. Rows from other ranks are constants here;
    this rank's rows are the input tensors themselves, so the gradient ∂L/∂h of its own pairs flows back
    into its encoders (the other rows get their gradient on their own rank). DDP then *averages* the
    parameter gradients over the W ranks, which would leave (1/W)·∂L/∂θ; so the gradient of the local
    rows is multiplied by W on the way back, and the averaged gradient equals that of one process on the
    combined batch. (``logit_scale`` needs no factor: each rank already gets the whole ∂L/∂logit_scale.)

    Args:
        image_features: (B, D) on this rank.
        text_features: (B, D) on this rank; B must be the same on every rank.

    Returns:
        (image features (W·B, D), text features (W·B, D)); the inputs unchanged when W = 1.
    """
    if world_size() == 1:
        return image_features, text_features
    return _gather_rows(image_features), _gather_rows(text_features)


def mean_over_ranks(value: torch.Tensor) -> float:
    """The mean of a scalar over all ranks, as a Python float (``value.item()`` when W = 1)."""
    if world_size() == 1:
        return value.item()
    total = value.detach().float().reshape(1).clone()
    dist.all_reduce(total)
    return total.item() / world_size()


def sum_over_ranks(*values: float, device: torch.device | str = "cpu") -> list[float]:
    """Add Python numbers over all ranks, e.g. a validation loss total and its batch count."""
    if world_size() == 1:
        return list(values)
    total = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(total)
    return total.tolist()


def gather_objects(obj) -> list:
    """``[obj of rank 0, obj of rank 1, ...]`` on every rank (``[obj]`` when W = 1)."""
    if world_size() == 1:
        return [obj]
    gathered = [None] * world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def broadcast_object(obj):
    """Rank 0's ``obj`` on every rank."""
    if world_size() == 1:
        return obj
    holder = [obj]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def barrier() -> None:
    """Wait until every rank arrives here (no-op when W = 1)."""
    if world_size() > 1:
        dist.barrier()


class LossModule(nn.Module):
    """A model and its loss function as one module, ``forward(batch) = loss_fn(model, batch)``.

    DDP synchronises gradients only for computations that pass through its own ``forward``; a chapter's
    loss often calls a method such as ``model.loss(batch)`` instead of ``model(batch)``.
    Wrapping the pair makes any ``loss_fn(model, batch)`` go through DDP unchanged.
    """

    def __init__(self, model: nn.Module, loss_fn: Callable[[nn.Module, dict], torch.Tensor]):
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn

    def forward(self, batch: dict) -> torch.Tensor:
        return self.loss_fn(self.model, batch)


def wrap_ddp(model: nn.Module, loss_fn: Callable[[nn.Module, dict], torch.Tensor], device: torch.device) -> DistributedDataParallel:
    """``DDP(LossModule(model, loss_fn))``: call it with a batch to get the loss; backward averages gradients."""
    device_ids = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else None
    return DistributedDataParallel(LossModule(model, loss_fn), device_ids=device_ids)


def shard_loader(loader, *, shuffle: bool | None = None):
    """This rank's share of a DataLoader: the same settings with a :class:`DistributedSampler`.

    Each of the W ranks gets every W-th sample (reshuffled each epoch with ``sampler.set_epoch``, the
    same permutation on every rank), so one step trains on W·batch_size samples in all.

    Args:
        loader: a ``DataLoader`` over a map-style dataset. A loader that already has a DistributedSampler,
            and any other iterable (assumed to be sharded by the caller), comes back unchanged.
        shuffle: shuffle the samples; ``None`` keeps what the loader did (a RandomSampler shuffles).

    Returns:
        A DataLoader whose ``len`` is the number of steps per epoch on each rank.
    """
    if world_size() == 1 or not isinstance(loader, DataLoader) or isinstance(loader.sampler, DistributedSampler):
        return loader
    if isinstance(loader.dataset, IterableDataset) or type(loader.batch_sampler) is not BatchSampler:
        raise ValueError(
            "cannot shard this DataLoader across processes automatically (it has an iterable dataset or a custom "
            "batch sampler); give it a torch.utils.data.DistributedSampler yourself"
        )
    if shuffle is None:
        shuffle = isinstance(loader.sampler, RandomSampler)
    # DistributedSampler needs the same seed on every rank: rank 0's decides.
    seed = loader.generator.initial_seed() if loader.generator is not None else torch.initial_seed()
    sampler = DistributedSampler(
        loader.dataset, num_replicas=world_size(), rank=rank(), shuffle=shuffle,
        seed=broadcast_object(seed % 2**62), drop_last=loader.drop_last,
    )
    return DataLoader(
        loader.dataset, batch_size=loader.batch_size, sampler=sampler, num_workers=loader.num_workers,
        collate_fn=loader.collate_fn, pin_memory=loader.pin_memory, drop_last=loader.drop_last, timeout=loader.timeout,
        worker_init_fn=loader.worker_init_fn, multiprocessing_context=loader.multiprocessing_context,
        generator=loader.generator, prefetch_factor=loader.prefetch_factor, persistent_workers=loader.persistent_workers,
    )
