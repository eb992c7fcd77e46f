"""The batch contract: what a batch dict holds, per modality, and which modalities a sample has.

Used in chapters 2, 4, 5, 6, 7, 8, 9, 10 and 11.
A batch is the flat dict the data loaders make; each modality reads its inputs from it by name
(:data:`MODALITY_INPUTS`): ``image`` (B, C, H, W); ``input_ids`` and ``attention_mask`` (B, T) for
``text``; ``audio`` (B, N); ``video`` (B, T, C, H, W). A *modality mask* ``{modality: (B,) bool}`` says
which samples have each modality (True = present); :func:`modality_dropout_mask` draws one for training.
:func:`predict` runs a model over N samples in batches (evaluation), slicing and moving any batch structure;
:func:`tensor_loader` serves batches of rows of a dict of tensors (training).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import torch
from torch.utils.data import DataLoader, RandomSampler

MODALITY_INPUTS: dict[str, tuple[str, ...]] = {
    "image": ("image",),
    "text": ("input_ids", "attention_mask"),
    "audio": ("audio",),
    "video": ("video",),
}


def check_modalities(names) -> None:
    """Raise a ValueError naming every modality of ``names`` that is not a key of MODALITY_INPUTS."""
    unknown = [m for m in names if m not in MODALITY_INPUTS]
    if unknown:
        raise ValueError(f"unknown modality {unknown}; expected names from {list(MODALITY_INPUTS)}")


def modality_inputs(batch: dict, modality: str) -> list[torch.Tensor]:
    """The tensors of ``batch`` that ``modality``'s extractor reads, in order (keys from MODALITY_INPUTS)."""
    keys = MODALITY_INPUTS[modality]
    missing = [k for k in keys if k not in batch]
    if missing:
        raise KeyError(f"batch is missing {missing} for modality {modality!r}: expected keys {list(keys)}, got {sorted(batch)}")
    return [batch[k] for k in keys]


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


def modality_dropout_mask(batch_size: int, modalities: Sequence[str], p: float,
                          generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """Drop each modality of each sample with probability ``p``, keeping at least one per sample.

    Training a fused model under such masks (``model(batch, mask=...)``) teaches it to predict from
    whatever is present. Samples that lost every modality get one back, drawn uniformly.

    Returns:
        {modality: (B,) bool, True = present}.
    """
    if not 0.0 <= p < 1.0:
        raise ValueError(f"p must be a probability in [0, 1), got {p!r}")
    if len(modalities) < 2:
        raise ValueError(f"modality dropout needs at least two modalities, got {list(modalities)}")
    present = torch.rand(batch_size, len(modalities), generator=generator) >= p  # (B, M)
    keep = torch.randint(len(modalities), (batch_size,), generator=generator)  # (B,) the one to restore
    empty = ~present.any(dim=1)
    present[empty, keep[empty]] = True
    return {m: present[:, i] for i, m in enumerate(modalities)}


def slice_batch(inputs, start: int, stop: int):
    """Rows start:stop of every tensor in ``inputs`` (a tensor, or a dict/tuple/list of them, nested); other values pass."""
    if isinstance(inputs, torch.Tensor):
        return inputs[start:stop]
    if isinstance(inputs, dict):
        return {key: slice_batch(value, start, stop) for key, value in inputs.items()}
    if isinstance(inputs, (tuple, list)):
        return type(inputs)(slice_batch(value, start, stop) for value in inputs)
    return inputs


def batch_to(inputs, device: torch.device):
    """``inputs`` (a tensor, or a dict/tuple/list of them, nested) with every tensor moved to ``device``."""
    if isinstance(inputs, torch.Tensor):
        return inputs.to(device, non_blocking=True)
    if isinstance(inputs, dict):
        return {key: batch_to(value, device) for key, value in inputs.items()}
    if isinstance(inputs, (tuple, list)):
        return type(inputs)(batch_to(value, device) for value in inputs)
    return inputs


def _first_tensor(inputs) -> torch.Tensor | None:
    if isinstance(inputs, torch.Tensor):
        return inputs
    values = inputs.values() if isinstance(inputs, dict) else inputs if isinstance(inputs, (tuple, list)) else ()
    for value in values:
        found = _first_tensor(value)
        if found is not None:
            return found
    return None


def _gather(parts: list):
    """Concatenate the per-batch outputs along the batch axis, keeping their structure (tensor, tuple, dict)."""
    first = parts[0]
    if isinstance(first, torch.Tensor):
        return torch.cat(parts)
    if isinstance(first, dict):
        return {key: _gather([p[key] for p in parts]) for key in first}
    if isinstance(first, (tuple, list)):
        return type(first)(_gather([p[i] for p in parts]) for i in range(len(first)))
    raise TypeError(f"expected the forward function to return tensors (or a tuple/dict of them), got {type(first).__name__}")


def _to_cpu_float(output):
    if isinstance(output, torch.Tensor):
        return output.float().cpu() if output.is_floating_point() else output.cpu()
    if isinstance(output, dict):
        return {key: _to_cpu_float(value) for key, value in output.items()}
    if isinstance(output, (tuple, list)):
        return type(output)(_to_cpu_float(value) for value in output)
    raise TypeError(f"expected the forward function to return tensors (or a tuple/dict of them), got {type(output).__name__}")


@torch.no_grad()
def predict(model: torch.nn.Module, inputs, forward=None, *, batch_size: int = 512, precision=None):
    """Run ``model`` over N samples in batches, in eval mode and without gradients; outputs on the CPU.

    Args:
        model: the module; put in eval mode for the call (its train/eval mode is restored afterwards).
        inputs: (N, ...) tensors: one tensor, or a dict (a batch dict, the usual case) or tuple of them.
            Each batch is rows start:start + batch_size of every tensor, moved to the model's device.
        forward: ``forward(model, batch) -> output``; default ``model(batch)``. The output may be a tensor
            or a tuple/dict of tensors (e.g. ``lambda m, b: m(b).y`` for a :class:`cmlearn.FourPartModel`).
        batch_size: samples per batch (results can depend on it in the last bits of float arithmetic).
        precision: a :class:`cmlearn.Precision`: its device and autocast; default the model's device, float32.

    Returns:
        The outputs of all batches concatenated along the first axis, floats as float32, on the CPU,
        with the structure ``forward`` returns.
    """
    first = _first_tensor(inputs)
    if first is None:
        raise TypeError(f"expected inputs as a tensor or a dict/tuple of (N, ...) tensors, got {type(inputs).__name__}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if precision is not None:
        device, autocast = precision.device, precision.autocast
    else:
        parameter = next(model.parameters(), None)
        device = parameter.device if parameter is not None else torch.device("cpu")
        autocast = contextlib.nullcontext
    forward = forward or (lambda module, batch: module(batch))
    was_training = model.training
    model.eval()
    parts = []
    try:
        for start in range(0, first.shape[0], batch_size):
            batch = batch_to(slice_batch(inputs, start, start + batch_size), device)
            with autocast():
                parts.append(_to_cpu_float(forward(model, batch)))
    finally:
        model.train(was_training)
    return _gather(parts)


def tensor_loader(tensors: dict[str, torch.Tensor], batch_size: int, generator: torch.Generator | None = None,
                  shuffle: bool = True, drop_last: bool = True, samples_per_epoch: int | None = None) -> DataLoader:
    """Batch dicts of rows of equally long tensors, ``{key: (N, ...)}`` -> batches ``{key: (B, ...)}``.

    Rows are taken with one index per batch (no per-sample dicts), so it is as fast as slicing; the batch
    order is that of a ``DataLoader`` over N items with the same ``generator``. With ``samples_per_epoch``
    (<= N, shuffled only) an epoch is that many rows drawn without replacement, a fresh draw each epoch:
    loaders over sets of different sizes then have the same number of batches (e.g. seeds trained together).
    """
    if not isinstance(tensors, dict) or not tensors:
        raise TypeError(f"expected a non-empty dict of (N, ...) tensors, got {type(tensors).__name__}")
    lengths = {key: len(value) for key, value in tensors.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"expected tensors with the same number of rows N, got {lengths}")
    n = next(iter(lengths.values()))
    collate = lambda rows: {key: value[rows] for key, value in tensors.items()}  # noqa: E731
    if samples_per_epoch is None:
        return DataLoader(range(n), batch_size=batch_size, shuffle=shuffle, drop_last=drop_last, generator=generator,
                          collate_fn=collate)
    if not shuffle or not 1 <= samples_per_epoch <= n:
        raise ValueError(f"samples_per_epoch needs shuffle=True and 1 <= samples_per_epoch <= N = {n}, got {samples_per_epoch}")
    sampler = RandomSampler(range(n), num_samples=samples_per_epoch, generator=generator)
    return DataLoader(range(n), batch_size=batch_size, sampler=sampler, drop_last=drop_last, collate_fn=collate)
