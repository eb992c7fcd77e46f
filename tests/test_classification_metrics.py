"""Classification and robustness metrics, checked against scikit-learn on the same predictions."""

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn import metrics as sk

from cmlearn.metrics import classification_report, confusion_matrix, robustness_auc, robustness_curve


def predictions(seed, n=200, classes=5, never_predicted=None):
    g = torch.Generator().manual_seed(seed)
    target = torch.randint(0, classes, (n,), generator=g)
    logits = torch.randn(n, classes, generator=g) + 1.5 * torch.nn.functional.one_hot(target, classes)  # mostly right
    if never_predicted is not None:
        logits[:, never_predicted] = -1e9
    return logits, target


@pytest.mark.parametrize("seed, never_predicted", [(0, None), (1, None), (2, 3)])
def test_classification_report_matches_sklearn(seed, never_predicted):
    logits, target = predictions(seed, never_predicted=never_predicted)
    report = classification_report(logits, target)
    y_true, y_pred = target.numpy(), logits.argmax(1).numpy()
    expected = {"accuracy": sk.accuracy_score(y_true, y_pred)}
    for average in ("macro", "micro"):
        expected[f"{average} precision"] = sk.precision_score(y_true, y_pred, average=average, zero_division=0)
        expected[f"{average} recall"] = sk.recall_score(y_true, y_pred, average=average, zero_division=0)
        expected[f"{average} F1"] = sk.f1_score(y_true, y_pred, average=average, zero_division=0)
    assert report.keys() == expected.keys()
    for name, value in expected.items():
        assert report[name] == pytest.approx(value, abs=1e-6), name
    assert report["macro F1"] != pytest.approx(report["micro F1"], abs=1e-3)  # the two averages really differ here
    # Labels give the same report as the scores they were taken from.
    assert classification_report(logits.argmax(1), target, num_classes=5) == report


def test_classification_by_hand():
    # Class 0: 2 right of 2; class 1: 1 right, 1 predicted as 0. Precision(0) = 2/3, recall(1) = 1/2.
    report = classification_report(torch.tensor([0, 0, 1, 0]), torch.tensor([0, 0, 1, 1]))
    assert report["accuracy"] == 0.75
    assert report["macro precision"] == pytest.approx((2 / 3 + 1) / 2)
    assert report["macro recall"] == pytest.approx((1 + 1 / 2) / 2)
    assert report["micro F1"] == pytest.approx(0.75)  # single-label: micro F1 = accuracy


@pytest.mark.filterwarnings("ignore:.*NaN values found in confusion matrix")  # the never-predicted class's column, 0 / 0
@pytest.mark.parametrize("normalize", [None, "true", "pred", "all"])
def test_confusion_matrix_matches_sklearn(normalize):
    logits, target = predictions(4, never_predicted=2)
    matrix = confusion_matrix(logits, target, normalize=normalize)
    expected = np.nan_to_num(sk.confusion_matrix(target.numpy(), logits.argmax(1).numpy(), labels=range(5), normalize=normalize))
    assert matrix.shape == (5, 5)
    np.testing.assert_allclose(matrix.numpy(), expected, atol=1e-6)
    if normalize is None:
        assert matrix.dtype == torch.int64 and int(matrix.sum()) == 200


def test_bad_classification_inputs():
    with pytest.raises(ValueError, match="same N"):
        classification_report(torch.zeros(3), torch.zeros(4))
    with pytest.raises(ValueError, match="normalize"):
        confusion_matrix(torch.zeros(3), torch.zeros(3), normalize="rows")


def test_robustness_auc_matches_the_normalised_trapezoid():
    levels = np.linspace(0, 1, 11)
    accuracy = 0.9 - 0.5 * levels**2
    # MultiBench's relative robustness: trapezoid with spacing 0.1 over [0, 1].
    multibench = sum((accuracy[i] + accuracy[i + 1]) * 0.1 / 2 for i in range(10))
    assert robustness_auc(levels, accuracy) == pytest.approx(multibench)
    uneven = np.array([0.0, 0.1, 0.3, 0.6])
    values = np.array([0.8, 0.7, 0.5, 0.2])
    assert robustness_auc(uneven, values) == pytest.approx(sk.auc(uneven, values) / 0.6)
    assert robustness_auc([0.2, 0.4, 0.8], [0.7, 0.7, 0.7]) == pytest.approx(0.7)  # a flat curve scores its value
    with pytest.raises(ValueError, match="increase"):
        robustness_auc([0.0, 0.5, 0.2], [1, 1, 1])
    with pytest.raises(ValueError, match="two levels"):
        robustness_auc([0.0], [1.0])


def test_robustness_curve_measures_each_level():
    curve = robustness_curve(lambda rate: 1.0 - rate, [0.0, 0.25, 0.5, 1.0], name="accuracy")
    assert isinstance(curve, pd.DataFrame)
    assert curve["accuracy"].tolist() == [1.0, 0.75, 0.5, 0.0]
    assert curve.attrs["auc"] == pytest.approx(0.5)


@pytest.mark.parametrize("seed, never_predicted", [(0, None), (3, 2)])
def test_per_class_report_matches_sklearn(seed, never_predicted):
    from cmlearn.metrics import per_class_report

    logits, target = predictions(seed, never_predicted=never_predicted)
    table = per_class_report(logits, target, class_names=list("abcde"))
    y_true, y_pred = target.numpy(), logits.argmax(1).numpy()
    precision, recall, f1, support = sk.precision_recall_fscore_support(y_true, y_pred, labels=range(5), zero_division=0)
    np.testing.assert_allclose(table["precision"], precision, atol=1e-12)
    np.testing.assert_allclose(table["recall"], recall, atol=1e-12)
    np.testing.assert_allclose(table["F1"], f1, atol=1e-12)
    np.testing.assert_array_equal(table["support"], support)
    assert list(table.index) == list("abcde")
    # Macro = the plain mean over classes; micro pools TP, FP, FN first and equals accuracy here.
    report = classification_report(logits, target)
    assert table["F1"].mean() == pytest.approx(report["macro F1"], abs=1e-6)
    tp, fp = table["TP"].sum(), table["FP"].sum()
    assert tp / (tp + fp) == pytest.approx(report["micro precision"], abs=1e-6) == pytest.approx(report["accuracy"], abs=1e-6)
    if never_predicted is not None:
        assert table.loc["c", "precision"] == 0 and table.loc["c", "TP"] == 0


def test_per_class_report_by_hand():
    from cmlearn.metrics import per_class_report

    # true 0 0 0 1 1 2; predicted 0 0 1 1 0 2: class 0 has TP 2, FP 1, FN 1 -> P = R = F1 = 2/3.
    table = per_class_report(torch.tensor([0, 0, 1, 1, 0, 2]), torch.tensor([0, 0, 0, 1, 1, 2]))
    assert table.loc[0, ["TP", "FP", "FN", "support"]].tolist() == [2, 1, 1, 3]
    assert table.loc[0, "F1"] == pytest.approx(2 / 3)
    assert table.loc[1, "precision"] == pytest.approx(1 / 2) and table.loc[1, "recall"] == pytest.approx(1 / 2)
    assert table.loc[2, "F1"] == 1.0
    with pytest.raises(ValueError, match="class names"):
        per_class_report(torch.tensor([0, 1]), torch.tensor([0, 1]), class_names=["only one"])
