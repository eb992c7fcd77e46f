"""Experiments over seeds: a claim the book makes is about a distribution of runs, not about one run.

Used in chapters 2, 3, 4, 5, 6, 7, 8, 10, 11 and 12.

Chapter ``10_evaluation`` shows why (one run per method proves nothing); every chapter that compares
methods uses this module. The shape of an experiment:

.. code-block:: python

    seeds = cm.experiment.seed_list(seed, n_seeds)           # e.g. [0, 1, 2]
    table = cm.experiment.run_seeds(one_run, seeds)          # one_run(seed) -> {method: {metric: value}}
    cm.experiment.summarize(table, "R@1")                    # mean, sd, 95% t-interval per method
    gap = cm.experiment.compare(table, "attention", "MLP", "R@1")
    assert gap.established, gap                              # only what the seeds support

``compare`` pairs the runs by seed (both methods saw the same data and the same batch order in a seed), so
the difference of seed s is d_s = a_s − b_s and its interval is the t-interval of the d_s:

    mean(d) ± t_{0.975, n−1} · sd(d) / sqrt(n)

"A beats B" is *established* when that interval lies above 0, or when A wins on every seed (the
count is stated next to the claim). Otherwise the book says "not established at this size".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from cmlearn.metrics import mean_confidence_interval

NOT_ESTABLISHED = "not established at this size"

RunResult = Mapping[str, float] | Mapping[str, Mapping[str, float]]


def seed_list(seed: int, n_seeds: int) -> list[int]:
    """The seeds of a chapter: ``n_seeds`` consecutive integers from ``seed`` (a chapter's ``parameters``)."""
    if int(n_seeds) != n_seeds or n_seeds < 1:
        raise ValueError(f"n_seeds: expected a positive integer, got {n_seeds!r}")
    if int(seed) != seed:
        raise ValueError(f"seed: expected an integer, got {seed!r}")
    return [int(seed) + i for i in range(int(n_seeds))]


def _rows(seed: int, result: RunResult, metric: str | None) -> list[dict]:
    if not isinstance(result, Mapping) or not result:
        raise TypeError(f"run(seed={seed}) must return a non-empty dict {{method: value}} or {{method: {{metric: value}}}}, "
                        f"got {type(result).__name__}")
    rows = []
    for method, value in result.items():
        metrics = value if isinstance(value, Mapping) else {metric or "value": value}
        for name, number in metrics.items():
            number = float(number)
            if not math.isfinite(number):
                raise ValueError(f"run(seed={seed}) gave {method!r} / {name!r} = {number}: expected a finite number")
            rows.append({"seed": seed, "method": str(method), "metric": str(name), "value": number})
    return rows


def run_seeds(run: Callable[[int], RunResult], seeds: Sequence[int], metric: str | None = None,
              desc: str = "seeds", progress: bool = True) -> pd.DataFrame:
    """Call ``run(seed)`` for every seed and collect the results in one tidy table.

    Args:
        run: one repetition of the experiment. It seeds what it uses from its argument and returns
            ``{method: value}`` (one metric, named by ``metric``) or ``{method: {metric: value}}``.
        seeds: the seeds, e.g. :func:`seed_list`.
        metric: the metric's name when ``run`` returns one number per method (default ``"value"``).
        desc, progress: label of the progress bar over seeds, and whether to show it.

    Returns:
        DataFrame with columns ``seed``, ``method``, ``metric``, ``value``: one row per (seed, method, metric).
    """
    seeds = list(seeds)
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds: expected a non-empty list of distinct integers, got {seeds}")
    if progress:
        from tqdm.auto import tqdm

        seeds_iter = tqdm(seeds, desc=desc, leave=False)
    else:
        seeds_iter = seeds
    rows = [row for seed in seeds_iter for row in _rows(seed, run(seed), metric)]
    return pd.DataFrame(rows, columns=["seed", "method", "metric", "value"])


def with_reference(table: pd.DataFrame, method: str, value, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """``table`` plus a reference ``method`` whose value on each seed is known: chance, a number reported elsewhere.

    :func:`compare` then pairs a method with it seed by seed like with any other method, so "above chance" gets
    the same interval and verdict as "better than B".

    Args:
        table: from :func:`run_seeds`; the reference gets a row for each of its seeds.
        method: the reference's name (e.g. ``"chance"``), not yet a method of ``table``.
        value: a number (every seed and metric), a function ``(seed, metric) -> number`` (e.g. chance on that
            seed's test set), or ``{metric: number}`` (then only those metrics).
        metrics: the metrics to add it for; default every metric of ``table`` (or the dict's keys).

    Returns:
        a new table, ``table``'s rows then the reference's.
    """
    _check_columns(table)
    if method in set(table["method"]):
        raise ValueError(f"{method!r} is already a method of the table: name the reference otherwise")
    if isinstance(value, Mapping):
        if metrics is not None:
            raise ValueError("give the metrics either as the keys of value or as metrics, not both")
        metrics, value_of = list(value), lambda seed, metric: value[metric]
    elif callable(value):
        value_of = value
    else:
        constant = float(value)
        value_of = lambda seed, metric: constant  # noqa: E731
    known = list(dict.fromkeys(table["metric"]))
    metrics = known if metrics is None else list(metrics)
    unknown = [metric for metric in metrics if metric not in known]
    if unknown:
        raise KeyError(f"metrics {unknown} not in the table; it holds {known}")
    rows = [{"seed": seed, "method": method, "metric": metric, "value": float(value_of(seed, metric))}
            for seed in dict.fromkeys(table["seed"]) for metric in metrics]
    return pd.concat([table, pd.DataFrame(rows, columns=["seed", "method", "metric", "value"])], ignore_index=True)


def _check_columns(table: pd.DataFrame) -> None:
    missing = {"seed", "method", "metric", "value"} - set(table.columns)
    if missing:
        raise ValueError(f"expected a table from run_seeds (columns seed, method, metric, value); missing {sorted(missing)}")


def _select(table: pd.DataFrame, metric: str | None) -> pd.DataFrame:
    _check_columns(table)
    metrics = list(dict.fromkeys(table["metric"]))
    if metric is None:
        if len(metrics) != 1:
            raise ValueError(f"the table holds several metrics {metrics}: name one")
        metric = metrics[0]
    if metric not in metrics:
        raise KeyError(f"metric {metric!r} not in the table; it holds {metrics}")
    return table[table["metric"] == metric]


def by_seed(table: pd.DataFrame, metric: str | None = None) -> pd.DataFrame:
    """The results of one metric as a seed × method table (methods in the order they first appear)."""
    rows = _select(table, metric)
    methods = list(dict.fromkeys(rows["method"]))
    return rows.pivot_table(index="seed", columns="method", values="value", aggfunc="mean")[methods]


def values(table: pd.DataFrame, method: str, metric: str | None = None) -> list[float]:
    """One method's results of one metric, ordered by seed."""
    wide = by_seed(table, metric)
    if method not in wide.columns:
        raise KeyError(f"method {method!r} not in the table; it holds {list(wide.columns)}")
    return wide[method].dropna().tolist()


def summarize(table: pd.DataFrame, metric: str | None = None, level: float = 0.95) -> pd.DataFrame:
    """Mean, standard deviation and t-interval over seeds of each method (one metric).

    Returns:
        DataFrame indexed by method with columns ``mean``, ``std``, ``n``, ``low``, ``high``. With a single
        seed there is no interval: ``std``, ``low`` and ``high`` are NaN.
    """
    wide = by_seed(table, metric)
    rows = {}
    for method in wide.columns:
        sample = wide[method].dropna().tolist()
        if len(sample) >= 2:
            rows[method] = mean_confidence_interval(sample, level)
        else:
            rows[method] = {"mean": sample[0], "std": math.nan, "n": 1, "low": math.nan, "high": math.nan}
    frame = pd.DataFrame(rows).T
    frame["n"] = frame["n"].astype(int)
    frame.index.name = "method"
    return frame


def format_interval(mean: float, low: float, high: float, digits: int = 3, percent: bool = False) -> str:
    """``"0.721 (95% interval 0.690 to 0.752)"``; just the mean when the interval is NaN (one seed).

    With ``percent=True`` the value is a share (an accuracy, a recall), so its interval is shown clipped to
    0–100%: a t-interval around 96% over three seeds can reach past 100%, which no accuracy can.
    """
    def number(x: float) -> str:
        return f"{100 * x:.{max(digits - 2, 0)}f}%" if percent else f"{x:.{digits}f}"

    if math.isnan(low) or math.isnan(high):
        return number(mean)
    if percent:
        low, high = max(low, 0.0), min(high, 1.0)
    return f"{number(mean)} (95% interval {number(low)} to {number(high)})"


def mean_text(table: pd.DataFrame, method: str, metric: str | None = None, digits: int = 3, percent: bool = False) -> str:
    """One method's mean over seeds with its interval, as text for ``glue`` (see :func:`format_interval`)."""
    row = summarize(table, metric).loc[method]
    return format_interval(row["mean"], row["low"], row["high"], digits, percent)


def summary_table(table: pd.DataFrame, metrics: Sequence[str] | None = None, digits: int = 3) -> pd.DataFrame:
    """Methods × metrics, each cell ``"mean ± sd"`` over seeds: the results table a chapter shows."""
    metrics = list(dict.fromkeys(table["metric"])) if metrics is None else list(metrics)
    columns = {}
    for metric in metrics:
        summary = summarize(table, metric)
        columns[metric] = [f"{m:.{digits}f}" if math.isnan(s) else f"{m:.{digits}f} ± {s:.{digits}f}"
                           for m, s in zip(summary["mean"], summary["std"])]
        index = summary.index
    frame = pd.DataFrame(columns, index=index)
    frame.columns.name = f"mean ± sd over {int(table['seed'].nunique())} seeds"
    return frame


@dataclass(frozen=True)
class Comparison:
    """How method ``a`` compares with method ``b`` over paired seeds (see :func:`compare`).

    ``difference`` is mean(a − b) in the direction of "better" (already negated for metrics where
    lower is better), so a positive difference always means a is better.
    """

    a: str
    b: str
    metric: str
    difference: float
    low: float
    high: float
    wins: int
    n: int
    margin: float = 0.0

    @property
    def interval_excludes_zero(self) -> bool:
        return not math.isnan(self.low) and self.low > self.margin

    @property
    def established(self) -> bool:
        """True when a beats b by more than ``margin``: interval above it, or a better on every seed."""
        return self.n >= 2 and (self.interval_excludes_zero or (self.wins == self.n and self.difference > self.margin))

    @property
    def verdict(self) -> str:
        return "established" if self.established else NOT_ESTABLISHED

    def text(self, digits: int = 3, percent: bool = False) -> str:
        """``"+0.052 (95% interval 0.031 to 0.073; better on 3 of 3 seeds)"``: for the prose via ``glue``."""
        def number(x: float, sign: bool = False) -> str:
            body = f"{100 * x:{'+' if sign else ''}.{max(digits - 2, 0)}f} points" if percent else f"{x:{'+' if sign else ''}.{digits}f}"
            return body

        if math.isnan(self.low):
            return f"{number(self.difference, True)} (one seed)"
        lo, hi = (f"{100 * x:.{max(digits - 2, 0)}f}" for x in (self.low, self.high)) if percent else \
                 (f"{x:.{digits}f}" for x in (self.low, self.high))
        return f"{number(self.difference, True)} (95% interval {lo} to {hi}; better on {self.wins} of {self.n} seeds)"

    def __str__(self) -> str:
        return f"{self.a} vs {self.b} on {self.metric}: {self.text()} → {self.verdict}"


def compare(table: pd.DataFrame, a: str, b: str, metric: str | None = None, higher_is_better: bool = True,
            margin: float = 0.0, level: float = 0.95) -> Comparison:
    """Paired comparison of two methods over the seeds both were run with.

        d_s = a_s − b_s (or b_s − a_s when lower is better),   mean(d) ± t_{(1+level)/2, n−1} · sd(d) / sqrt(n)

    Args:
        table: from :func:`run_seeds`.
        a, b: the two methods; the claim under test is "a is better than b".
        metric: which metric (may be omitted when the table holds one).
        higher_is_better: False for losses, errors, ranks.
        margin: the claim is "a is better than b by more than ``margin``" (0: simply better).
        level: coverage of the interval.

    Returns:
        a :class:`Comparison`; ``.established`` says whether the seeds support the claim.
    """
    wide = by_seed(table, metric)
    for method in (a, b):
        if method not in wide.columns:
            raise KeyError(f"method {method!r} not in the table; it holds {list(wide.columns)}")
    paired = wide[[a, b]].dropna()
    if paired.empty:
        raise ValueError(f"{a!r} and {b!r} share no seed: run them with the same seeds to compare them")
    sign = 1.0 if higher_is_better else -1.0
    d = (sign * (paired[a] - paired[b])).tolist()
    metric_name = str(_select(table, metric)["metric"].iloc[0])
    if len(d) >= 2:
        ci = mean_confidence_interval(d, level)
        low, high = ci["low"], ci["high"]
    else:
        low = high = math.nan
    return Comparison(a=a, b=b, metric=metric_name, difference=sum(d) / len(d), low=low, high=high,
                      wins=sum(x > margin for x in d), n=len(d), margin=margin)


def plot_seeds(table: pd.DataFrame, metric: str | None = None, ax=None, ylabel: str | None = None, level: float = 0.95):
    """Each seed's result as a dot and each method's mean with its t-interval (:func:`cmlearn.plot.seed_intervals`)."""
    from cmlearn.plot import seed_intervals

    wide = by_seed(table, metric)
    if len(wide) < 2:
        raise ValueError(f"plot_seeds needs at least two seeds, got {len(wide)}")
    results = {method: wide[method].dropna().tolist() for method in wide.columns}
    name = ylabel or str(_select(table, metric)["metric"].iloc[0])
    return seed_intervals(results, level=level, ax=ax, ylabel=name)
