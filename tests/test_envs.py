"""Checks every registered ``KrazyGym/*`` id (after Minigrid's tests/test_envs.py).

For each id: gymnasium's env checker with warnings as errors, pickling, determinism under
``reset(seed=...)`` and a fixed task, the task API contract (fixed test stream, JSON round
trip, train/test disjointness, wrong tasks rejected without side effects, ``options={"task"}``
through wrappers) and the batched env where one is registered.
"""

from __future__ import annotations

import importlib.util
import json
import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env, data_equivalence

import krazy_gym
from krazy_gym.registration import ENV_TABLE, MUJOCO_IDS
from krazy_gym.tasks import Task, check_tasks_disjoint

HAS_MUJOCO = importlib.util.find_spec("mujoco") is not None
ALL_IDS = krazy_gym.all_env_ids()
VECTOR_IDS = [e.env_id for e in ENV_TABLE if e.vector_entry_point]


def _param(env_id: str):
    marks = []
    if env_id in MUJOCO_IDS:
        marks.append(pytest.mark.skipif(not HAS_MUJOCO, reason="mujoco is not installed"))
    return pytest.param(env_id, marks=marks, id=env_id.split("/")[1])


IDS = [_param(i) for i in ALL_IDS]
STEPS = 60


def _rollout(env: gym.Env, seed: int, task: Task, actions: list) -> list:
    """Observations, rewards, flags and infos of a fixed action sequence (resets on done)."""
    out = []
    obs, info = env.reset(seed=seed, options={"task": task})
    out.append((obs, info))
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        out.append((obs, reward, terminated, truncated, info))
        if terminated or truncated:
            obs, info = env.reset()
            out.append((obs, info))
    return out


@pytest.mark.parametrize("env_id", IDS)
def test_env_checker_passes_without_warnings(env_id):
    env = gym.make(env_id)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped, skip_render_check=True)
    messages = [str(w.message) for w in caught]
    if env_id in MUJOCO_IDS:
        # gymnasium's own v5 locomotion envs declare unbounded Box observations and draw exactly
        # these two warnings; finite huge bounds would make observation_space.sample() overflow.
        messages = [
            m
            for m in messages
            if "observation space minimum value is -infinity" not in m
            and "observation space maximum value is infinity" not in m
        ]
    assert messages == [], messages
    env.close()


@pytest.mark.parametrize("env_id", IDS)
def test_namespace_prefix_import_form(env_id):
    env = gym.make(f"krazy_gym:{env_id}")
    assert isinstance(env.unwrapped, krazy_gym.TaskEnvMixin)
    env.close()


@pytest.mark.parametrize("env_id", IDS)
def test_determinism_for_seed_and_task(env_id):
    env_a, env_b = gym.make(env_id), gym.make(env_id)
    task = env_a.unwrapped.sample_tasks(1, split="test")[0]
    env_a.action_space.seed(123)
    actions = [env_a.action_space.sample() for _ in range(STEPS)]
    run_a = _rollout(env_a, 7, task, actions)
    run_b = _rollout(env_b, 7, task, actions)
    assert data_equivalence(run_a, run_b, exact=True)
    env_a.close()
    env_b.close()


@pytest.mark.parametrize("env_id", IDS)
def test_pickle_round_trip_continues_identically(env_id):
    env = gym.make(env_id)
    task = env.unwrapped.sample_tasks(1, split="test")[0]
    env.reset(seed=3, options={"task": task})
    env.action_space.seed(5)
    for _ in range(5):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()
    clone = pickle.loads(pickle.dumps(env))
    assert clone.unwrapped.get_task() == task
    env.action_space.seed(9)
    actions = [env.action_space.sample() for _ in range(10)]
    for action in actions:
        a = env.step(action)
        b = clone.step(action)
        assert data_equivalence(a, b, exact=True)
        if a[2] or a[3]:
            break
    env.close()
    clone.close()


@pytest.mark.parametrize("env_id", IDS)
def test_task_api_contract(env_id):
    env = gym.make(env_id)
    base = env.unwrapped
    test_tasks = base.sample_tasks(8, split="test")
    assert test_tasks == base.sample_tasks(8, split="test")
    assert [t.split for t in test_tasks] == ["test"] * 8
    train_a = base.sample_tasks(8, split="train", seed=1)
    assert train_a == base.sample_tasks(8, split="train", seed=1)
    for task in test_tasks + train_a:
        assert Task.from_dict(json.loads(json.dumps(task.to_dict()))) == task
        assert hash(task) == hash(Task.from_dict(task.to_dict()))

    # set_task takes effect at reset; the task property and reset options are the same thing
    base.set_task(train_a[0])
    env.reset(seed=0)
    assert base.get_task() == train_a[0] == base.task
    base.task = train_a[1]
    env.reset()
    assert base.get_task() == train_a[1]
    env.reset(options={"task": train_a[2].to_dict()})
    assert base.get_task() == train_a[2]

    # a reset without a task keeps the task
    env.reset()
    assert base.get_task() == train_a[2]
    env.close()


@pytest.mark.parametrize("env_id", IDS)
def test_wrong_tasks_are_rejected_and_change_nothing(env_id):
    env = gym.make(env_id)
    base = env.unwrapped
    task = base.sample_tasks(1, split="test")[0]
    env.reset(seed=0, options={"task": task})
    other_id = "KrazyGym/Bandit-v0" if "Bandit" not in env_id else "KrazyGym/TabularMDP-v0"
    other_task = gym.make(other_id).unwrapped.sample_tasks(1, split="test")[0]
    with pytest.raises(ValueError, match="family"):
        base.set_task(other_task)
    with pytest.raises(ValueError):
        env.reset(options={"task": other_task})
    bad = task.to_dict()
    bad["split"] = "validation"
    with pytest.raises(ValueError, match="split"):
        base.set_task(bad)
    with pytest.raises(TypeError):
        base.set_task(42)
    assert base.get_task() == task
    env.reset()
    assert base.get_task() == task
    env.close()


@pytest.mark.parametrize("env_id", IDS)
def test_train_and_test_streams_are_disjoint(env_id):
    base = gym.make(env_id).unwrapped
    if not base.task_family.splittable:
        pytest.skip(f"{env_id}: the task space is finite and tiny (splittable=False)")
    train = base.sample_tasks(300, split="train", seed=0) + base.sample_tasks(
        300, split="train", seed=11
    )
    test = base.sample_tasks(100, split="test")
    check_tasks_disjoint(train, test)
    assert len({t.content_key() for t in test}) == len(test), "test tasks must be distinct"


@pytest.mark.parametrize("env_id", [_param(i) for i in VECTOR_IDS])
def test_make_vec_uses_native_vector_env_with_per_env_tasks(env_id):
    envs = gym.make_vec(env_id, num_envs=3)
    assert not isinstance(envs, (gym.vector.SyncVectorEnv, gym.vector.AsyncVectorEnv))
    tasks = gym.make(env_id).unwrapped.sample_tasks(3, split="test")
    obs, _ = envs.reset(seed=0, options={"task": tasks})
    assert envs.observation_space.contains(obs)
    assert list(envs.get_attr("task")) == tasks
    actions = envs.action_space.sample()
    obs, reward, terminated, truncated, _ = envs.step(actions)
    assert obs.shape[0] == reward.shape[0] == terminated.shape[0] == truncated.shape[0] == 3
    envs.close()


def test_every_env_is_seedable_with_np_generator_only():
    """The global NumPy RNG is never touched by making, resetting and stepping envs."""
    state = np.random.get_state()[1].copy()  # noqa: NPY002 - reading, to prove nobody writes it
    for env_id in ALL_IDS:
        if env_id in MUJOCO_IDS and not HAS_MUJOCO:
            continue
        env = gym.make(env_id)
        env.reset(seed=1)
        env.step(env.action_space.sample())
        env.close()
    assert np.array_equal(state, np.random.get_state()[1])  # noqa: NPY002
