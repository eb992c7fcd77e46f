"""Figures for the chapters, on matplotlib and seaborn. Every function returns its figure.

Used in chapters 1, 4, 5, 6, 7, 8, 10 and 11: image grids, retrieval results, similarity heatmaps,
training curves, confusion matrices, embedding projections and robustness curves. Functions that
draw a single panel take an optional ``ax`` so a notebook can place them in its own layout.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
import torch
from matplotlib.collections import LineCollection


def _as_images(images: torch.Tensor) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] not in (1, 3):
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"expected images of shape (N, 1 or 3, H, W), got {shape}")
    return images.detach().float().cpu().clamp(0, 1)


def image_grid(images: torch.Tensor, titles: Sequence[str] | None = None, ncols: int = 8, size: float = 1.4, title_width: int = 22,
               title: str | None = None):
    """Show N images (N, C, H, W) in [0, 1] in a grid, each with an optional title (wrapped at ``title_width`` characters).

    ``title`` goes above the whole grid, laid out with it (a ``fig.suptitle`` added afterwards would overlap the first
    row's titles).
    """
    images = _as_images(images)
    n = images.shape[0]
    if titles is not None and len(titles) != n:
        raise ValueError(f"got {n} images but {len(titles)} titles")
    if titles is None:
        from torchvision.utils import make_grid  # imported here: torchvision takes ~1 s to import

        grid = make_grid(images, nrow=ncols, padding=2, pad_value=1.0)
        fig, ax = plt.subplots(figsize=(size * ncols, size * ((n + ncols - 1) // ncols)))
        ax.imshow(grid.permute(1, 2, 0).numpy())
        ax.axis("off")
        if title is not None:
            ax.set_title(title, fontsize=9)
        return fig
    nrows = (n + ncols - 1) // ncols
    title_lines = max(len(textwrap.wrap(str(t), width=title_width)) for t in titles)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols * 1.4, size * nrows * (1.3 + 0.15 * title_lines)), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, caption in zip(axes.flat, images, titles):
        ax.imshow(image.permute(1, 2, 0).numpy())
        ax.set_title(textwrap.fill(str(caption), width=title_width), fontsize=7)
    if title is not None:
        fig.suptitle(title, fontsize=9)
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
    """Plot the loss and the chosen metric columns of a ``fit`` history against the epoch.

    ``train_loss`` and ``val_loss`` share one panel (labelled "loss") so over-fitting shows as a gap;
    every other metric gets its own panel.
    """
    if "epoch" not in history:
        raise ValueError(f"history needs an 'epoch' column, got columns {list(history.columns)}")
    metrics = list(metrics) if metrics is not None else [c for c in history.columns if c not in ("epoch", "seconds")]
    missing = [m for m in metrics if m not in history]
    if missing:
        raise ValueError(f"history has no column(s) {missing}; it has {list(history.columns)}")
    losses = [m for m in metrics if m in ("train_loss", "val_loss")]
    panels = ([losses] if losses else []) + [[m] for m in metrics if m not in losses]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3), squeeze=False)
    for ax, panel in zip(axes.flat, panels):
        for metric in panel:
            sns.lineplot(data=history, x="epoch", y=metric, marker="o", ax=ax, label=metric if len(panel) > 1 else None)
        ax.set_title("loss" if len(panel) > 1 else panel[0])
        ax.set_ylabel("")
    fig.tight_layout()
    return fig


def confusion_heatmap(matrix: torch.Tensor, class_names: Sequence[str] | None = None, ax=None, title: str | None = None):
    """Heatmap of a (C, C) confusion matrix, rows = true class, columns = predicted class.

    Args:
        matrix: from :func:`cmlearn.metrics.confusion_matrix`: int counts (shown as integers) or fractions.
        class_names: C labels for both axes.
        ax: axes to draw on (a new figure when ``None``).
    """
    values = torch.as_tensor(matrix).detach().cpu()
    if values.ndim != 2 or values.shape[0] != values.shape[1]:
        raise ValueError(f"expected a square (C, C) confusion matrix, got shape {tuple(values.shape)}")
    if class_names is not None and len(class_names) != values.shape[0]:
        raise ValueError(f"got a {values.shape[0]}-class matrix but {len(class_names)} class names")
    if ax is None:
        side = 0.5 * values.shape[0] + 2.5
        _, ax = plt.subplots(figsize=(side + 1, side))
    counts = not values.is_floating_point()
    labels = list(class_names) if class_names is not None else "auto"
    sns.heatmap(values.numpy(), ax=ax, annot=values.shape[0] <= 20, fmt="d" if counts else ".2f", cmap="Blues",
                xticklabels=labels, yticklabels=labels, cbar_kws={"label": "count" if counts else "fraction"})
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if title:
        ax.set_title(title)
    return ax.figure


def embedding_projection(embeddings: dict[str, torch.Tensor], method: str = "pca", pairs: int = 0, seed: int = 0, ax=None):
    """Embeddings of several modalities projected to 2-D together, coloured by modality.

    A well-aligned shared space mixes the colours (matching image and caption lie close);
    separate clouds per colour are the "modality gap" (Liang et al. 2022).

    Args:
        embeddings: ``{"image": (N_img, D), "text": (N_txt, D), ...}``, one shared dimension D.
        method: "pca" (linear, fast) or "tsne" (scikit-learn's t-SNE, non-linear, seeded).
        pairs: draw a line between row i of the first two modalities for the first ``pairs`` rows.
        seed: random state of t-SNE.
        ax: axes to draw on (a new figure when ``None``).
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    if method not in ("pca", "tsne"):
        raise ValueError(f"method must be 'pca' or 'tsne', got {method!r}")
    if not embeddings:
        raise ValueError("expected at least one modality, got an empty dict")
    parts = {name: torch.as_tensor(h).detach().float().cpu() for name, h in embeddings.items()}
    dims = {name: tuple(h.shape) for name, h in parts.items()}
    if any(h.ndim != 2 for h in parts.values()) or len({h.shape[1] for h in parts.values()}) != 1:
        raise ValueError(f"expected (N, D) embeddings with one shared D, got {dims}")
    stacked = torch.cat(list(parts.values())).numpy()  # (N_total, D)
    if method == "pca":
        points = PCA(n_components=2).fit_transform(stacked)
    else:
        points = TSNE(n_components=2, perplexity=min(30.0, (len(stacked) - 1) / 3), init="pca", random_state=seed).fit_transform(stacked)
    modality = [name for name, h in parts.items() for _ in range(h.shape[0])]
    frame = pd.DataFrame({"component 1": points[:, 0], "component 2": points[:, 1], "modality": modality})
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4.5))
    names = list(parts)
    if pairs and len(names) >= 2:
        n_first = parts[names[0]].shape[0]
        first, second = points[:n_first], points[n_first:n_first + parts[names[1]].shape[0]]
        n_pairs = min(pairs, len(first), len(second))
        segments = [[first[i], second[i]] for i in range(n_pairs)]  # (pairs, 2 ends, 2 coordinates)
        ax.add_collection(LineCollection(segments, colors="gray", linewidths=0.6, alpha=0.6, zorder=0, label="_pairs"))
    sns.scatterplot(data=frame, x="component 1", y="component 2", hue="modality", s=18, alpha=0.8, ax=ax)
    ax.set_title(f"shared space ({'PCA' if method == 'pca' else 't-SNE'})")
    return ax.figure


def robustness_curves(curves: dict[str, pd.DataFrame], metric: str | None = None, ax=None, xlabel: str = "noise level"):
    """Metric against noise level (or missing rate), one line per model, AUC in the legend.

    Args:
        curves: ``{model name: DataFrame from cmlearn.metrics.robustness_curve}``.
        metric: the column to plot (default: the frame's column other than ``level``).
        ax: axes to draw on (a new figure when ``None``).
    """
    from cmlearn.metrics import robustness_auc

    if not curves:
        raise ValueError("expected at least one curve, got an empty dict")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    for name, curve in curves.items():
        column = metric or next((c for c in curve.columns if c != "level"), None)
        if "level" not in curve or column not in curve:
            raise ValueError(f"curve {name!r} needs columns 'level' and {column!r}, got {list(curve.columns)}")
        auc = robustness_auc(curve["level"].tolist(), curve[column].tolist())
        ax.plot(curve["level"], curve[column], marker="o", label=f"{name} (AUC {auc:.3f})")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(column)
    ax.legend(fontsize=8)
    return ax.figure


def seed_intervals(results: dict[str, Sequence[float]], level: float = 0.95, ax=None, ylabel: str = "metric"):
    """One column per method: each seed's result as a dot, the mean with its t-interval as a bar.

    Two methods differ by more than the seed noise when their intervals are far apart (for the difference itself use :func:`cmlearn.metrics.difference_interval`).

    Args:
        results: ``{method name: [result of each seed]}``, at least two seeds per method.
        level: coverage of the interval (:func:`cmlearn.metrics.mean_confidence_interval`).
        ax: axes to draw on (a new figure when ``None``).
        ylabel: name of the metric.
    """
    from cmlearn.metrics import seed_summary

    summary = seed_summary(results, level)  # checks the input
    if ax is None:
        _, ax = plt.subplots(figsize=(1.4 * len(results) + 1.5, 3.2))
    for position, (name, values) in enumerate(results.items()):
        offsets = torch.linspace(-0.12, 0.12, len(values)).tolist()
        ax.scatter([position + o for o in offsets], list(values), s=16, color="gray", zorder=2, label="one seed" if position == 0 else None)
        row = summary.loc[name]
        ax.errorbar([position + 0.3], [row["mean"]], yerr=[[row["mean"] - row["low"]], [row["high"] - row["mean"]]],
                    fmt="o", color="C0", capsize=4, zorder=3, label=f"mean, {level:.0%} t-interval" if position == 0 else None)
    ax.set_xticks(range(len(results)), list(results))
    ax.set_xlim(-0.5, len(results) - 0.3)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    return ax.figure
