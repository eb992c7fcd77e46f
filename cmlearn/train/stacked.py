"""Several seeds of one small model trained as one batched model: pay for seeds with one pass.

Used in chapter 4 (``04_fusion``), which trains every fuser once per seed, and chapter 11 (``11_real_emoji``). The S copies (same architecture,
each from its own seed's initial draw) become one module whose every trainable tensor has a leading seed
axis, (S, ...) (``torch.func.stack_module_state``); ``torch.func.vmap`` runs copy s on batch s of a
:class:`StackedBatches`, and the loss is the sum of the copies' losses,

.. math::

    \\mathcal{L}(\\theta_1, \\dots, \\theta_S) = \\sum_{s=1}^{S} \\mathcal{L}_s(\\theta_s; \\text{batch}_s),
    \\qquad \\frac{\\partial \\mathcal{L}}{\\partial \\theta_s} = \\frac{\\partial \\mathcal{L}_s}{\\partial \\theta_s}.

AdamW updates each number on its own, so with the same learning rate every copy gets the updates it would
get trained alone (up to float rounding); gradient clipping would couple them and is not allowed with it.
A model with dropout needs ``randomness="different"`` (each copy draws its own masks) or ``"same"`` (one mask per
step for all copies, which on a CPU costs far less): the masks come from the stack's one random stream, so they are
not those a copy would draw trained alone (its initial weights and batches are).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap


class _LossOf(nn.Module):
    """``forward(batch) = loss_fn(model, batch)``: the loss as a module, so functional_call can swap its weights."""

    def __init__(self, model: nn.Module, loss_fn: Callable[[nn.Module, dict], torch.Tensor]):
        super().__init__()
        self.model, self.loss_fn = model, loss_fn

    def forward(self, batch: dict) -> torch.Tensor:
        return self.loss_fn(self.model, batch)


class StackedSeeds(nn.Module):
    """The S seed copies of one model as one module, for :func:`cmlearn.fit` with a :class:`StackedBatches` loader.

    Args:
        copies: S models of one architecture, each built after seeding with its own seed.
        loss_fn: ``loss_fn(model, batch) -> scalar``, the loss of one copy on one batch (as for ``fit``).
        shared: names of submodules all copies share and that are not trained (e.g. frozen extractors):
            their buffers are not stacked; every copy uses the first copy's.
        randomness: ``torch.func.vmap``'s rule for random operations in the loss: ``"error"`` (the default:
            a model without dropout), ``"different"`` (dropout: each copy its own masks) or ``"same"`` (one
            mask per step, shared by the copies, which see different batches).

    ``stacked.loss(batches)`` takes a dict of (S, B, ...) tensors and returns the sum of the S losses;
    :meth:`unstack` writes copy s's trained tensors back into ``copies[s]`` and returns the copies.
    """

    def __init__(self, copies: Sequence[nn.Module], loss_fn: Callable[[nn.Module, dict], torch.Tensor],
                 shared: Sequence[str] = (), randomness: str = "error"):
        super().__init__()
        if randomness not in ("error", "different", "same"):
            raise ValueError(f"expected randomness 'error', 'different' or 'same', got {randomness!r}")
        self.randomness = randomness
        if len(copies) < 1 or len({type(c) for c in copies}) != 1:
            raise ValueError(f"expected one or more copies of one model class, got {[type(c).__name__ for c in copies]}")
        self.copies = list(copies)  # a plain list, not submodules: their weights live in self.weights
        self.objective = _LossOf(copy.deepcopy(copies[0]).requires_grad_(False), loss_fn)  # the architecture functional_call runs
        weights, buffers = stack_module_state(list(copies))
        self.names = [name for name, p in copies[0].named_parameters() if p.requires_grad]
        self.weights = nn.ParameterList([nn.Parameter(weights[name].detach()) for name in self.names])  # (S, ...) each
        self.buffer_names = [name for name in buffers if not any(name.startswith(f"{prefix}.") for prefix in shared)]
        for i, name in enumerate(self.buffer_names):  # e.g. BatchNorm's running statistics, one set per copy
            self.register_buffer(f"buffer_{i}", buffers[name])

    def loss(self, batches: dict) -> torch.Tensor:
        """Σ_s loss_fn(copy s, batch s) for a dict of (S, B, ...) tensors."""
        weights = {f"model.{name}": w for name, w in zip(self.names, self.weights, strict=True)}
        buffers = {f"model.{name}": getattr(self, f"buffer_{i}") for i, name in enumerate(self.buffer_names)}

        def one_copy(weights, buffers, batch):
            return functional_call(self.objective, (weights, buffers), (batch,))

        return vmap(one_copy, randomness=self.randomness)(weights, buffers, batches).sum()

    @torch.no_grad()
    def unstack(self) -> list[nn.Module]:
        """Copy s's trained tensors back into ``copies[s]`` (on this module's device); returns the S copies."""
        device = self.weights[0].device
        for s, model in enumerate(self.copies):
            state = {name: w[s] for name, w in zip(self.names, self.weights, strict=True)}
            state.update({name: getattr(self, f"buffer_{i}")[s] for i, name in enumerate(self.buffer_names)})
            model.load_state_dict(state, strict=False)  # strict=False: frozen and shared parts are not in `state`
        return [model.to(device) for model in self.copies]


class StackedBatches:
    """S loaders in step: each step takes batch s from loader s and stacks them into (S, B, ...) tensors.

    Each loader keeps its own shuffling generator, so copy s sees the batch order it would see trained alone.
    """

    def __init__(self, loaders: Sequence[Iterable[dict]]):
        lengths = {len(loader) for loader in loaders}
        if not loaders or len(lengths) != 1:
            raise ValueError(f"expected one or more loaders with the same number of batches, got lengths {sorted(lengths)}")
        self.loaders = list(loaders)

    def __len__(self) -> int:
        return len(self.loaders[0])

    def __iter__(self):
        for batches in zip(*self.loaders, strict=True):
            yield {key: torch.stack([batch[key] for batch in batches]) for key in batches[0]}
