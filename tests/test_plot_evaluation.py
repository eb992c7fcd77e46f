"""Figures added for chapter 10 (evaluation)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from cmlearn.metrics import mean_confidence_interval  # noqa: E402
from cmlearn.plot import seed_intervals  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_seed_intervals_draws_every_seed_and_the_interval():
    results = {"a": [0.80, 0.82, 0.79, 0.85, 0.81], "b": [0.90, 0.88, 0.91, 0.89, 0.93]}
    fig = seed_intervals(results, ylabel="accuracy")
    ax = fig.axes[0]
    dots = [c for c in ax.collections if c.get_offsets().shape[0] == 5]
    assert len(dots) == 2  # one scatter of five seeds per method
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]
    assert ax.get_ylabel() == "accuracy"
    # The error bar of "b" sits at its mean and spans its t-interval.
    data_line, _, (bar_lines,) = ax.containers[1]
    expected = mean_confidence_interval(results["b"])
    assert data_line.get_ydata()[0] == pytest.approx(expected["mean"])
    (segment,) = bar_lines.get_segments()  # [[x, low], [x, high]]
    assert sorted(segment[:, 1]) == pytest.approx([expected["low"], expected["high"]])

def test_seed_intervals_bad_input():
    with pytest.raises(ValueError, match="empty"):
        seed_intervals({})
    with pytest.raises(ValueError, match="at least 2"):
        seed_intervals({"a": [0.5]})
