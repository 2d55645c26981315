"""The classic families' native vector envs equal gymnasium's SyncVectorEnv step for step.

Every comparison runs the same ids, seeds, tasks and actions through ``gym.make_vec`` (the
native ``vector_entry_point``) and through ``SyncVectorEnv`` over ``gym.make`` envs with
same-step autoreset, and asserts bit-identical observations, rewards, flags, infos, final
observations and final infos, including tasks changed with ``set_attr`` mid-episode and masked
resets. Bad input is rejected before anything changes.
"""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import krazy_gym  # noqa: F401  (registers the ids)
from krazy_gym.classic.vector import (
    BanditVectorEnv,
    Navigation2DVectorEnv,
    PointCornerVectorEnv,
    TabularMDPVectorEnv,
)
from krazy_gym.evaluation import evaluate, get_benchmark

CASES = [
    ("KrazyGym/Bandit-v0", BanditVectorEnv, 40),
    ("KrazyGym/TabularMDP-v0", TabularMDPVectorEnv, 120),
    ("KrazyGym/Navigation2D-v0", Navigation2DVectorEnv, 250),
    ("KrazyGym/PointCorner-v0", PointCornerVectorEnv, 250),
]
N = 12


def _sync(env_id: str, n: int) -> gym.vector.VectorEnv:
    return gym.make_vec(env_id, num_envs=n, vectorization_mode="sync",
                        vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP})


def _actions(envs, rng: np.random.Generator) -> np.ndarray:
    space = envs.single_action_space
    if isinstance(space, gym.spaces.Discrete):
        return rng.integers(0, space.n, size=envs.num_envs)
    # beyond the box on purpose: both must clip the same way
    return rng.uniform(-1.5 * space.high, 1.5 * space.high, size=(envs.num_envs, 2))


def _assert_same_step(native_out, sync_out, where: str) -> None:
    for k, name in enumerate(("obs", "reward", "terminated", "truncated")):
        a, b = native_out[k], sync_out[k]
        assert a.dtype == b.dtype and np.array_equal(a, b), f"{name} differs at {where}: {a} vs {b}"
    info, ref = native_out[4], sync_out[4]
    assert sorted(info) == sorted(ref), where
    for key, value in ref.items():
        if key == "final_obs":
            for i in np.flatnonzero(ref["_final_obs"]):
                assert np.array_equal(np.asarray(info["final_obs"][i]), np.asarray(value[i])), where
        elif key == "final_info":
            assert sorted(info[key]) == sorted(value), where
            for sub, column in value.items():
                assert np.array_equal(info[key][sub], column), f"final_info[{sub}] at {where}"
        else:
            assert np.array_equal(info[key], value), f"info[{key}] at {where}"


@pytest.mark.parametrize(("env_id", "cls", "steps"), CASES, ids=[c[0].split("/")[1] for c in CASES])
def test_native_vector_env_equals_sync_vector_env_step_for_step(env_id, cls, steps):
    native, sync = gym.make_vec(env_id, num_envs=N), _sync(env_id, N)
    assert isinstance(native, cls)
    # default tasks drawn from each env's own generator, as the single envs draw them
    (obs_n, info_n), (obs_s, info_s) = native.reset(seed=7), sync.reset(seed=7)
    assert obs_n.dtype == obs_s.dtype and np.array_equal(obs_n, obs_s) and info_n == info_s == {}
    assert list(native.get_attr("task")) == list(sync.get_attr("task"))
    tasks = native.sample_tasks(N, split="test")
    rng = np.random.default_rng(0)
    ends = 0
    for t in range(steps):
        if t == steps // 3:  # new tasks take effect at each env's next (automatic) reset
            native.set_attr("task", tasks)
            sync.set_attr("task", tasks)
        if t == steps // 2:  # a masked reset of half the envs with fresh seeds
            mask = np.arange(N) % 2 == 0
            seeds = [100 + i if mask[i] else None for i in range(N)]
            out_n = native.reset(seed=seeds, options={"reset_mask": mask})
            out_s = sync.reset(seed=seeds, options={"reset_mask": mask})
            np.testing.assert_array_equal(out_n[0], out_s[0])
        actions = _actions(native, rng)
        out_n, out_s = native.step(actions), sync.step(actions)
        _assert_same_step(out_n, out_s, f"step {t}")
        ends += int(np.count_nonzero(out_s[2] | out_s[3]))
    assert ends > 0
    assert list(native.get_attr("task")) == list(sync.get_attr("task"))
    assert all(task in tasks for task in native.get_attr("task"))


@pytest.mark.parametrize(("env_id", "cls", "steps"), CASES, ids=[c[0].split("/")[1] for c in CASES])
def test_reset_with_one_task_per_env_applies_at_once(env_id, cls, steps):
    native = gym.make_vec(env_id, num_envs=3)
    tasks = native.sample_tasks(3, split="test")
    first, _ = native.reset(seed=0, options={"task": tasks})
    assert list(native.get_attr("task")) == tasks
    singles = [gym.make(env_id) for _ in range(3)]
    for i, single in enumerate(singles):  # env i of the batch is seeded 0 + i
        np.testing.assert_array_equal(first[i], single.reset(seed=i, options={"task": tasks[i]})[0])
    actions = _actions(native, np.random.default_rng(1))
    obs, rewards, terminated, truncated, info = native.step(actions)
    for i, single in enumerate(singles):
        s_obs, s_r, s_term, s_trunc, _ = single.step(actions[i])
        assert (rewards[i], terminated[i], truncated[i]) == (s_r, s_term, s_trunc)
        last = info["final_obs"][i] if s_term or s_trunc else obs[i]
        np.testing.assert_array_equal(last, s_obs)


@pytest.mark.parametrize(("env_id", "cls", "steps"), CASES, ids=[c[0].split("/")[1] for c in CASES])
def test_bad_input_is_rejected_and_changes_nothing(env_id, cls, steps):
    envs = gym.make_vec(env_id, num_envs=2)
    with pytest.raises(RuntimeError, match="reset"):
        envs.step(_actions(envs, np.random.default_rng(0)))
    tasks = envs.sample_tasks(2, split="test")
    envs.reset(seed=0, options={"task": tasks})
    envs.step(_actions(envs, np.random.default_rng(0)))
    before = envs.reset(options={"reset_mask": np.array([False, False])})[0]
    state = {k: np.copy(v) for k, v in vars(envs.unwrapped).items() if isinstance(v, np.ndarray)}
    space = envs.single_action_space
    bad_actions = ([np.array([0, space.n]), np.array([0, -1]), np.zeros(3, dtype=np.int64),
                    np.zeros(2)] if isinstance(space, gym.spaces.Discrete)
                   else [np.array([[0.0, 0.0], [np.nan, 0.0]]), np.zeros((3, 2))])
    for bad in bad_actions:
        with pytest.raises(ValueError, match="actions"):
            envs.step(bad)
    with pytest.raises(ValueError, match="one per env"):
        envs.reset(options={"task": tasks * 2})
    with pytest.raises(ValueError, match="reset_mask"):
        envs.reset(options={"reset_mask": np.array([1, 0])})
    with pytest.raises(ValueError, match="unknown reset options"):
        envs.reset(options={"tsk": tasks})
    with pytest.raises(AttributeError, match="only 'task'"):
        envs.set_attr("probs", [1, 2])
    after = envs.reset(options={"reset_mask": np.array([False, False])})[0]
    np.testing.assert_array_equal(before, after)
    for key, value in vars(envs.unwrapped).items():
        if key in state:
            np.testing.assert_array_equal(value, state[key], err_msg=key)
    assert list(envs.get_attr("task")) == tasks
    for kwargs, match in (({"num_envs": 0}, "num_envs"), ({"render_mode": "ansi"}, "render_mode"),
                          ({"max_episode_steps": 0}, "max_episode_steps")):
        with pytest.raises(ValueError, match=match):
            cls(**kwargs)


@pytest.mark.parametrize("name", ["Bandit", "TabularMDP", "Navigation2D", "PointCorner"])
def test_harness_results_equal_with_sync_vector_env(name):
    """The benchmarks run on the native envs; the scores are those of SyncVectorEnv."""
    bench = dataclasses.replace(get_benchmark(name), num_test_tasks=6, batch_size=4)
    assert bench.vectorization == "vector_entry_point"
    native = evaluate("krazy_gym.evaluation.agents:random_agent", bench, seeds=2, progress=False)
    sync = evaluate("krazy_gym.evaluation.agents:random_agent",
                    dataclasses.replace(bench, vectorization="sync"), seeds=2, progress=False)
    assert native["returns"] == sync["returns"]
    assert native["exploration_metrics"] == sync["exploration_metrics"]


@pytest.mark.parametrize(("env_id", "cls", "steps"), CASES, ids=[c[0].split("/")[1] for c in CASES])
def test_pickled_vector_env_continues_identically(env_id, cls, steps):
    import pickle

    envs = gym.make_vec(env_id, num_envs=4)
    envs.reset(seed=3)
    rng = np.random.default_rng(2)
    envs.step(_actions(envs, rng))
    copy = pickle.loads(pickle.dumps(envs))
    for _ in range(15):
        actions = _actions(envs, rng)
        _assert_same_step(copy.step(actions), envs.step(actions), "after unpickling")
    envs.close()
    copy.close()
