"""Metrics against hand-computed values and rliable's own point estimates."""

from __future__ import annotations

import eval_toys
import numpy as np
import pytest

from krazy_gym.evaluation.metrics import (
    adaptation_curve,
    aggregate,
    iqm,
    normalise,
    normalised_scores,
    stratified_bootstrap_ci,
    task_scores,
)


def test_iqm_hand_computed():
    # 8 values: the 25% trimmed mean drops the 2 lowest and 2 highest -> mean(3,4,5,6)
    assert iqm(np.array([[1.0, 2, 3, 4], [5, 6, 7, 100]])) == pytest.approx(4.5)
    # 12 values 0..11: drop 0,1,2 and 9,10,11 -> mean(3..8) = 5.5
    assert iqm(np.arange(12.0).reshape(3, 4)) == pytest.approx(5.5)


def test_iqm_matches_rliable():
    rly = pytest.importorskip("rliable.metrics")
    x = np.random.default_rng(3).normal(size=(5, 17))
    assert iqm(x) == pytest.approx(float(rly.aggregate_iqm(x)), abs=1e-12)


def test_scores_and_normalisation_hand_computed():
    bench = eval_toys.chain_benchmark(random_score=0.2, max_score=1.0)
    # 1 seed, 2 tasks, 2 explore + 2 exploit episodes
    returns = [[[0.0, 0.0, 0.6, 1.0], [1.0, 1.0, 0.2, 0.2]]]
    np.testing.assert_allclose(task_scores(returns, bench), [[0.8, 0.2]])
    np.testing.assert_allclose(normalised_scores(returns, bench), [[0.75, 0.0]])
    assert adaptation_curve(returns) == pytest.approx([0.5, 0.5, 0.4, 0.6])
    offset_only = eval_toys.chain_benchmark(random_score=0.2, max_score=None)
    np.testing.assert_allclose(normalise([1.2], offset_only), [1.0])
    with_ref = eval_toys.chain_benchmark(random_score=0.2, reference_score=0.6, max_score=1.0)
    np.testing.assert_allclose(normalise([0.6, 1.0], with_ref), [1.0, 2.0])


def test_bootstrap_ci_two_runs_one_task():
    # resampling 2 runs of one task: means a, (a+b)/2, b with prob 1/4, 1/2, 1/4,
    # so the 2.5% and 97.5% percentiles are exactly a and b
    x = np.array([[1.0], [3.0]])
    low, high = stratified_bootstrap_ci(x, lambda s: s.mean(axis=1), reps=4000, seed=0)
    assert (low, high) == (1.0, 3.0)


def test_bootstrap_ci_is_stratified_by_task():
    # every run identical within each task: any resample of runs inside a task gives the same
    # matrix, so the CI collapses to the point estimate (a non-stratified bootstrap would not)
    x = np.tile(np.array([[0.0, 1.0, 5.0, 9.0]]), (4, 1))
    low, high = stratified_bootstrap_ci(x, lambda s: s.mean(axis=1), reps=500, seed=1)
    assert low == high == pytest.approx(3.75)


def test_bootstrap_ci_covers_and_is_deterministic():
    x = np.random.default_rng(0).normal(size=(10, 8))
    a = stratified_bootstrap_ci(x, lambda s: s.mean(axis=1), seed=5)
    b = stratified_bootstrap_ci(x, lambda s: s.mean(axis=1), seed=5)
    c = stratified_bootstrap_ci(x, lambda s: s.mean(axis=1), seed=6)
    assert a == b and a != c
    assert a[0] < x.mean() < a[1]
    # the bootstrap SE of the mean of 10 runs per task ~ sd/sqrt(80); the CI is ~ ±1.96 SE
    assert a[1] - a[0] == pytest.approx(2 * 1.96 * x.std() / np.sqrt(80), rel=0.25)


def test_aggregate_fields_and_determinism():
    bench = eval_toys.chain_benchmark()
    returns = np.random.default_rng(1).uniform(-1, 1, size=(3, 6, 4))
    a, b = aggregate(returns, bench, seed=0), aggregate(returns, bench, seed=0)
    assert a == b
    norm = normalised_scores(returns, bench)
    assert a["normalised_mean"]["value"] == pytest.approx(norm.mean())
    assert a["normalised_iqm"]["value"] == pytest.approx(iqm(norm))
    assert a["score_mean"] == pytest.approx(returns[:, :, 2:].mean())
    for key in ("normalised_mean", "normalised_iqm"):
        assert a[key]["ci_low"] <= a[key]["value"] <= a[key]["ci_high"]
    assert a["adaptation_curve"] == pytest.approx(list(returns.mean(axis=(0, 1))))


def test_bad_shapes_rejected():
    bench = eval_toys.chain_benchmark()
    with pytest.raises(ValueError, match="episodes"):
        task_scores(np.zeros((1, 6, 3)), bench)
    with pytest.raises(ValueError, match="3-D"):
        task_scores(np.zeros((6, 4)), bench)


@pytest.mark.parametrize("shape", [(1, 7), (3, 8), (5, 64), (4, 13)])
def test_trimmed_mean_rows_matches_scipy(shape):
    from scipy import stats

    from krazy_gym.evaluation.metrics import trimmed_mean_rows

    x = np.random.default_rng(sum(shape)).normal(size=shape)
    np.testing.assert_allclose(trimmed_mean_rows(x), stats.trim_mean(x, 0.25, axis=1), rtol=1e-12)
