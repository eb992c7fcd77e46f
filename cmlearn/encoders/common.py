"""Helpers every extractor shares: freezing a pretrained tower.

A frozen extractor keeps its weights (``requires_grad=False``) *and* stays in eval mode
when the model around it is put in training mode, so that batch-norm running statistics
learned on ImageNet are not overwritten by a few small batches of our data.
"""

from __future__ import annotations

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
