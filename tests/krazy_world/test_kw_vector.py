"""The batched Krazy World env against N single envs, and its vector-env API."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import data_equivalence
from gymnasium.vector import AutoresetMode

import krazy_gym  # noqa: F401  (registers the ids)
from krazy_gym.krazy_world.vector import KrazyWorldVectorEnv

HARD = "KrazyGym/KrazyWorld-Hard-v0"


def _compare_with_single_envs(env_id, num_envs, steps, seed, task_split="train", **kwargs):
    envs = gym.make_vec(env_id, num_envs=num_envs, **kwargs)
    assert isinstance(envs.unwrapped, KrazyWorldVectorEnv)
    singles = [gym.make(env_id, **kwargs) for _ in range(num_envs)]
    if task_split == "train":
        tasks = singles[0].unwrapped.sample_tasks(num_envs, split="train", seed=seed)
        obs, infos = envs.reset(seed=seed, options={"task": tasks})
        first = [env.reset(seed=seed + i, options={"task": tasks[i]}) for i, env in enumerate(singles)]
    else:  # default tasks, drawn from each env's seeded generator
        obs, infos = envs.reset(seed=seed)
        first = [env.reset(seed=seed + i) for i, env in enumerate(singles)]
        assert list(envs.unwrapped.get_attr("task")) == [e.unwrapped.task for e in singles]
    for i, (o, info) in enumerate(first):
        assert data_equivalence(o, obs[i], exact=True)
        assert all(info[k] == infos[k][i] for k in info)
    rng = np.random.default_rng(seed)
    episodes = 0
    for t in range(steps):
        actions = rng.integers(0, 4, size=num_envs)
        obs, rewards, terminated, truncated, infos = envs.step(actions)
        for i, env in enumerate(singles):
            o, r, term, trunc, info = env.step(actions[i])
            assert (r, term, trunc) == (rewards[i], terminated[i], truncated[i]), (t, i)
            if term or trunc:
                episodes += 1
                assert infos["_final_obs"][i] and infos["_final_info"][i]
                assert data_equivalence(o, infos["final_obs"][i], exact=True), (t, i)
                assert all(info[k] == infos["final_info"][k][i] for k in info), (t, i)
                o, info = env.reset()
            elif "_final_obs" in infos:
                assert not infos["_final_obs"][i]
            assert data_equivalence(o, obs[i], exact=True), (t, i)
            assert all(info[k] == infos[k][i] for k in info), (t, i)
    return episodes


def test_vector_env_equals_64_single_envs_over_1000_steps():
    episodes = _compare_with_single_envs(HARD, num_envs=64, steps=1000, seed=11)
    assert episodes > 1000  # many autoresets were compared, truncations included


@pytest.mark.parametrize(
    ("env_id", "kwargs"),
    [
        ("KrazyGym/KrazyWorld-Easy-v0", {"view": "global", "obs_mode": "index"}),
        ("KrazyGym/KrazyWorld-Medium-v0", {"obs_mode": "rgb"}),
        ("KrazyGym/KrazyWorld-v0", {"size": 6, "dynamics": "permute", "view": "global"}),
    ],
)
def test_vector_env_equals_single_envs_in_other_modes(env_id, kwargs):
    assert _compare_with_single_envs(env_id, num_envs=8, steps=150, seed=3, task_split="default", **kwargs) > 0


def test_horizon_comes_from_the_registered_max_episode_steps():
    for name, horizon in (("Easy", 24), ("Medium", 50), ("Hard", 100)):
        envs = gym.make_vec(f"KrazyGym/KrazyWorld-{name}-v0", num_envs=2)
        assert envs.unwrapped.max_episode_steps == horizon
        assert gym.make(f"KrazyGym/KrazyWorld-{name}-v0").spec.max_episode_steps == horizon
    assert gym.make_vec(HARD, num_envs=2, max_episode_steps=7).unwrapped.max_episode_steps == 7


def test_autoreset_mode_and_spaces():
    envs = gym.make_vec(HARD, num_envs=5)
    assert envs.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    assert envs.single_observation_space == gym.make(HARD).observation_space
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (5, 92) and envs.observation_space.contains(obs)
    assert envs.action_space.shape == (5,)


def test_per_env_tasks_via_set_attr_and_reset_options():
    envs = gym.make_vec(HARD, num_envs=4)
    tasks = envs.unwrapped.sample_tasks(4, split="test")
    envs.unwrapped.set_attr("task", tasks)
    envs.reset(seed=0)
    assert list(envs.unwrapped.get_attr("task")) == tasks
    other = envs.unwrapped.sample_tasks(4, seed=5)
    envs.reset(options={"task": other})
    assert list(envs.unwrapped.get_attr("task")) == other
    envs.reset()  # a reset without tasks keeps them
    assert list(envs.unwrapped.get_attr("task")) == other
    envs.unwrapped.set_attr("task", tasks[0])  # one task for every env
    envs.reset()
    assert set(envs.unwrapped.get_attr("task")) == {tasks[0]}


def test_reset_mask_resets_only_masked_envs():
    envs = gym.make_vec(HARD, num_envs=3)
    obs0, _ = envs.reset(seed=1)
    for _ in range(3):
        obs, *_ = envs.step(np.array([1, 1, 1]))
    mask = np.array([True, False, False])
    obs_r, _ = envs.reset(options={"reset_mask": mask})
    assert np.array_equal(obs_r[0], obs0[0])
    assert np.array_equal(obs_r[1:], obs[1:])


def test_returned_arrays_are_never_overwritten_while_held():
    envs = gym.make_vec(HARD, num_envs=4)
    obs, _ = envs.reset(seed=0)
    held = [(obs, obs.copy())]
    rng = np.random.default_rng(0)
    for _ in range(12):
        out = envs.step(rng.integers(0, 4, size=4))
        held.append((out[0], out[0].copy()))
        held.append((out[1], out[1].copy()))
        held.append((out[2], out[2].copy()))
        held.append((out[4]["goals"], out[4]["goals"].copy()))
    for array, copy in held:
        assert np.array_equal(array, copy)
    # arrays the caller dropped are reused (no fresh multi-megabyte allocation every step)
    first = envs.step(np.zeros(4, dtype=np.int64))[0]
    address = first.__array_interface__["data"][0]
    del first
    addresses = {envs.step(np.zeros(4, dtype=np.int64))[0].__array_interface__["data"][0] for _ in range(6)}
    assert address in addresses


def test_bad_vector_inputs_are_rejected():
    envs = gym.make_vec(HARD, num_envs=3)
    tasks = envs.unwrapped.sample_tasks(3, split="test")
    envs.reset(seed=0, options={"task": tasks})
    with pytest.raises(ValueError, match=r"actions must be in \[0, 4\).*env 1"):
        envs.step(np.array([0, 4, 1]))
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        envs.step(np.array([0, 1]))
    with pytest.raises(TypeError, match="integers"):
        envs.step(np.array([0.5, 1.0, 2.0]))
    with pytest.raises(ValueError, match="num_envs=3 tasks"):
        envs.reset(options={"task": tasks[:2]})
    bandit = gym.make("KrazyGym/Bandit-v0").unwrapped.sample_tasks(1)[0]
    with pytest.raises(ValueError, match="family"):
        envs.unwrapped.set_attr("task", [tasks[0], bandit, tasks[1]])
    assert list(envs.unwrapped.get_attr("task")) == tasks  # nothing half-applied
    with pytest.raises(ValueError, match="num_envs must be an int >= 1"):
        KrazyWorldVectorEnv(num_envs=0)
    with pytest.raises(ValueError, match="preset must be one of"):
        gym.make_vec(HARD, num_envs=2, preset="insane")
