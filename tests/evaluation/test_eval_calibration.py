"""Stored constants match fresh measurements: random scores and stored test tasks."""

from __future__ import annotations

import importlib.util

import pytest

from krazy_gym.evaluation import get_benchmark, list_benchmarks
from krazy_gym.evaluation._random_scores import RANDOM_SCORES
from krazy_gym.evaluation.calibrate import (
    check_abs_tolerance,
    check_tolerance,
    measure_random_score,
)
from krazy_gym.evaluation.calibrate import main as calibrate_main
from krazy_gym.registration import MUJOCO_IDS


def _installed(bench) -> bool:
    from krazy_gym.registration import MUJOCO_IDS

    return bench.env_id not in MUJOCO_IDS or importlib.util.find_spec("mujoco") is not None


def test_every_benchmark_has_a_random_score_and_a_usable_normaliser():
    for b in list_benchmarks():
        if not _installed(b):
            continue  # the family's optional dependency is missing here
        assert b.name in RANDOM_SCORES, f"{b.name}: run python -m krazy_gym.evaluation.calibrate"
        assert b.random_score == RANDOM_SCORES[b.name]
        if b.normaliser is not None:
            assert b.normaliser > b.random_score, b.name


def test_stored_tasks_equal_generated_tasks_fast():
    bench = get_benchmark("KrazyWorld-Easy")
    assert bench.store_tasks and bench.stored_tasks_path().is_file()
    assert bench.load_stored_tasks() == bench.generate_tasks()


@pytest.mark.slow
@pytest.mark.parametrize("name", [b.name for b in list_benchmarks() if b.store_tasks])
def test_stored_tasks_equal_generated_tasks(name):
    bench = get_benchmark(name)
    assert bench.load_stored_tasks() == bench.generate_tasks()


FAST = [b.name for b in list_benchmarks() if b.env_id not in MUJOCO_IDS]


def test_calibrate_check_passes_for_every_non_mujoco_benchmark(capsys):
    """``calibrate --check`` in the default run, so a stale constant fails CI (PointCorner's
    once did, unnoticed: it was missing from the slow list this replaced). About 10 s."""
    assert len(FAST) >= 8
    code = calibrate_main(["--check", *FAST])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.count("random score") == len(FAST)


def test_calibrate_check_fails_on_a_stale_constant(monkeypatch, capsys):
    monkeypatch.setitem(RANDOM_SCORES, "Bandit", RANDOM_SCORES["Bandit"] + 1e-6)
    assert calibrate_main(["--check", "Bandit"]) == 1
    assert "same" not in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.parametrize("name", [b.name for b in list_benchmarks() if b.env_id in MUJOCO_IDS])
def test_stored_mujoco_random_score_matches_a_fresh_measurement(name):
    if importlib.util.find_spec("mujoco") is None:
        pytest.skip("mujoco is not installed")
    tol, atol = check_tolerance(name), check_abs_tolerance(name)
    assert measure_random_score(name) == pytest.approx(RANDOM_SCORES[name], rel=tol, abs=atol)
