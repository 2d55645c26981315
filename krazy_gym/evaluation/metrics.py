"""Scores and aggregates with rliable's conventions (Agarwal et al. 2021).

* The **score** of a task in one seed is the mean return of its exploit episodes (the last
  ``exploit_episodes`` entries of the seeds × tasks × episodes ``returns`` array).
* The **normalised score** is ``(score - random) / (top - random)`` with ``top`` the
  benchmark's reference (else max) score; offset-only when the benchmark has neither.
* Aggregates over the seeds × tasks matrix of normalised scores: **IQM** (the 25% trimmed mean
  of all entries, exactly ``rliable.metrics.aggregate_iqm``) and the **mean**, each with a
  95% percentile confidence interval from the **stratified bootstrap**: every replicate
  resamples, independently for each task (the strata), the seeds of that task with
  replacement — ``rliable.library.StratifiedBootstrap`` with ``task_bootstrap=False``.
* The **oracle fraction** (Krazy World) is ``(score - random) / (oracle - random)`` per task,
  with the task's oracle bound and exact random expectation (:func:`oracle_fraction`).

rliable itself is not used at run time: ``rliable.library`` (the bootstrap) imports ``arch``,
which fails to import with the pandas 3 in this environment, and ``rliable.metrics`` pulls in
scipy (seconds of import time for a 25% trimmed mean). The few functions are implemented
here in numpy (the bootstrap vectorised, driven by an explicit ``np.random.Generator``) and
tested against hand-computed values and against ``rliable.metrics`` / ``scipy.stats``.
``aggregate(..., seed=s)`` is deterministic for a given ``s``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from krazy_gym.evaluation.benchmarks import Benchmark, get_benchmark

#: bootstrap replicates used by :func:`aggregate` (rliable's default is 50 000; 2 000 gives
#: CI endpoints stable to about 1% of their width and keeps leaderboard recomputation fast)
DEFAULT_REPS = 2000
CONFIDENCE = 0.95


def _as_returns(returns: Any, benchmark: Benchmark) -> np.ndarray:
    arr = np.asarray(returns, dtype=np.float64)
    if arr.ndim != 3:
        raise ValueError(f"returns must be seeds × tasks × episodes (3-D), got shape {arr.shape}")
    if arr.shape[2] != benchmark.episodes:
        raise ValueError(
            f"returns have {arr.shape[2]} episodes per task but {benchmark.name} has "
            f"{benchmark.explore_episodes} explore + {benchmark.exploit_episodes} exploit"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError("returns must be finite")
    return arr


def task_scores(returns: Any, benchmark: Benchmark | str) -> np.ndarray:
    """seeds × tasks raw scores: the mean return of the exploit episodes."""
    benchmark = get_benchmark(benchmark)
    arr = _as_returns(returns, benchmark)
    return arr[:, :, benchmark.explore_episodes :].mean(axis=2)


def normalise(scores: Any, benchmark: Benchmark | str) -> np.ndarray:
    """Normalise raw scores (any shape) with the benchmark's constants."""
    benchmark = get_benchmark(benchmark)
    scores = np.asarray(scores, dtype=np.float64)
    top = benchmark.normaliser
    if top is None:
        return scores - benchmark.random_score
    span = top - benchmark.random_score
    if span == 0:
        raise ValueError(f"{benchmark.name}: normaliser equals random_score ({top})")
    return (scores - benchmark.random_score) / span


def normalised_scores(returns: Any, benchmark: Benchmark | str) -> np.ndarray:
    """seeds × tasks normalised scores (see the module docstring)."""
    benchmark = get_benchmark(benchmark)
    return normalise(task_scores(returns, benchmark), benchmark)


# -- point estimates (rliable conventions) -----------------------------------------------------


def trimmed_mean_rows(x: np.ndarray, proportion: float = 0.25) -> np.ndarray:
    """Per-row trimmed mean, exactly as ``scipy.stats.trim_mean(x, proportion, axis=1)``:
    drop ``int(proportion * n)`` values from each end of every row, average the rest."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[1]
    low = int(proportion * n)
    high = n - low
    if low >= high:
        raise ValueError(f"proportion {proportion} too large for {n} values")
    part = np.partition(x, (low, high - 1), axis=1)
    return part[:, low:high].mean(axis=1)


def iqm(scores: Any) -> float:
    """Interquartile mean of all entries: the 25% trimmed mean, as
    ``rliable.metrics.aggregate_iqm`` (numpy only, so scipy is not imported)."""
    return float(trimmed_mean_rows(np.asarray(scores, dtype=np.float64).reshape(1, -1))[0])


def mean(scores: Any) -> float:
    """Mean of all entries."""
    return float(np.mean(np.asarray(scores, dtype=np.float64)))


def _iqm_rows(x: np.ndarray) -> np.ndarray:
    return trimmed_mean_rows(x, 0.25)


def _mean_rows(x: np.ndarray) -> np.ndarray:
    return x.mean(axis=1)


def stratified_bootstrap_ci(
    scores: Any,
    statistic: Callable[[np.ndarray], np.ndarray],
    *,
    reps: int = DEFAULT_REPS,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile CI of ``statistic`` under the stratified bootstrap over runs.

    Args:
        scores: runs (seeds) × tasks matrix.
        statistic: maps a (reps, runs*tasks) array of resampled matrices (flattened) to one
            value per replicate.
        reps: number of bootstrap replicates.
        confidence: e.g. 0.95 for the 2.5% and 97.5% percentiles.
        seed: seeds the ``np.random.Generator``; same seed, same interval.
    """
    x = np.asarray(scores, dtype=np.float64)
    if x.ndim != 2 or x.size == 0:
        raise ValueError(f"scores must be a non-empty runs × tasks matrix, got shape {x.shape}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    runs, tasks = x.shape
    rng = np.random.default_rng(seed)
    values = np.empty(reps, dtype=np.float64)
    chunk = max(1, 2_000_000 // max(1, runs * tasks))
    for start in range(0, reps, chunk):
        n = min(chunk, reps - start)
        rows = rng.integers(0, runs, size=(n, runs, tasks))  # per-task resampling of runs
        sample = x[rows, np.arange(tasks)[None, None, :]]
        values[start : start + n] = statistic(sample.reshape(n, runs * tasks))
    alpha = (1.0 - confidence) / 2.0
    low, high = np.percentile(values, [100 * alpha, 100 * (1 - alpha)])
    return float(low), float(high)


def adaptation_curve(returns: Any) -> list[float]:
    """Mean return per episode index (over seeds and tasks): the adaptation curve."""
    arr = np.asarray(returns, dtype=np.float64)
    return [float(v) for v in arr.mean(axis=(0, 1))]


def aggregate(
    returns: Any, benchmark: Benchmark | str, seed: int = 0, reps: int = DEFAULT_REPS
) -> dict[str, Any]:
    """Aggregate a seeds × tasks × episodes returns array.

    Returns a JSON-able dict::

        {"score_mean": raw mean score,
         "normalised_iqm": {"value", "ci_low", "ci_high"},
         "normalised_mean": {"value", "ci_low", "ci_high"},
         "adaptation_curve": mean return per episode index,
         "adaptation_curve_normalised": the same, normalised,
         "num_seeds", "num_tasks", "bootstrap": {...}}

    Deterministic for a given ``seed``.
    """
    benchmark = get_benchmark(benchmark)
    arr = _as_returns(returns, benchmark)
    raw = task_scores(arr, benchmark)
    norm = normalise(raw, benchmark)
    out: dict[str, Any] = {"score_mean": mean(raw)}
    for name, point, stat in (("iqm", iqm, _iqm_rows), ("mean", mean, _mean_rows)):
        low, high = stratified_bootstrap_ci(norm, stat, reps=reps, seed=seed)
        out[f"normalised_{name}"] = {"value": point(norm), "ci_low": low, "ci_high": high}
    curve = adaptation_curve(arr)
    out["adaptation_curve"] = curve
    out["adaptation_curve_normalised"] = [float(v) for v in normalise(curve, benchmark)]
    out["num_seeds"], out["num_tasks"] = int(arr.shape[0]), int(arr.shape[1])
    out["bootstrap"] = {
        "method": "stratified (seeds resampled within each task), percentile",
        "reps": int(reps),
        "confidence": CONFIDENCE,
        "seed": int(seed),
    }
    return out


# -- the oracle fraction (Krazy World) ---------------------------------------------------------


def oracle_fractions(returns: Any, benchmark: Benchmark | str) -> np.ndarray:
    """seeds × tasks oracle fractions ``(score - random) / (oracle - random)``.

    Per test task: ``score`` is the task's score in that seed (:func:`task_scores`),
    ``oracle`` the best return one episode of the task can reach and ``random`` the exact
    expected return of one episode of uniform random actions on it, both from the stored
    oracle file (:mod:`krazy_gym.evaluation.oracle`). 1 is the best any agent can do on the
    task, 0 is the random agent's expectation. The random figure is per task (not the
    benchmark's ``random_score``, a Monte-Carlo estimate of the mean over tasks) so that the
    random agent's expected fraction is 0 on every task.

    Raises:
        OracleUnavailableError: the benchmark has no oracle (only Krazy World has one) or
            its stored file does not match the installed benchmark.
    """
    from krazy_gym.evaluation.oracle import load_oracle

    benchmark = get_benchmark(benchmark)
    table = load_oracle(benchmark)
    scores = task_scores(returns, benchmark)
    if scores.shape[1] != table.oracle.size:
        raise ValueError(
            f"returns have {scores.shape[1]} tasks but {benchmark.name} has {table.oracle.size} test tasks"
        )
    return (scores - table.random) / (table.oracle - table.random)


def oracle_fraction(
    results: Any, benchmark: Benchmark | str | None = None, seed: int = 0, reps: int = DEFAULT_REPS
) -> dict[str, Any]:
    """The oracle fraction of a run: per task and aggregated (see :func:`oracle_fractions`).

    Args:
        results: a results dict (its ``returns``; the benchmark defaults to its
            ``benchmark.name``) or a seeds × tasks × episodes returns array.
        benchmark: the benchmark (required with a bare array).
        seed, reps: of the stratified bootstrap, as :func:`aggregate`.

    Returns ``{"per_task": mean over seeds per task, "mean": {value, ci_low, ci_high},
    "iqm": {...}, "ratio_of_means": (mean score - mean random) / (mean oracle - mean random)}``;
    the mean and IQM are over the seeds × tasks fractions with 95% stratified-bootstrap CIs.
    Per-task fractions of tasks where the oracle is close to random are noisy (on
    KrazyWorld-Hard the smallest gap is 0.24), which the IQM and the ratio of means damp.
    """
    if isinstance(results, Mapping):
        returns = results["returns"]
        if benchmark is None:
            benchmark = results["benchmark"]["name"]
    else:
        returns = results
    if benchmark is None:
        raise ValueError("benchmark is required when results is a returns array")
    from krazy_gym.evaluation.oracle import load_oracle

    benchmark = get_benchmark(benchmark)
    frac = oracle_fractions(returns, benchmark)
    table = load_oracle(benchmark)
    out: dict[str, Any] = {"per_task": [float(v) for v in frac.mean(axis=0)]}
    for name, point, stat in (("mean", mean, _mean_rows), ("iqm", iqm, _iqm_rows)):
        low, high = stratified_bootstrap_ci(frac, stat, reps=reps, seed=seed)
        out[name] = {"value": point(frac), "ci_low": low, "ci_high": high}
    score = float(task_scores(returns, benchmark).mean())
    out["ratio_of_means"] = (score - float(table.random.mean())) / float((table.oracle - table.random).mean())
    return out


__all__: Sequence[str] = (
    "adaptation_curve",
    "aggregate",
    "iqm",
    "mean",
    "normalise",
    "normalised_scores",
    "oracle_fraction",
    "oracle_fractions",
    "stratified_bootstrap_ci",
    "task_scores",
)
