import pytest
import torch
from torchmetrics.retrieval import RetrievalRecall

from cmlearn.metrics import chance_recall_at_k, correct_item_ranks, recall_at_k, retrieval_report


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
    preds = similarity.flatten()
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


def test_chance_and_bad_input():
    assert chance_recall_at_k(200, 5) == 0.025
    with pytest.raises(ValueError, match="square"):
        correct_item_ranks(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="k must be"):
        recall_at_k(torch.eye(3), 0)
