import math

import pandas as pd
import pytest
from scipy import stats

from cmlearn import experiment
from cmlearn.experiment import NOT_ESTABLISHED, compare, run_seeds, seed_list, summarize


def table_from(results: dict[str, list[float]], metric: str = "acc") -> pd.DataFrame:
    return run_seeds(lambda seed: {method: {metric: values[seed]} for method, values in results.items()},
                     range(len(next(iter(results.values())))), progress=False)


def test_seed_list_and_bad_counts():
    assert seed_list(1, 3) == [1, 2, 3]
    for bad in (0, -1, 2.5):
        with pytest.raises(ValueError, match="n_seeds"):
            seed_list(0, bad)


def test_run_seeds_tidy_table_and_one_metric_shorthand():
    table = run_seeds(lambda s: {"a": s * 1.0, "b": 2.0}, [0, 1], metric="R@1", progress=False)
    assert list(table.columns) == ["seed", "method", "metric", "value"]
    assert len(table) == 4 and set(table["metric"]) == {"R@1"}
    assert experiment.values(table, "a") == [0.0, 1.0]


def test_run_seeds_rejects_bad_results():
    with pytest.raises(TypeError, match="must return"):
        run_seeds(lambda s: 0.5, [0], progress=False)
    with pytest.raises(ValueError, match="finite"):
        run_seeds(lambda s: {"a": float("nan")}, [0], progress=False)
    with pytest.raises(ValueError, match="distinct"):
        run_seeds(lambda s: {"a": 1.0}, [0, 0], progress=False)


def test_summary_is_the_t_interval_by_hand():
    values = [0.70, 0.74, 0.72, 0.69, 0.75]
    row = summarize(table_from({"m": values})).loc["m"]
    mean, sd = sum(values) / 5, pd.Series(values).std()
    half = stats.t.ppf(0.975, 4) * sd / math.sqrt(5)
    assert row["mean"] == pytest.approx(mean) and row["std"] == pytest.approx(sd)
    assert (row["low"], row["high"]) == pytest.approx((mean - half, mean + half))


def test_one_seed_has_no_interval():
    row = summarize(table_from({"m": [0.5]})).loc["m"]
    assert row["n"] == 1 and math.isnan(row["low"])
    assert experiment.format_interval(row["mean"], row["low"], row["high"]) == "0.500"


def test_paired_difference_matches_scipy_paired_t():
    a, b = [0.80, 0.78, 0.83, 0.79], [0.70, 0.72, 0.71, 0.69]
    gap = compare(table_from({"a": a, "b": b}), "a", "b")
    reference = stats.ttest_rel(a, b).confidence_interval(0.95)
    assert (gap.low, gap.high) == pytest.approx((reference.low, reference.high))
    assert gap.wins == 4 and gap.established and gap.verdict == "established"


def test_a_noisy_tie_is_not_established_and_order_matters():
    table = table_from({"a": [0.70, 0.80, 0.72], "b": [0.74, 0.71, 0.75]})
    assert not compare(table, "a", "b").established
    assert not compare(table, "b", "a").established
    assert compare(table, "a", "b").verdict == NOT_ESTABLISHED


def test_winning_every_seed_counts_even_with_a_wide_interval():
    # a wins by 0.001 and by 0.3: the t-interval straddles 0, yet a is better on both seeds.
    gap = compare(table_from({"a": [0.501, 0.9], "b": [0.5, 0.6]}), "a", "b")
    assert gap.low < 0 and gap.wins == 2 and gap.established


def test_lower_is_better_and_margin():
    table = table_from({"a": [1.0, 1.1, 0.9], "b": [2.0, 2.1, 2.05]})
    assert compare(table, "a", "b", higher_is_better=False).established
    assert not compare(table, "a", "b").established
    assert not compare(table, "a", "b", higher_is_better=False, margin=1.5).established


def test_compare_errors_name_what_is_there():
    table = table_from({"a": [1.0, 2.0], "b": [1.0, 2.0]})
    with pytest.raises(KeyError, match="holds"):
        compare(table, "a", "c")
    with pytest.raises(KeyError, match="not in the table"):
        compare(table, "a", "b", metric="F1")


def test_summary_table_shows_spread():
    text = experiment.summary_table(table_from({"a": [0.5, 0.7], "b": [0.1, 0.1]}))
    assert text.loc["a", "acc"].startswith("0.600 ± 0.141") and text.loc["b", "acc"] == "0.100 ± 0.000"


def test_plot_seeds_draws_every_seed():
    import matplotlib

    matplotlib.use("Agg")
    figure = experiment.plot_seeds(table_from({"a": [0.5, 0.7, 0.6], "b": [0.1, 0.2, 0.1]}))
    dots = sum(len(c.get_offsets()) for c in figure.axes[0].collections if hasattr(c, "get_offsets"))
    assert dots >= 6


def test_a_share_interval_is_shown_within_0_and_100_percent():
    assert experiment.format_interval(0.958, 0.911, 1.006, percent=True) == "95.8% (95% interval 91.1% to 100.0%)"
    assert experiment.format_interval(0.02, -0.01, 0.05, percent=True) == "2.0% (95% interval 0.0% to 5.0%)"
    assert experiment.format_interval(0.958, 0.911, 1.006) == "0.958 (95% interval 0.911 to 1.006)"  # not a share: as is


def test_with_reference_compares_with_chance_or_a_reported_number_seed_by_seed():
    table = run_seeds(lambda s: {"model": {"R@1": 0.30 + 0.01 * s, "R@5": 0.6}}, [0, 1, 2])
    # one number for every seed and metric: the same paired difference as a hand-made column of it
    gap = compare(experiment.with_reference(table, "chance", 0.25), "model", "chance", "R@1")
    assert gap.difference == pytest.approx(0.06) and gap.established and gap.n == 3
    # per seed and metric (chance on each seed's own test set)
    per_seed = experiment.with_reference(table, "chance", lambda seed, metric: 0.1 * seed)
    assert experiment.values(per_seed, "chance", "R@5") == pytest.approx([0.0, 0.1, 0.2])
    # a dict: only those metrics
    reported = experiment.with_reference(table, "reported", {"R@5": 0.7})
    assert set(reported[reported["method"] == "reported"]["metric"]) == {"R@5"}
    assert not compare(reported, "model", "reported", "R@5").established
    assert len(table) == 6 and len(reported) == 9  # the input table is left as it was
    only_r1 = experiment.with_reference(table, "chance", 0.25, metrics=["R@1"])
    assert len(only_r1) == 9
    with pytest.raises(ValueError, match="already a method"):
        experiment.with_reference(table, "model", 0.5)
    with pytest.raises(KeyError, match="R@10"):
        experiment.with_reference(table, "chance", 0.25, metrics=["R@10"])
    with pytest.raises(ValueError, match="not both"):
        experiment.with_reference(table, "chance", {"R@1": 0.25}, metrics=["R@1"])
    with pytest.raises(ValueError, match="columns"):
        experiment.with_reference(pd.DataFrame({"seed": [0]}), "chance", 0.25)
