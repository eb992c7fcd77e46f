"""Honest numbers for the book's claims: classification, retrieval and robustness (article §6.3).

Used in chapters 1, 3, 4, 5, 6, 7, 10, 11 and 12; chapter 10 (``10_evaluation``) is about them.

- **Classification** (:func:`classification_report`, :func:`confusion_matrix`) goes through torchmetrics:
  accuracy, and precision, recall and F1 averaged two ways: *macro* (the mean over classes, each class
  counting the same) and *micro* (pooled over samples, so frequent classes weigh more; for single-label
  classification micro precision = micro recall = micro F1 = accuracy).
- **Retrieval** is scored on a (N, N) similarity matrix whose row i is query i against every item of the
  gallery, with item i the one correct answer. recall@K is the fraction of queries whose correct item is
  among the K most similar; the rank of the correct item (1 = first) gives mean and median rank, and
  mAP, the mean over queries of the average precision (= 1 / rank when each query has one correct item).
  The results equal torchmetrics' ``RetrievalRecall`` and ``RetrievalMAP`` on the same scores made
  positive (checked in ``tests/test_metrics.py``): torchmetrics 1.9 counts a score <= 0 as never retrieved,
  while a cosine similarity can be negative and still rank first. Scored *by class*
  (:func:`class_retrieval_report`, chapter 7), every item with the query's label counts as correct.
- **Robustness** (:func:`robustness_curve`, :func:`robustness_auc`): a metric measured at increasing noise
  levels or missing-modality rates, summarised by the area under that curve divided by the range of
  levels, the "relative robustness" of MultiBench (Liang et al. 2021): the mean height of the curve.

torchmetrics takes seconds to import, so only the functions that use it import it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import pandas as pd
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
    """recall@K, median and mean rank, and mAP in both directions, for an image×text similarity matrix.

    Args:
        similarity: (N, N), row i = image i, column j = text j, pair i on the diagonal.

    Returns:
        ``{"image→text R@1": ..., "text→image R@1": ..., ..., "image→text median rank": ...,
        "image→text mean rank": ..., "image→text mAP": ...}``.
    """
    report = {}
    for direction, matrix in (("image→text", similarity), ("text→image", similarity.T)):
        ranks = correct_item_ranks(matrix)
        for k in ks:
            report[f"{direction} R@{k}"] = float((ranks <= k).float().mean())
        report[f"{direction} median rank"] = float(ranks.float().median())
        report[f"{direction} mean rank"] = float(ranks.float().mean())
        # One correct item per query: its precision at its own rank, 1 / rank, is the average precision.
        report[f"{direction} mAP"] = float((1.0 / ranks.double()).mean())
    return report


def mean_average_precision(similarity: torch.Tensor, relevant: torch.Tensor | None = None) -> float:
    """mAP: the mean over queries of the average precision of their ranked gallery (torchmetrics).

    AP of one query = the mean, over its relevant items, of the precision among the items ranked
    at or above that item. With several correct items per query (e.g. five captions per image).

    Args:
        similarity: (Q, N) scores, row = query, column = gallery item.
        relevant: (Q, N) bool, True where the item answers the query; ``None``: the diagonal (Q = N).

    Returns:
        mAP in [0, 1]; queries without any relevant item are skipped.
    """
    from torchmetrics.retrieval import RetrievalMAP

    if relevant is None:
        if similarity.ndim != 2 or similarity.shape[0] != similarity.shape[1]:
            raise ValueError(f"without `relevant`, expected a square (N, N) similarity matrix, got {tuple(similarity.shape)}")
        relevant = torch.eye(similarity.shape[0], dtype=torch.bool)
    if relevant.shape != similarity.shape:
        raise ValueError(f"relevant {tuple(relevant.shape)} must have the shape of similarity {tuple(similarity.shape)}")
    n_queries, n_items = similarity.shape
    scores = similarity.detach().double().cpu()
    # torchmetrics 1.9 counts items scoring <= 0 as never retrieved (its PR #3104), but cosine similarities
    # can be negative. AP depends only on each row's order, so shift every row above zero first.
    scores = scores - scores.min(dim=1, keepdim=True).values + 1.0
    indexes = torch.arange(n_queries).repeat_interleave(n_items)  # query id of each (query, item) score
    metric = RetrievalMAP(empty_target_action="skip")
    return float(metric(scores.flatten(), relevant.cpu().bool().flatten(), indexes=indexes))


def chance_recall_at_k(n_items: int, k: int) -> float:
    """recall@K of a random ranking over ``n_items``: k / n."""
    return min(k, n_items) / n_items


def same_class(similarity: torch.Tensor, query_labels: torch.Tensor, item_labels: torch.Tensor) -> torch.Tensor:
    """(Q, N) bool: does gallery item j have query i's label? Checks the shapes against ``similarity`` (Q, N)."""
    if similarity.ndim != 2:
        raise ValueError(f"expected a (Q, N) similarity matrix, got {tuple(similarity.shape)}")
    q, n = similarity.shape
    if tuple(query_labels.shape) != (q,) or tuple(item_labels.shape) != (n,):
        raise ValueError(f"expected query_labels ({q},) and item_labels ({n},) for a ({q}, {n}) similarity, "
                         f"got {tuple(query_labels.shape)} and {tuple(item_labels.shape)}")
    return query_labels.view(-1, 1) == item_labels.view(1, -1)  # (Q, N) bool


def class_retrieval_report(similarity: torch.Tensor, query_labels: torch.Tensor, item_labels: torch.Tensor,
                           ks: Sequence[int] = (1, 5)) -> dict[str, float]:
    """Retrieval where every gallery item with the query's label is a correct answer.

    R@K is the fraction of queries with at least one correct item among their K most similar;
    mAP is :func:`cmlearn.metrics.mean_average_precision` with ``relevant`` = same label.

    Args:
        similarity: (Q, N) scores, row = query, column = gallery item.
        query_labels: (Q,) class of each query; item_labels: (N,) class of each item.
        ks: the K of R@K.

    Returns:
        ``{"R@1": ..., "R@5": ..., "mAP": ...}``.
    """
    relevant = same_class(similarity, query_labels, item_labels)
    top = similarity.topk(min(max(ks), similarity.shape[1]), dim=1).indices  # (Q, K)
    hits = relevant.gather(1, top)  # (Q, K): is the k-th retrieved item correct?
    report = {f"R@{k}": float(hits[:, :k].any(dim=1).float().mean()) for k in ks}
    report["mAP"] = mean_average_precision(similarity, relevant)
    return report


def chance_class_recall(query_labels: torch.Tensor, item_labels: torch.Tensor, k: int = 1) -> float:
    """Expected R@K of a random ranking: mean over queries of 1 - C(N - r, K) / C(N, K), r = correct items."""
    n = item_labels.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k must be in 1..{n} (the gallery size), got {k}")
    correct = (query_labels.view(-1, 1) == item_labels.view(1, -1)).sum(dim=1).tolist()  # r per query
    return sum(1 - math.comb(n - r, k) / math.comb(n, k) for r in correct) / len(correct)


def _class_labels(preds: torch.Tensor, target: torch.Tensor, num_classes: int | None) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Predicted labels (N,) from labels (N,) or scores (N, C), the targets (N,), and C."""
    preds, target = preds.detach().cpu(), target.detach().cpu().long()
    if preds.ndim == 2:
        num_classes = num_classes or preds.shape[1]
        preds = preds.argmax(dim=1)
    if preds.ndim != 1 or target.ndim != 1 or preds.shape[0] != target.shape[0]:
        raise ValueError(f"expected preds (N,) or (N, C) and target (N,) with the same N, got {tuple(preds.shape)} and {tuple(target.shape)}")
    preds = preds.long()
    if num_classes is None:
        num_classes = int(max(preds.max(), target.max())) + 1
    return preds, target, num_classes


def classification_report(preds: torch.Tensor, target: torch.Tensor, num_classes: int | None = None) -> dict[str, float]:
    """Accuracy, and precision, recall and F1 with macro and micro averaging (torchmetrics).

    Macro averages skip classes that occur neither in ``target`` nor in the predictions, as
    scikit-learn does; a class that is never predicted has precision 0.

    Args:
        preds: (N,) predicted class indices, or (N, C) scores (logits or probabilities; argmax is taken).
        target: (N,) true class indices in 0..C-1.
        num_classes: C; inferred from the scores' width or the largest label when ``None``.

    Returns:
        ``{"accuracy", "macro precision", "macro recall", "macro F1", "micro precision", "micro recall", "micro F1"}``.
    """
    from torchmetrics.functional.classification import multiclass_f1_score, multiclass_precision, multiclass_recall

    preds, target, num_classes = _class_labels(preds, target, num_classes)
    report = {"accuracy": float((preds == target).float().mean())}
    for average in ("macro", "micro"):
        for name, metric in (("precision", multiclass_precision), ("recall", multiclass_recall), ("F1", multiclass_f1_score)):
            report[f"{average} {name}"] = float(metric(preds, target, num_classes=num_classes, average=average))
    return report


def confusion_matrix(preds: torch.Tensor, target: torch.Tensor, num_classes: int | None = None, normalize: str | None = None) -> torch.Tensor:
    """Counts of (true class, predicted class) pairs (torchmetrics), rows = true, columns = predicted.

    Args:
        preds: (N,) predicted class indices, or (N, C) scores.
        target: (N,) true class indices.
        num_classes: C (inferred when ``None``).
        normalize: ``None`` for counts; "true" to divide each row by its total (recall per class on the
            diagonal), "pred" for each column, "all" for the whole matrix.

    Returns:
        (C, C) tensor, int64 counts or float fractions.
    """
    from torchmetrics.functional.classification import multiclass_confusion_matrix

    if normalize not in (None, "true", "pred", "all"):
        raise ValueError(f"normalize must be None, 'true', 'pred' or 'all', got {normalize!r}")
    preds, target, num_classes = _class_labels(preds, target, num_classes)
    return multiclass_confusion_matrix(preds, target, num_classes=num_classes, normalize=normalize)


def robustness_auc(levels: Sequence[float], values: Sequence[float]) -> float:
    """Area under a metric-vs-level curve (trapezoid rule) divided by the range of levels.

    MultiBench's relative robustness (Liang et al. 2021): for levels 0, 0.1, ..., 1 the trapezoid area is
    the mean height of the curve, in the metric's own units; a model whose metric never drops scores
    its clean value.

    Args:
        levels: increasing noise levels or missing-modality rates (at least two).
        values: the metric at each level.
    """
    x, y = torch.as_tensor(levels, dtype=torch.float64), torch.as_tensor(values, dtype=torch.float64)
    if x.ndim != 1 or x.shape != y.shape or x.numel() < 2:
        raise ValueError(f"need at least two levels and one value per level, got {x.numel()} levels and {y.numel()} values")
    if not bool((x[1:] > x[:-1]).all()):
        raise ValueError(f"levels must increase, got {x.tolist()}")
    return float(torch.trapezoid(y, x) / (x[-1] - x[0]))


def robustness_curve(evaluate: Callable[[float], float], levels: Sequence[float], name: str = "metric") -> pd.DataFrame:
    """Measure ``evaluate(level)`` at each level: how a metric falls as noise or missing data grows.

    Args:
        evaluate: returns the metric for one noise level / missing rate, e.g.
            ``lambda p: accuracy(model, drop_modality(test_set, rate=p))``.
        levels: increasing levels, e.g. ``[0, 0.1, ..., 1]``.
        name: the metric's column name.

    Returns:
        DataFrame with columns ``level`` and ``name``; ``df.attrs["auc"]`` holds :func:`robustness_auc`.
    """
    values = [float(evaluate(float(level))) for level in levels]
    curve = pd.DataFrame({"level": [float(level) for level in levels], name: values})
    curve.attrs["auc"] = robustness_auc(curve["level"].tolist(), values)
    return curve


def per_class_report(preds: torch.Tensor, target: torch.Tensor, num_classes: int | None = None,
                     class_names: Sequence[str] | None = None) -> pd.DataFrame:
    """Counts and scores of each class, read off the confusion matrix (chapter ``10_evaluation``).

    For class c, with the confusion matrix M (rows = true, columns = predicted):
    TP_c = M[c, c], FP_c = sum of column c minus TP_c, FN_c = sum of row c minus TP_c, and

        P_c = TP_c / (TP_c + FP_c),   R_c = TP_c / (TP_c + FN_c),   F1_c = 2 P_c R_c / (P_c + R_c),

    each 0 when its denominator is 0 (scikit-learn's ``zero_division=0``). Macro averaging is the plain
    mean of a column over the classes; micro averaging pools TP, FP and FN over classes first.

    Args:
        preds: (N,) predicted class indices, or (N, C) scores.
        target: (N,) true class indices.
        num_classes: C (inferred when ``None``).
        class_names: C names for the index (default 0..C-1).

    Returns:
        DataFrame with one row per class and columns ``support`` (TP + FN), ``TP``, ``FP``, ``FN``,
        ``precision``, ``recall``, ``F1``.
    """
    matrix = confusion_matrix(preds, target, num_classes).double()  # (C, C)
    if class_names is not None and len(class_names) != matrix.shape[0]:
        raise ValueError(f"got {matrix.shape[0]} classes but {len(class_names)} class names")
    tp = matrix.diagonal()
    fp = matrix.sum(dim=0) - tp  # predicted c, but another class
    fn = matrix.sum(dim=1) - tp  # class c, predicted as another

    def ratio(numerator, denominator):
        return torch.where(denominator > 0, numerator / denominator.clamp(min=1e-300), torch.zeros_like(numerator))

    precision, recall = ratio(tp, tp + fp), ratio(tp, tp + fn)
    f1 = ratio(2 * precision * recall, precision + recall)
    frame = pd.DataFrame({"support": (tp + fn).long().numpy(), "TP": tp.long().numpy(), "FP": fp.long().numpy(),
                          "FN": fn.long().numpy(), "precision": precision.numpy(), "recall": recall.numpy(), "F1": f1.numpy()},
                         index=list(class_names) if class_names is not None else range(matrix.shape[0]))
    frame.index.name = "class"
    return frame


def _as_sample(values, what: str, minimum: int = 2):
    import numpy as np

    sample = np.asarray(torch.as_tensor(values).detach().cpu().double() if isinstance(values, torch.Tensor) else values, dtype=float)
    if sample.ndim != 1 or sample.size < minimum or not np.isfinite(sample).all():
        raise ValueError(f"{what}: expected a 1-D sequence of at least {minimum} finite numbers, got shape {sample.shape}")
    return sample


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), e.g. 0.95, got {level}")


def mean_confidence_interval(values: Sequence[float], level: float = 0.95) -> dict[str, float]:
    """Mean of n runs (e.g. seeds) with Student's t confidence interval (chapter ``10_evaluation``).

        mean ± t_{(1+level)/2, n-1} · s / sqrt(n),   s = the sample standard deviation (n - 1 in its denominator)

    It assumes the runs are independent draws from one normal distribution; with n = 5 the t quantile
    is 2.78, not the normal 1.96, which widens the interval for having estimated s from five numbers.

    Args:
        values: n >= 2 results, one per run.
        level: coverage of the interval.

    Returns:
        ``{"mean", "std", "n", "low", "high"}``.
    """
    from scipy import stats

    _check_level(level)
    sample = _as_sample(values, "mean_confidence_interval")
    n, mean, std = sample.size, float(sample.mean()), float(sample.std(ddof=1))
    half_width = float(stats.t.ppf((1 + level) / 2, df=n - 1)) * std / n ** 0.5
    return {"mean": mean, "std": std, "n": n, "low": mean - half_width, "high": mean + half_width}


def difference_interval(values_a: Sequence[float], values_b: Sequence[float], level: float = 0.95) -> dict[str, float]:
    """Difference of two methods' mean results, mean(a) - mean(b), with Welch's t confidence interval.

        d ± t_{(1+level)/2, ν} · sqrt(s_a²/n_a + s_b²/n_b),  ν = (s_a²/n_a + s_b²/n_b)² / Σ_i (s_i²/n_i)² / (n_i - 1)

    (Welch–Satterthwaite degrees of freedom; the variances of the two methods need not be equal). When the
    interval excludes 0, the gap is larger than the run-to-run (seed) noise at that level.

    Args:
        values_a, values_b: results of method a and method b, one per run (seed), n >= 2 each.
        level: coverage of the interval.

    Returns:
        ``{"difference", "low", "high", "df", "p_value"}`` (p from Welch's two-sided t-test, scipy).
    """
    from scipy import stats

    _check_level(level)
    a, b = _as_sample(values_a, "values_a"), _as_sample(values_b, "values_b")
    test = stats.ttest_ind(a, b, equal_var=False)
    interval = test.confidence_interval(confidence_level=level)
    return {"difference": float(a.mean() - b.mean()), "low": float(interval.low), "high": float(interval.high),
            "df": float(test.df), "p_value": float(test.pvalue)}


def bootstrap_interval(values: Sequence[float], level: float = 0.95, n_resamples: int = 2000, seed: int = 0) -> dict[str, float]:
    """Percentile bootstrap interval for the mean of per-sample scores (scipy.stats.bootstrap).

    For a test set: ``values`` = 1/0 for each correct/wrong test sample (or query), so the mean is the
    accuracy (or recall@K). Resampling the test set with replacement ``n_resamples`` times and taking the
    (1-level)/2 and (1+level)/2 quantiles of the resampled means says how much the number would move on
    another test set of the same size from the same distribution. It says nothing about another training run.

    Args:
        values: (N,) per-sample scores.
        level: coverage of the interval.
        n_resamples: bootstrap resamples.
        seed: seed of the resampling.

    Returns:
        ``{"mean", "low", "high"}``.
    """
    import numpy as np
    from scipy import stats

    _check_level(level)
    sample = _as_sample(values, "bootstrap_interval")
    result = stats.bootstrap((sample,), np.mean, confidence_level=level, n_resamples=n_resamples,
                             method="percentile", vectorized=True, random_state=np.random.default_rng(seed))
    return {"mean": float(sample.mean()), "low": float(result.confidence_interval.low), "high": float(result.confidence_interval.high)}


def seed_summary(results: dict[str, Sequence[float]], level: float = 0.95) -> pd.DataFrame:
    """One row per method: mean, standard deviation and t-interval of its results over seeds.

    Args:
        results: ``{method name: [result of seed 0, seed 1, ...]}``.
        level: coverage of :func:`mean_confidence_interval`.

    Returns:
        DataFrame indexed by method with columns ``mean``, ``std``, ``n``, ``low``, ``high``.
    """
    if not results:
        raise ValueError("expected at least one method, got an empty dict")
    frame = pd.DataFrame({name: mean_confidence_interval(values, level) for name, values in results.items()}).T
    frame["n"] = frame["n"].astype(int)
    frame.index.name = "method"
    return frame
