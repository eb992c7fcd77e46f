"""The modality gap (Liang et al. 2022): the two modalities' embeddings sit in two separate regions of the sphere.

Used in chapters 3 and 11: chapter 3 (``03_alignment``) meets the gap on towers trained from scratch on synthetic
scenes, chapter 11 (``11_real_emoji``) on frozen pretrained towers.
For L2-normalised image embeddings u_i (N, D) and text embeddings v_j (M, D), the gap vector and its length are

.. math::

    \\Delta = \\bar u - \\bar v, \\qquad \\bar u = \\tfrac1N \\sum_i u_i, \\quad \\bar v = \\tfrac1M \\sum_j v_j,
    \\qquad \\text{gap} = \\lVert \\Delta \\rVert \\in [0, 2].

Shifting both modalities along it by a fraction λ, towards each other, and back onto the sphere,

.. math::

    u_i' = \\frac{u_i - \\lambda\\Delta/2}{\\lVert u_i - \\lambda\\Delta/2 \\rVert}, \\qquad
    v_j' = \\frac{v_j + \\lambda\\Delta/2}{\\lVert v_j + \\lambda\\Delta/2 \\rVert},

puts both centres at one point (before the renormalisation) for λ = 1 and widens the gap for λ < 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _check(image_embeddings: torch.Tensor, text_embeddings: torch.Tensor) -> None:
    if image_embeddings.ndim != 2 or text_embeddings.ndim != 2 or image_embeddings.shape[1] != text_embeddings.shape[1]:
        raise ValueError(f"expected (N, D) image and (M, D) text embeddings of one width D, got "
                         f"{tuple(image_embeddings.shape)} and {tuple(text_embeddings.shape)}")


def gap_vector(image_embeddings: torch.Tensor, text_embeddings: torch.Tensor) -> torch.Tensor:
    """Δ = mean image embedding − mean text embedding: (N, D), (M, D) -> (D,)."""
    _check(image_embeddings, text_embeddings)
    return image_embeddings.mean(dim=0) - text_embeddings.mean(dim=0)


def modality_gap(image_embeddings: torch.Tensor, text_embeddings: torch.Tensor) -> float:
    """‖Δ‖, the distance between the centres of the two modalities' embeddings (0 to 2 for unit vectors)."""
    return float(gap_vector(image_embeddings, text_embeddings).norm())


def shift_along_gap(image_embeddings: torch.Tensor, text_embeddings: torch.Tensor, lam: float,
                    delta: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(u', v'): each modality moved by λΔ/2 towards the other and renormalised (see the module docstring).

    ``delta`` defaults to the gap of these embeddings; pass one measured on other data (e.g. the training set)
    to shift test embeddings by it.
    """
    delta = gap_vector(image_embeddings, text_embeddings) if delta is None else delta
    return (F.normalize(image_embeddings - lam * delta / 2, dim=-1),
            F.normalize(text_embeddings + lam * delta / 2, dim=-1))


def modality_told_apart(image_embeddings: torch.Tensor, text_embeddings: torch.Tensor) -> float:
    """Share of all N + M embeddings whose nearer centre (ū or v̄) is that of their own modality (0.5: no gap)."""
    _check(image_embeddings, text_embeddings)
    centres = torch.stack([image_embeddings.mean(0), text_embeddings.mean(0)])  # (2, D)
    nearest = torch.cdist(torch.cat([image_embeddings, text_embeddings]), centres).argmin(dim=1)
    modality = torch.cat([torch.zeros(len(image_embeddings)), torch.ones(len(text_embeddings))]).long()
    return float((nearest == modality).float().mean())
