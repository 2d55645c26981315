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


# -- leaderboard acceptance rules: prescribed seeds and per-episode return ranges (issue 17) ----


def test_every_builtin_benchmark_declares_seed_rules_and_a_return_range():
    for b in list_benchmarks():
        assert 1 <= b.min_seeds <= b.rank_seeds, b.name
        assert b.return_range is not None and b.return_range_source, b.name
        low, high = b.return_range
        assert low <= high, b.name
        if b.max_score is not None:  # the analytic maximum lies inside the range
            assert low <= b.max_score <= high, b.name
        assert b.prescribed_seeds(4) == [0, 1, 2, 3]


def test_rules_are_outside_the_hash():
    """Tightening a rule must not invalidate every results file already written."""
    b = get_benchmark("Bandit")
    changed = dataclasses.replace(b, min_seeds=7, rank_seeds=9, return_range=(-5.0, 5.0),
                                  return_range_source="other")
    assert changed.hash == b.hash
    assert dataclasses.replace(b, num_test_tasks=99).hash != b.hash  # (the hash still works)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("min_seeds", 0, "min_seeds must be an int >= 1"),
    ("rank_seeds", 2, "rank_seeds must be >= min_seeds"),
    ("return_range", (1.0, 0.0), "low <= high"),
    ("return_range", (0.0, float("inf")), "two finite numbers"),
    ("return_range", "0..1", r"return_range must be None or \(low, high\)"),
])
def test_bad_rules_are_refused(field, value, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(get_benchmark("Bandit"), **{field: value})


def test_krazy_world_range_covers_every_test_task():
    for preset in ("Easy", "Medium", "Hard"):
        b = get_benchmark(f"KrazyWorld-{preset}")
        low, high = b.return_range
        for task in b.tasks():
            goals = "".join(task.tiles).count("G")
            # +1 per goal, once per episode; a death pays death_reward and ends the episode
            assert goals + max(0.0, task.death_reward) <= high
            assert min(0.0, task.death_reward) >= low


def test_maze_range_follows_from_horizon_and_wall_penalty():
    from krazy_gym.maze.env import DEFAULT_WALL_PENALTY
    from krazy_gym.maze.task import default_horizon

    b = get_benchmark("Maze")
    horizon = default_horizon(b.env_kwargs["size"])
    assert b.return_range == (-(1.0 + horizon * DEFAULT_WALL_PENALTY), 1.0)


def test_tabular_range_is_never_reached_by_an_honest_run():
    """|return| <= 10 max|mu| + |noise sum|, the noise sum N(0, 10): the bound must leave
    more than 16 standard deviations (P < 1e-56 per episode)."""
    import math

    import numpy as np

    b = get_benchmark("TabularMDP")
    m = max(float(np.abs(np.asarray(t.reward_means)).max()) for t in b.tasks())
    steps = b.make_env().spec.max_episode_steps
    low, high = b.return_range
    assert low == -high
    assert (high - steps * m) / math.sqrt(steps) > 16
    assert math.erfc(16 / math.sqrt(2)) < 1e-56


def test_point_env_ranges_follow_from_step_sizes():
    import math

    nav = get_benchmark("Navigation2D")
    steps = nav.make_env().spec.max_episode_steps
    worst = sum(math.sqrt(0.5) + 0.1 * math.sqrt(2) * t for t in range(1, steps + 1))
    assert nav.return_range[1] == 0.0 and -nav.return_range[0] >= worst
    corner = get_benchmark("PointCorner")
    # progress per step is at most the step length 0.2 * sqrt(2), in either direction
    assert corner.return_range == (-corner.return_range[1], corner.return_range[1])
    assert steps * 0.2 * math.sqrt(2) <= corner.return_range[1] < steps * 0.2 * math.sqrt(2) + 0.05


def test_mujoco_ranges_are_generous_per_step_bounds():
    from krazy_gym.evaluation.benchmarks import MUJOCO_STEP_BOUND
    from krazy_gym.registration import ENV_TABLE

    horizons = {e.env_id: e.max_episode_steps for e in ENV_TABLE}
    for b in list_benchmarks():
        if b.vectorization != "async":
            continue
        low, high = b.return_range
        assert low == -MUJOCO_STEP_BOUND * horizons[b.env_id]
        assert high == (b.max_score if b.max_score is not None else MUJOCO_STEP_BOUND * horizons[b.env_id])
