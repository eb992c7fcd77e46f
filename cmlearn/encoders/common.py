"""Helpers every extractor shares: freezing a pretrained tower, and a tower whose outputs were computed once.

Used in chapters 4, 5, 6 and 7.

A frozen extractor keeps its weights (``requires_grad=False``) *and* stays in eval mode
when the model around it is put in training mode, so that batch-norm running statistics
learned on ImageNet are not overwritten by a few small batches of our data.
"""

from __future__ import annotations

import torch
from torch import nn


def freeze_(module: nn.Module) -> nn.Module:
    """Freeze ``module`` in place: no gradients, and eval mode even under ``model.train()``.

    Returns the module, so ``encoder = freeze_(SmallCNN())`` reads naturally.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"expected an nn.Module to freeze, got {type(module).__name__}")
    module.requires_grad_(False)
    module.eval()
    if not getattr(module, "frozen", False):
        module.register_forward_pre_hook(_force_eval)  # model.train() on a parent is undone at the next forward
    module.frozen = True
    return module


def _force_eval(module: nn.Module, args) -> None:
    if module.training:
        module.eval()


def is_frozen(module: nn.Module) -> bool:
    """True when no parameter of ``module`` asks for gradients."""
    return not any(p.requires_grad for p in module.parameters())


class PrecomputedFeatures(nn.Module):
    """A frozen extractor whose outputs were computed once, for training many heads or seeds cheaply.

    Two uses:

    * ``PrecomputedFeatures(out_dim=F)``: the input already *is* the feature (B, F) (e.g. MobileNetV2's
      pooled features of every image, computed once); forward returns it unchanged.
    * ``PrecomputedFeatures(table)``: ``table`` (N, F) holds the feature of every text; the text's
      "tokens" are its row number, ``input_ids[:, 0]``, so it drops into a model in place of a text tower.

    Shapes:
        x: (B, F), or input_ids (B, T) with the row in column 0 (attention_mask ignored)  ->  (B, F).
    """

    def __init__(self, table: torch.Tensor | None = None, out_dim: int | None = None):
        super().__init__()
        if (table is None) == (out_dim is None):
            raise ValueError("expected either a feature table (N, F) or out_dim F (features passed straight through), not "
                             f"{'both' if table is not None else 'neither'}")
        if table is not None and table.ndim != 2:
            raise ValueError(f"expected a feature table of shape (N, F), got {tuple(table.shape)}")
        self.register_buffer("table", table)
        self.out_dim = out_dim if table is None else table.shape[1]

    def forward(self, x: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        if self.table is None:
            if x.ndim != 2 or x.shape[1] != self.out_dim:
                raise ValueError(f"expected precomputed features of shape (B, {self.out_dim}), got {tuple(x.shape)}")
            return x
        return self.table[x[:, 0]]  # (B, F): row input_ids[b, 0] of the table
