"""What every fusion module checks: the modalities it was built for, one batch size, and the mask.

A batch of shared-space features is a ``dict[str, Tensor]`` keyed by modality name
(``"image"``, ``"text"``, ``"audio"``, ``"video"``). A *mask* is a ``dict[str, BoolTensor (B,)]``
that is True where sample b has that modality; a modality left out of the mask is present
everywhere. A fusion replaces a missing modality's features by zeros (or leaves it out of a
sum) before anything else, so its values cannot reach z.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

Features = dict[str, torch.Tensor]
Mask = dict[str, torch.Tensor]


def check_features(features: Features, modalities: Iterable[str], dims: dict[str, int] | None = None) -> int:
    """Check a feature dict against the modalities a fusion was built for; return the batch size B.

    Args:
        features: modality name -> tensor whose first axis is the batch.
        modalities: the names the module expects, all of them.
        dims: if given, modality -> D_m; each tensor must then be (B, D_m).

    Raises:
        TypeError: features is not a dict of tensors.
        ValueError: an unknown modality, a missing one, batch sizes that differ, or a wrong shape.
    """
    modalities = list(modalities)
    if not isinstance(features, dict):
        raise TypeError(f"expected features as a dict {{modality: tensor}} with keys {modalities}, got {type(features).__name__}")
    unknown = [m for m in features if m not in modalities]
    if unknown:
        raise ValueError(f"unknown modality {unknown}: this fusion was built for {modalities}, got keys {list(features)}")
    missing = [m for m in modalities if m not in features]
    if missing:
        raise ValueError(
            f"features for {missing} are missing: expected keys {modalities}, got {list(features)} "
            "(to leave a modality out for some samples, pass any tensor and mark it absent in mask)"
        )
    for m in modalities:
        if not isinstance(features[m], torch.Tensor):
            raise TypeError(f"expected features[{m!r}] to be a torch.Tensor, got {type(features[m]).__name__}")
    sizes = {m: features[m].shape[0] if features[m].ndim else None for m in modalities}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"expected the same batch size B for every modality, got {sizes}")
    if dims is not None:
        for m, d in dims.items():
            if features[m].ndim != 2 or features[m].shape[1] != d:
                raise ValueError(f"expected {m} features of shape (B, {d}), got {tuple(features[m].shape)}")
    return next(iter(sizes.values()))


def resolve_mask(
    mask: Mask | None, modalities: Iterable[str], batch_size: int, device: torch.device, require_one: bool = True
) -> Mask:
    """Complete a mask: every modality gets a (B,) bool tensor; unlisted modalities are all present.

    Raises:
        ValueError: an unknown modality in the mask, a wrong shape, or (``require_one``) a sample
            with no modality present at all.
    """
    modalities = list(modalities)
    mask = {} if mask is None else mask
    if not isinstance(mask, dict):
        raise TypeError(f"expected mask as a dict {{modality: bool tensor (B,)}}, got {type(mask).__name__}")
    unknown = [m for m in mask if m not in modalities]
    if unknown:
        raise ValueError(f"mask names unknown modality {unknown}; expected a subset of {modalities}")
    full = {}
    for m in modalities:
        if m not in mask or mask[m] is None:
            full[m] = torch.ones(batch_size, dtype=torch.bool, device=device)
            continue
        present = torch.as_tensor(mask[m], device=device)
        if present.shape != (batch_size,):
            raise ValueError(f"expected mask[{m!r}] of shape ({batch_size},), got {tuple(present.shape)}")
        full[m] = present.bool()
    if require_one:
        none_present = ~torch.stack([full[m] for m in modalities]).any(dim=0)
        if none_present.any():
            rows = torch.nonzero(none_present).flatten().tolist()
            raise ValueError(f"sample(s) {rows[:5]} have no modality present; expected at least one of {modalities}")
    return full


def zero_missing(x: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """x where present, zeros elsewhere (``torch.where``, so NaN placeholders do not leak)."""
    shape = (-1,) + (1,) * (x.ndim - 1)
    return torch.where(present.view(shape), x, torch.zeros((), dtype=x.dtype, device=x.device))
