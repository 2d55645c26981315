"""Stored constants match fresh measurements: random scores and stored test tasks."""

from __future__ import annotations

import importlib.util

import pytest

from krazy_gym.evaluation import get_benchmark, list_benchmarks
from krazy_gym.evaluation._random_scores import RANDOM_SCORES
from krazy_gym.evaluation.calibrate import measure_random_score


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


@pytest.mark.slow
@pytest.mark.parametrize("name", ["KrazyWorld-Easy", "KrazyWorld-Hard", "Maze", "Bandit",
                                  "TabularMDP", "Navigation2D"])
def test_stored_random_score_matches_a_fresh_measurement(name):
    assert measure_random_score(name) == RANDOM_SCORES[name]
