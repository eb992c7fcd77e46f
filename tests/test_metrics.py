import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score
from torchmetrics.retrieval import RetrievalMAP, RetrievalRecall

from cmlearn.metrics import chance_recall_at_k, correct_item_ranks, mean_average_precision, recall_at_k, retrieval_report


def test_ranks_by_hand():
    similarity = torch.tensor([
        [0.9, 0.1, 0.0],   # correct item first -> rank 1
        [0.8, 0.5, 0.7],   # correct 0.5 is third -> rank 3
        [0.2, 0.6, 0.4],   # correct 0.4 second -> rank 2
    ])
    assert correct_item_ranks(similarity).tolist() == [1, 3, 2]
    assert recall_at_k(similarity, 1) == pytest.approx(1 / 3)
    assert recall_at_k(similarity, 2) == pytest.approx(2 / 3)
    assert recall_at_k(similarity, 3) == 1.0


def test_ties_count_against_the_correct_item():
    similarity = torch.tensor([[0.5, 0.5], [0.0, 1.0]])
    assert correct_item_ranks(similarity).tolist() == [2, 1]


@pytest.mark.parametrize("k", [1, 3, 10])
def test_recall_matches_torchmetrics(k):
    g = torch.Generator().manual_seed(k)
    n = 40
    similarity = torch.randn(n, n, generator=g) + 2.0 * torch.eye(n)
    preds = (similarity - similarity.min() + 1).flatten()  # torchmetrics 1.9 never retrieves scores <= 0; cosines can be negative
    target = torch.eye(n, dtype=torch.bool).flatten()
    indexes = torch.arange(n).repeat_interleave(n)
    expected = RetrievalRecall(top_k=k)(preds, target, indexes=indexes).item()
    assert recall_at_k(similarity, k) == pytest.approx(expected, abs=1e-6)


def test_report_covers_both_directions():
    # Image 0's best text is text 1, yet every text's best image is its own: the directions differ.
    similarity = torch.tensor([[0.5, 0.9], [0.1, 0.95]])
    report = retrieval_report(similarity, ks=(1,))
    assert report["image→text R@1"] == 0.5
    assert report["text→image R@1"] == 1.0
    assert report["image→text median rank"] == 1.0  # ranks (2, 1): torch's median takes the lower middle
    assert report["text→image median rank"] == 1.0
    assert report["image→text mean rank"] == 1.5
    assert report["image→text mAP"] == pytest.approx((1 / 2 + 1) / 2)  # one correct item: AP = 1 / rank
    assert report["text→image mAP"] == 1.0


def sklearn_map(similarity, relevant):
    """The reference: scikit-learn's average precision of each query's ranking, averaged."""
    scores, relevant = similarity.numpy(), relevant.numpy()
    return float(np.mean([average_precision_score(relevant[q], scores[q]) for q in range(len(scores)) if relevant[q].any()]))


def test_report_map_and_mean_rank_match_torchmetrics_and_sklearn():
    g = torch.Generator().manual_seed(0)
    n = 30
    similarity = torch.randn(n, n, generator=g) + 1.5 * torch.eye(n)
    report = retrieval_report(similarity, ks=(1,))
    ranks = correct_item_ranks(similarity).double()
    assert report["image→text mean rank"] == pytest.approx(float(ranks.mean()))
    eye = torch.eye(n, dtype=torch.bool)
    indexes = torch.arange(n).repeat_interleave(n)
    for direction, matrix in (("image→text", similarity), ("text→image", similarity.T)):
        positive = matrix - matrix.min() + 1  # torchmetrics ignores items scoring <= 0; the order is what counts
        expected = RetrievalMAP()(positive.flatten(), eye.flatten(), indexes=indexes).item()
        assert report[f"{direction} mAP"] == pytest.approx(expected, abs=1e-6)
        assert report[f"{direction} mAP"] == pytest.approx(sklearn_map(matrix, eye), abs=1e-6)
        assert mean_average_precision(matrix) == pytest.approx(report[f"{direction} mAP"], abs=1e-6)


def test_map_with_several_relevant_items():
    # By hand: ranking (rel, not, rel) -> AP = (1/1 + 2/3) / 2; ranking (not, rel, not) -> AP = 1/2.
    similarity = torch.tensor([[0.9, 0.5, 0.4], [0.9, 0.8, 0.1]])
    relevant = torch.tensor([[True, False, True], [False, True, False]])
    assert mean_average_precision(similarity, relevant) == pytest.approx(((1 + 2 / 3) / 2 + 1 / 2) / 2)
    assert mean_average_precision(similarity - 2, relevant) == mean_average_precision(similarity, relevant)  # negative cosines too
    g = torch.Generator().manual_seed(1)
    similarity, relevant = torch.randn(12, 40, generator=g), torch.rand(12, 40, generator=g) < 0.2
    relevant[3] = False  # a query without any relevant item is skipped, as in sklearn_map
    assert mean_average_precision(similarity, relevant) == pytest.approx(sklearn_map(similarity, relevant), abs=1e-6)
    with pytest.raises(ValueError, match="shape of similarity"):
        mean_average_precision(similarity, relevant[:, :5])


def test_chance_and_bad_input():
    assert chance_recall_at_k(200, 5) == 0.025
    with pytest.raises(ValueError, match="square"):
        correct_item_ranks(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="k must be"):
        recall_at_k(torch.eye(3), 0)


def test_t_interval_matches_scipy_and_the_formula():
    from scipy import stats

    from cmlearn.metrics import mean_confidence_interval, seed_summary

    values = [0.81, 0.84, 0.79, 0.86, 0.83]
    result = mean_confidence_interval(values, level=0.95)
    low, high = stats.t.interval(0.95, df=4, loc=np.mean(values), scale=stats.sem(values))
    assert (result["low"], result["high"]) == pytest.approx((low, high), abs=1e-12)
    # By hand: t_{0.975, 4} = 2.776 (tables), s with n - 1.
    half = 2.7764451 * np.std(values, ddof=1) / np.sqrt(5)
    assert result["high"] - result["mean"] == pytest.approx(half, rel=1e-6)
    assert mean_confidence_interval(values, level=0.99)["high"] > result["high"]  # wider at higher coverage
    table = seed_summary({"a": values, "b": [v + 0.1 for v in values]})
    assert list(table.index) == ["a", "b"] and table.loc["a", "n"] == 5
    assert table.loc["b", "mean"] - table.loc["a", "mean"] == pytest.approx(0.1)
    assert table.loc["b", "std"] == pytest.approx(table.loc["a", "std"])


def test_welch_difference_interval_by_hand():
    from scipy import stats

    from cmlearn.metrics import difference_interval

    a, b = np.array([0.90, 0.92, 0.91, 0.95, 0.93]), np.array([0.80, 0.85, 0.78, 0.88, 0.83, 0.81])
    result = difference_interval(a, b)
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    df = (va + vb) ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1))
    half = stats.t.ppf(0.975, df) * np.sqrt(va + vb)
    assert result["difference"] == pytest.approx(a.mean() - b.mean())
    assert (result["low"], result["high"]) == pytest.approx((a.mean() - b.mean() - half, a.mean() - b.mean() + half))
    assert result["df"] == pytest.approx(df) and result["low"] > 0  # a clear gap excludes 0
    noise = difference_interval(a, a[::-1] + 1e-3)
    assert noise["low"] < 0 < noise["high"]  # the same numbers shuffled: no gap


def test_bootstrap_interval_close_to_the_normal_approximation():
    from cmlearn.metrics import bootstrap_interval

    correct = (torch.rand(4000, generator=torch.Generator().manual_seed(0)) < 0.7).double()
    result = bootstrap_interval(correct, level=0.95, n_resamples=4000, seed=0)
    p = float(correct.mean())
    half = 1.96 * np.sqrt(p * (1 - p) / correct.numel())
    assert result["mean"] == pytest.approx(p)
    assert result["low"] == pytest.approx(p - half, abs=0.004) and result["high"] == pytest.approx(p + half, abs=0.004)
    assert bootstrap_interval(correct, seed=1) != bootstrap_interval(correct, seed=2)  # the seed is used
    assert bootstrap_interval(correct, seed=1) == bootstrap_interval(correct, seed=1)


def test_interval_bad_input():
    from cmlearn.metrics import bootstrap_interval, difference_interval, mean_confidence_interval, seed_summary

    with pytest.raises(ValueError, match="at least 2"):
        mean_confidence_interval([0.5])
    with pytest.raises(ValueError, match="level"):
        mean_confidence_interval([0.5, 0.6], level=95)
    with pytest.raises(ValueError, match="finite"):
        difference_interval([0.5, float("nan")], [0.1, 0.2])
    with pytest.raises(ValueError, match="1-D"):
        bootstrap_interval(torch.ones(3, 2))
    with pytest.raises(ValueError, match="empty"):
        seed_summary({})
