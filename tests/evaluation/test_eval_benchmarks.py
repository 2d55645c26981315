"""Benchmark definitions: registry, lookup errors, test tasks, the content hash."""

from __future__ import annotations

import dataclasses

import eval_toys
import pytest

from krazy_gym.evaluation.benchmarks import (
    Benchmark,
    UnknownBenchmarkError,
    get_benchmark,
    list_benchmarks,
)

REQUIRED = {"KrazyWorld-Easy", "KrazyWorld-Medium", "KrazyWorld-Hard", "Maze", "Bandit",
            "TabularMDP", "Navigation2D", "HalfCheetahDir", "HalfCheetahVel", "AntDir", "AntGoal",
            "HumanoidDir", "Walker2dDir", "Walker2dVel", "HopperParams", "Walker2dParams"}


def test_required_benchmarks_registered_with_protocols():
    names = {b.name for b in list_benchmarks()}
    assert REQUIRED <= names
    for b in list_benchmarks():
        assert b.env_id.startswith("KrazyGym/") and b.env_id.rsplit("-v", 1)[1].isdigit()
        if b.name.startswith("KrazyWorld") or b.name == "Maze":
            assert (b.explore_episodes, b.exploit_episodes, b.adapt) == (3, 2, True)
        if b.vectorization == "async":  # MuJoCo
            assert (b.explore_episodes, b.exploit_episodes, b.adapt) == (20, 2, True)
    assert get_benchmark("Bandit").reference_score == pytest.approx(0.66)
    assert get_benchmark("TabularMDP").reference_score == pytest.approx(15.62)
    assert get_benchmark("KrazyWorld-Hard").reference_score is None  # paper config unpublished


def test_every_benchmark_runs_on_a_native_vector_env_or_async_mujoco():
    """Issue 5: tasks run in lockstep on the native vector envs (AsyncVectorEnv for MuJoCo)."""
    import gymnasium as gym

    from krazy_gym.registration import MUJOCO_IDS

    for b in list_benchmarks():
        if b.env_id in MUJOCO_IDS:
            assert b.vectorization == "async", b.name
        else:
            assert b.vectorization == "vector_entry_point", b.name
            assert gym.spec(b.env_id).vector_entry_point is not None, b.name


def test_lookup_by_versioned_name():
    b = get_benchmark("Bandit")
    assert get_benchmark(f"Bandit-v{b.version}") is b
    with pytest.raises(UnknownBenchmarkError, match="v999"):
        get_benchmark("Bandit-v999")


def test_unknown_benchmark_did_you_mean():
    with pytest.raises(KeyError) as info:
        get_benchmark("KrazyWorld-Hrad")
    assert "did you mean 'KrazyWorld-Hard'" in str(info.value)
    with pytest.raises(ValueError, match="did you mean 'Bandit'"):
        get_benchmark("bandit")


def test_bad_definitions_rejected():
    with pytest.raises(ValueError, match="exploit_episodes"):
        eval_toys.chain_benchmark(exploit_episodes=0)
    with pytest.raises(ValueError, match="env_id"):
        eval_toys.chain_benchmark(env_id="KrazyGymTest/ToyChain")
    with pytest.raises(ValueError, match="metric_kind"):
        eval_toys.chain_benchmark(metric_kind="nope")


def test_tasks_are_the_first_test_tasks():
    bench = eval_toys.chain_benchmark()
    tasks = bench.tasks()
    assert len(tasks) == bench.num_test_tasks
    assert all(t.split == "test" for t in tasks)
    assert [t.index for t in tasks] == list(range(bench.num_test_tasks))
    env = bench.make_env()
    assert tasks == env.unwrapped.sample_tasks(bench.num_test_tasks, split="test")


@pytest.mark.parametrize(
    "change",
    [
        {"version": 2},
        {"name": "Other"},
        {"env_id": "eval_toys:KrazyGymTest/ToyBandit-v0", "env_kwargs": {"n_arms": 4}},
        {"env_kwargs": {"start_noise": False}},
        {"num_test_tasks": 7},  # adds a task to the list
        {"explore_episodes": 3},
        {"exploit_episodes": 1},
        {"adapt": False},
        {"random_score": -0.4},
        {"reference_score": 0.9},
        {"max_score": 2.0},
    ],
)
def test_hash_changes_with_anything_that_affects_scores(change):
    base = eval_toys.chain_benchmark()
    assert dataclasses.replace(base, **change).hash != base.hash


@pytest.mark.parametrize("change", [{"batch_size": 1}, {"description": "x"}, {"vectorization": "vector_entry_point"}])
def test_hash_ignores_how_the_run_is_executed(change):
    base = eval_toys.chain_benchmark()
    assert dataclasses.replace(base, **change).hash == base.hash


def test_hash_is_sha256_of_definition():
    import hashlib
    import json

    b = eval_toys.chain_benchmark()
    text = json.dumps(b.definition(), sort_keys=True, separators=(",", ":"))
    assert b.hash == hashlib.sha256(text.encode()).hexdigest()
    assert [t["goal"] for t in b.definition()["tasks"]] == [t.goal for t in b.tasks()]


def test_benchmark_is_frozen():
    b = eval_toys.chain_benchmark()
    with pytest.raises(dataclasses.FrozenInstanceError):
        b.num_test_tasks = 3  # type: ignore[misc]
    assert isinstance(b, Benchmark)
