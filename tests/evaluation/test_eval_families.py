"""The real benchmarks run end to end (on a few tasks) and their metrics are consistent."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from krazy_gym.evaluation import evaluate, get_benchmark, list_benchmarks
from krazy_gym.evaluation.results import validate_results

RANDOM = "krazy_gym.evaluation.agents:random_agent"


def small(name: str, **changes):
    """The benchmark with a few tasks and short protocol (the definition, not the run, shrinks)."""
    bench = get_benchmark(name)
    fields = {"num_test_tasks": 3, "explore_episodes": min(bench.explore_episodes, 2),
              "exploit_episodes": 2, "batch_size": 2}
    fields.update(changes)
    return dataclasses.replace(bench, **fields)


@pytest.mark.parametrize("preset", ["Easy", "Medium", "Hard"])
def test_krazy_world_returns_equal_goals_collected(preset):
    bench = small(f"KrazyWorld-{preset}", num_test_tasks=6)
    res = evaluate(RANDOM, bench, seeds=2, progress=False)
    validate_results(res)
    m = {k: np.asarray(v) for k, v in res["exploration_metrics"].items()}
    # +1 per goal and death_reward 0 in every preset: an episode's return is its goal count
    np.testing.assert_array_equal(np.asarray(res["returns"]), m["goals"])
    assert set(m) == {"episode_length", "goals", "deaths", "keys", "teleports",
                      "tile_types_visited", "tile_types_visited_fraction"}
    assert ((m["deaths"] == 0) | (m["deaths"] == 1)).all()
    assert (m["tile_types_visited"] >= 1).all()  # the start tile is visited
    assert (m["tile_types_visited_fraction"] <= 1).all()
    assert m["episode_length"].max() <= bench.make_env().spec.max_episode_steps
    assert m["goals"].max() <= bench.max_score
    assert within_range(res["returns"], bench)


def test_maze_success_and_path_length_ratio_are_consistent():
    bench = small("Maze", env_kwargs={"size": 4}, num_test_tasks=6)
    res = evaluate(RANDOM, bench, seeds=3, progress=False)
    validate_results(res)
    m = {k: np.asarray(v) for k, v in res["exploration_metrics"].items()}
    ret = np.asarray(res["returns"])
    success = m["success"] == 1
    assert success.any() and (~success).any()
    assert (m["path_length_ratio"][success] >= 1).all()  # never shorter than the BFS optimum
    assert (ret[success] > 0).all() and (ret[~success] < 0).all()
    assert within_range(ret, get_benchmark("Maze"))  # a 4x4 maze: within the 10x10 bound too


def within_range(returns, bench) -> bool:
    low, high = bench.return_range
    arr = np.asarray(returns)
    return bool(((arr >= low) & (arr <= high)).all())


@pytest.mark.parametrize("name", ["Bandit", "TabularMDP", "Navigation2D", "PointCorner"])
def test_sanity_families_run(name):
    bench = small(name)
    res = evaluate(RANDOM, bench, seeds=2, progress=False)
    validate_results(res)
    assert np.isfinite(np.asarray(res["returns"])).all()
    assert within_range(res["returns"], bench)  # the leaderboard's bound holds for real runs


def test_bandit_random_score_is_the_mean_arm_probability():
    bench = small("Bandit", num_test_tasks=20, exploit_episodes=10, batch_size=20)
    res = evaluate(RANDOM, bench, seeds=40, progress=False)
    expected = np.mean([np.mean(t.probs) for t in bench.tasks()])
    assert res["aggregates"]["score_mean"] == pytest.approx(expected, abs=0.02)


def test_mujoco_async_vector_env_equals_sync():
    """Calibration runs MuJoCo in one process (sync); it must give the async results."""
    pytest.importorskip("mujoco")
    bench = small("HalfCheetahVel", num_test_tasks=2, explore_episodes=1, exploit_episodes=1)
    assert bench.vectorization == "async"
    res = evaluate(RANDOM, bench, seeds=1, progress=False)
    validate_results(res)
    assert res["exploration_metrics"]["episode_length"] == [[[100.0, 100.0]] * 2]
    same = evaluate(RANDOM, dataclasses.replace(bench, vectorization="sync"), seeds=1,
                    progress=False)
    assert same["returns"] == res["returns"]


@pytest.mark.slow
@pytest.mark.parametrize("name", [b.name for b in list_benchmarks() if b.vectorization == "async"])
def test_every_mujoco_benchmark_runs(name):
    pytest.importorskip("mujoco")
    bench = small(name, num_test_tasks=2, explore_episodes=1, exploit_episodes=1,
                  vectorization="sync")
    res = evaluate(RANDOM, bench, seeds=1, progress=False)
    validate_results(res)
