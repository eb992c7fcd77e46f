"""Figures for the chapters, on matplotlib and seaborn. Every function returns its figure.

Used from chapter 1 (``01_background``) on.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
import torch
from torchvision.utils import make_grid


def _as_images(images: torch.Tensor) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] not in (1, 3):
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"expected images of shape (N, 1 or 3, H, W), got {shape}")
    return images.detach().float().cpu().clamp(0, 1)


def image_grid(images: torch.Tensor, titles: Sequence[str] | None = None, ncols: int = 8, size: float = 1.4):
    """Show N images (N, C, H, W) in [0, 1] in a grid, each with an optional title."""
    images = _as_images(images)
    n = images.shape[0]
    if titles is not None and len(titles) != n:
        raise ValueError(f"got {n} images but {len(titles)} titles")
    if titles is None:
        grid = make_grid(images, nrow=ncols, padding=2, pad_value=1.0)
        fig, ax = plt.subplots(figsize=(size * ncols, size * ((n + ncols - 1) // ncols)))
        ax.imshow(grid.permute(1, 2, 0).numpy())
        ax.axis("off")
        return fig
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols * 1.4, size * nrows * 1.5), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, title in zip(axes.flat, images, titles):
        ax.imshow(image.permute(1, 2, 0).numpy())
        ax.set_title(title, fontsize=7, wrap=True)
    fig.tight_layout()
    return fig


def retrieval_grid(queries: Sequence[str], gallery: torch.Tensor, top_indices: torch.Tensor, correct: Sequence[int], scores=None, size: float = 1.3):
    """Text→image search results: one row per query, its top-K gallery images left to right.

    Args:
        queries: Q captions.
        gallery: (N, C, H, W) images.
        top_indices: (Q, K) gallery indices, best first.
        correct: the index of the correct image for each query; it is framed in green.
        scores: optional (Q, K) similarities shown under each image.
    """
    gallery = _as_images(gallery)
    n_queries, k = top_indices.shape
    fig, axes = plt.subplots(n_queries, k, figsize=(size * k + 3.2, size * n_queries * 1.1), squeeze=False)
    for row, query in enumerate(queries):
        for col in range(k):
            ax = axes[row, col]
            index = int(top_indices[row, col])
            ax.imshow(gallery[index].permute(1, 2, 0).numpy())
            ax.set_xticks([])
            ax.set_yticks([])
            hit = index == int(correct[row])
            for spine in ax.spines.values():
                spine.set_edgecolor("tab:green" if hit else "lightgray")
                spine.set_linewidth(3 if hit else 1)
            if scores is not None:
                ax.set_xlabel(f"{float(scores[row, col]):.2f}", fontsize=7)
        axes[row, 0].set_ylabel(query, rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle("text → image search: top results left to right (green frame = the scene the caption was written for)", fontsize=9)
    fig.tight_layout()
    return fig


def similarity_heatmap(similarity: torch.Tensor, row_labels: Sequence[str] | None = None, col_labels: Sequence[str] | None = None, ax=None, title: str = "cosine similarity"):
    """Heatmap of a (R, C) similarity matrix, e.g. images × captions."""
    matrix = similarity.detach().float().cpu().numpy()
    if matrix.ndim != 2:
        raise ValueError(f"expected a 2-D similarity matrix, got shape {matrix.shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(0.45 * matrix.shape[1] + 3, 0.35 * matrix.shape[0] + 1.5))
    sns.heatmap(
        matrix, ax=ax, cmap="viridis", square=False, cbar_kws={"label": title},
        xticklabels=col_labels if col_labels is not None else False,
        yticklabels=row_labels if row_labels is not None else False,
    )
    ax.set_xlabel("captions")
    ax.set_ylabel("images")
    ax.tick_params(labelsize=7)
    return ax.figure


def training_curves(history: pd.DataFrame, metrics: Sequence[str] | None = None):
    """Plot the loss and the chosen metric columns of a ``fit`` history against the epoch."""
    if "epoch" not in history:
        raise ValueError(f"history needs an 'epoch' column, got columns {list(history.columns)}")
    metrics = list(metrics) if metrics is not None else [c for c in history.columns if c not in ("epoch", "seconds")]
    missing = [m for m in metrics if m not in history]
    if missing:
        raise ValueError(f"history has no column(s) {missing}; it has {list(history.columns)}")
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.6 * len(metrics), 3), squeeze=False)
    for ax, metric in zip(axes.flat, metrics):
        sns.lineplot(data=history, x="epoch", y=metric, marker="o", ax=ax)
        ax.set_title(metric)
        ax.set_ylabel("")
    fig.tight_layout()
    return fig
