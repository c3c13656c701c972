"""The statistics a tuned comparison reports, each from its public definition:

- median and interquartile range over seeds;
- the 95 % stratified-bootstrap confidence interval of Agarwal et al. (NeurIPS 2021, the
  `rliable` package): runs are resampled with replacement within each task (here: each sweep
  point), the statistic recomputed per resample, and the percentile interval taken. It is
  written here with numpy, not imported: rliable brings arch, statsmodels and absl with it for
  these few lines, and a single task is scipy.stats.bootstrap's percentile interval, which the
  tests check it against;
- the performance profile of Dolan and Moré (Math. Program. 91, 2002): per method, the fraction
  of tasks on which it is within tau of the best method there (here tau in accuracy, a
  difference, not a ratio: accuracies near 1 make ratios meaningless);
- the expected best validation score of n trials drawn from the K run (Dodge et al., EMNLP
  2019, "Show your work"), exact from the order statistics of the empirical distribution.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence

import numpy as np

CONFIDENCE = 0.95
RESAMPLES = 10_000


def median_iqr(values: Sequence[float]) -> tuple[float, float, float]:
    """(median, first quartile, third quartile), numpy's linear interpolation."""
    q1, median, q3 = np.percentile(np.asarray(values, dtype=float), [25, 50, 75])
    return float(median), float(q1), float(q3)


def stratified_bootstrap_ci(
    tasks: Sequence[Sequence[float]],
    statistic: Callable[..., np.ndarray] = np.median,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> tuple[float, float]:
    """The percentile interval of `statistic` over all runs pooled, resampling each task's runs
    with replacement (its size kept). `statistic` is a numpy reduction taking `axis`: every
    resample is drawn at once and reduced along its rows (10,000 Python iterations took 20 s
    for a devices table). Seeded: the same numbers give the same interval."""
    rng = np.random.default_rng(seed)
    resampled = [
        np.asarray(runs, dtype=float)[rng.integers(len(runs), size=(resamples, len(runs)))]
        for runs in tasks
    ]
    draws = statistic(np.concatenate(resampled, axis=1), axis=1)
    alpha = (1 - CONFIDENCE) / 2
    low, high = np.percentile(draws, [100 * alpha, 100 * (1 - alpha)])
    return float(low), float(high)


def performance_profile(
    scores: Mapping[Hashable, Mapping[str, float]], taus: Sequence[float]
) -> dict[Hashable, list[float]]:
    """Method -> fraction of the tasks on which its score is within tau of the best method's
    there, for each tau. `scores[method][task]`, higher is better; every method scored on every
    task."""
    tasks = sorted({task for per_task in scores.values() for task in per_task})
    best = {task: max(per_task[task] for per_task in scores.values()) for task in tasks}
    return {
        method: [
            sum(best[task] - per_task[task] <= tau for task in tasks) / len(tasks) for tau in taus
        ]
        for method, per_task in scores.items()
    }


def expected_max(values: Sequence[float], n: int) -> float:
    """E[max of n draws with replacement from `values`]: with v_(1) <= ... <= v_(K) sorted,
    sum_i v_(i) ((i/K)^n - ((i-1)/K)^n) (Dodge et al. 2019, eq. 1 with the empirical CDF)."""
    ordered = np.sort(np.asarray(values, dtype=float))
    k = len(ordered)
    i = np.arange(1, k + 1)
    return float(np.sum(ordered * ((i / k) ** n - ((i - 1) / k) ** n)))
