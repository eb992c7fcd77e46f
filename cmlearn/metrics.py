"""Retrieval metrics for aligned embeddings (article §6.3; chapter 1 and ``10_evaluation``).

Retrieval is scored on a (N, N) similarity matrix whose row i is query i against every
item of the gallery, with item i the one correct answer. recall@K is the fraction of
queries whose correct item is among the K most similar; the rank of the correct item
(1 = first) gives mean and median rank. The result equals torchmetrics'
``RetrievalRecall(top_k=K)`` on the same scores (checked in ``tests/test_metrics.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def correct_item_ranks(similarity: torch.Tensor) -> torch.Tensor:
    """Rank (1-based) of the correct item, the diagonal entry, in each row; ties count against it.

    Args:
        similarity: (N, N) scores, row = query, column = gallery item, correct pairs on the diagonal.

    Returns:
        (N,) int64 ranks in 1..N.
    """
    if similarity.ndim != 2 or similarity.shape[0] != similarity.shape[1]:
        raise ValueError(f"expected a square (N, N) similarity matrix with matches on the diagonal, got {tuple(similarity.shape)}")
    correct = similarity.diagonal().unsqueeze(1)  # (N, 1)
    # Items scoring at least as high as the correct one, the correct one included.
    return (similarity >= correct).sum(dim=1)


def recall_at_k(similarity: torch.Tensor, k: int) -> float:
    """Fraction of rows whose diagonal item is among the top ``k`` (ties count as misses)."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return float((correct_item_ranks(similarity) <= k).float().mean())


def retrieval_report(similarity: torch.Tensor, ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """recall@K in both directions, and median rank, for an image×text similarity matrix.

    Args:
        similarity: (N, N), row i = image i, column j = text j, pair i on the diagonal.

    Returns:
        ``{"image→text R@1": ..., "text→image R@1": ..., ..., "image→text median rank": ...}``.
    """
    report = {}
    for direction, matrix in (("image→text", similarity), ("text→image", similarity.T)):
        ranks = correct_item_ranks(matrix)
        for k in ks:
            report[f"{direction} R@{k}"] = float((ranks <= k).float().mean())
        report[f"{direction} median rank"] = float(ranks.float().median())
    return report


def chance_recall_at_k(n_items: int, k: int) -> float:
    """recall@K of a random ranking over ``n_items``: k / n."""
    return min(k, n_items) / n_items
