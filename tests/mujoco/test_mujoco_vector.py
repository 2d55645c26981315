"""The native MuJoCo vector envs (``gym.make_vec``) against ``SyncVectorEnv`` of single envs.

Every family is stepped side by side with ``SyncVectorEnv`` (``AutoresetMode.SAME_STEP``) over
``gym.make`` envs with the same tasks, seeds and actions: observations, rewards, terminations,
truncations, every info entry, the final observations and infos of finished episodes, task
changes at the automatic reset, masked resets and resets that continue a generator. Equality
is exact (``np.array_equal``): the vector env runs the same MuJoCo calls on identical states,
the same elementwise operations, and its reductions (``‖a‖²``, contact costs, the centre of
mass, norms) add each env's row in the order the single env adds its array (numpy's dot
kernel per row, pairwise sums over each contiguous row, bodies in order), which does not
depend on the CPU.
"""

from __future__ import annotations

import importlib.util
import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

pytest.importorskip("mujoco")

import krazy_gym  # noqa: E402,F401
from krazy_gym.mujoco.tasks import DirectionTask  # noqa: E402
from krazy_gym.mujoco.vector import MujocoVectorEnv, usable_cores  # noqa: E402
from krazy_gym.registration import MUJOCO_IDS  # noqa: E402

N = 4
IDS = [pytest.param(i, id=i.split("/")[1]) for i in MUJOCO_IDS]
#: the robots that need only qpos/qvel: mujoco.batch.Batch steps them where MuJoCo has it
BATCH_ROBOTS = ("HalfCheetah", "Walker2d", "Hopper")
HAS_BATCH = importlib.util.find_spec("mujoco.batch") is not None
#: every id on its default engine, and the batch robots once more on the per-env MjData loop
ENGINE_IDS = [pytest.param(i, "default", id=i.split("/")[1]) for i in MUJOCO_IDS] + [
    pytest.param(i, "loop", id=f"{i.split('/')[1]}-loop")
    for i in MUJOCO_IDS if i.split("/")[1].startswith(BATCH_ROBOTS)
]


def make_pair(env_id: str, n: int = N, **kwargs):
    native = gym.make_vec(env_id, num_envs=n, **kwargs)
    sync_kwargs = {k: v for k, v in kwargs.items() if k != "num_threads"}
    sync = gym.make_vec(env_id, num_envs=n, vectorization_mode="sync",
                        vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP}, **sync_kwargs)
    return native, sync


def assert_same(a, b, where: str) -> None:
    """Exact equality of nested info dicts / arrays, with shapes and dtypes."""
    if isinstance(b, dict):
        assert isinstance(a, dict) and set(a) == set(b), (where, sorted(set(a) ^ set(b)))
        for key in b:
            assert_same(a[key], b[key], f"{where}/{key}")
        return
    a, b = np.asarray(a), np.asarray(b)
    assert (a.shape, a.dtype) == (b.shape, b.dtype), (where, a.shape, b.shape, a.dtype, b.dtype)
    assert np.array_equal(a, b), where


def assert_same_step(out_n, out_s, where: str) -> None:
    for k, name in enumerate(("obs", "reward", "terminated", "truncated")):
        assert_same(out_n[k], out_s[k], f"{where}: {name}")
    info_n, info_s = dict(out_n[4]), dict(out_s[4])
    assert ("final_obs" in info_n) == ("final_obs" in info_s), where
    if "final_obs" in info_s:  # SyncVectorEnv: an object array; here: an (N, obs_dim) array
        ended = info_s["_final_obs"]
        final_s, final_n = info_s.pop("final_obs"), info_n.pop("final_obs")
        assert final_n.shape == out_n[0].shape, where
        assert_same(final_n[ended], np.stack(list(final_s[ended])), f"{where}: final_obs")
    assert_same(info_n, info_s, f"{where}: info")


def random_actions(envs, rng: np.random.Generator, scale: float = 1.5) -> np.ndarray:
    """float32 actions, partly outside the bounds (MuJoCo clamps them, in both envs alike)."""
    shape = (envs.num_envs, envs.single_action_space.shape[0])
    return rng.uniform(-scale, scale, size=shape).astype(np.float32)


@pytest.mark.parametrize(("env_id", "engine"), ENGINE_IDS)
def test_trajectories_equal_sync_vector_env_step_for_step(env_id, engine, monkeypatch):
    horizon, steps = 25, 70
    if engine == "loop":
        monkeypatch.setattr(MujocoVectorEnv, "use_batch", False)
    native, sync = make_pair(env_id, max_episode_steps=horizon, num_threads=2)
    assert isinstance(native.unwrapped, MujocoVectorEnv) and native.unwrapped.num_threads == 2
    batch_robot = env_id.split("/")[1].startswith(BATCH_ROBOTS)
    expected = "batch" if engine == "default" and batch_robot and HAS_BATCH else "loop"
    assert native.unwrapped.engine == expected
    family = native.unwrapped
    first = family.sample_tasks(N, split="train", seed=1)
    second = family.sample_tasks(N, split="test")
    sync.set_attr("task", first)
    out_s = sync.reset(seed=7)
    out_n = native.reset(seed=7, options={"task": first})
    assert_same(out_n[0], out_s[0], "reset obs")
    assert_same(out_n[1], out_s[1], "reset info")
    rng = np.random.default_rng(0)
    ends = terminations = 0
    for t in range(steps):
        if t == 10:  # new tasks take effect at each env's next (automatic) reset
            native.set_attr("task", second)
            sync.set_attr("task", second)
        if t == 40:  # a masked reset of half the envs, fresh seeds for one, generators kept
            mask = np.arange(N) % 2 == 0
            seeds = [100, None, None, None]
            out_n = native.reset(seed=seeds, options={"reset_mask": mask})
            out_s = sync.reset(seed=seeds, options={"reset_mask": mask})
            assert_same(out_n[0], out_s[0], "masked reset obs")
            assert_same(out_n[1], out_s[1], "masked reset info")
        actions = random_actions(native, rng)
        out_n, out_s = native.step(actions), sync.step(actions)
        assert_same_step(out_n, out_s, f"step {t}")
        ends += int(np.count_nonzero(out_s[2] | out_s[3]))
        terminations += int(np.count_nonzero(out_s[2]))
    assert ends >= N  # every env was truncated at least once
    never_terminates = env_id.split("/")[1].startswith(("HalfCheetah", "AntGoal"))
    assert (terminations == 0) == never_terminates  # the falling robots did fall
    assert list(native.get_attr("task")) == list(sync.get_attr("task")) == second
    native.close()
    sync.close()


@pytest.mark.parametrize("env_id", ["KrazyGym/HopperParams-v0", "KrazyGym/AntDir-v0"])
def test_terminations_and_the_registered_horizon(env_id):
    """Falling robots end their episodes at different steps; the id's horizon truncates."""
    native, sync = make_pair(env_id, n=3, num_threads=1)
    assert native.unwrapped.max_episode_steps == sync.spec.max_episode_steps == 200
    native.reset(seed=3)  # no task given: each env takes the single env's default task
    sync.reset(seed=3)
    assert list(native.get_attr("task")) == list(sync.get_attr("task"))
    rng = np.random.default_rng(5)
    terminated = truncated = 0
    for t in range(205):
        actions = random_actions(native, rng, scale=1.0)
        out_n, out_s = native.step(actions), sync.step(actions)
        assert_same_step(out_n, out_s, f"step {t}")
        terminated += int(out_s[2].sum())
        truncated += int(out_s[3].sum())
    assert truncated + terminated >= 3  # every env's first episode ended
    if env_id.endswith("HopperParams-v0"):
        assert terminated > 0


def test_default_tasks_and_start_states_equal_single_envs():
    """Env i of ``reset(seed=s)`` starts as ``gym.make`` reset with seed ``s + i``."""
    env_id = "KrazyGym/Walker2dVel-v0"
    native = gym.make_vec(env_id, num_envs=3)
    obs, info = native.reset(seed=11)
    for i in range(3):
        single = gym.make(env_id)
        s_obs, s_info = single.reset(seed=11 + i)
        np.testing.assert_array_equal(obs[i], s_obs)
        assert native.get_attr("task")[i] == single.unwrapped.get_task()
        assert info["x_position"][i] == s_info["x_position"]
        assert native.get_attr("np_random")[i].bit_generator.state == (
            single.unwrapped.np_random.bit_generator.state)


def test_one_model_per_distinct_parameter_task():
    envs = gym.make_vec("KrazyGym/Walker2dParams-v0", num_envs=4)
    a, b = envs.unwrapped.sample_tasks(2, split="train", seed=0)
    envs.reset(seed=0, options={"task": [a, b, a, a]})
    unwrapped = envs.unwrapped
    models = unwrapped._models
    assert models[0] is models[2] is models[3] and models[1] is not models[0]
    assert len(unwrapped._cache) == 2
    np.testing.assert_array_equal(
        models[1].body_mass, unwrapped._original_params["body_mass"] * np.array(b.body_mass))
    envs.reset(options={"task": [b] * 4})  # a is no longer used: its model is dropped
    assert len(unwrapped._cache) == 1 and all(m is unwrapped._models[0] for m in unwrapped._models)


@pytest.mark.parametrize("env_id", ["KrazyGym/AntGoal-v0", "KrazyGym/HalfCheetahVel-v0"])
def test_one_and_two_threads_give_the_same_batch(env_id):
    outs = []
    for threads in (1, 2):
        envs = gym.make_vec(env_id, num_envs=5, num_threads=threads,
                            max_episode_steps=8)
        rng = np.random.default_rng(0)
        out = [envs.reset(seed=0)[0]]
        for _ in range(12):
            out.append(envs.step(random_actions(envs, rng))[0])
        outs.append(np.stack(out))
        envs.close()
    np.testing.assert_array_equal(outs[0], outs[1])


@pytest.mark.parametrize("env_id", ["KrazyGym/HumanoidDir2D-v0", "KrazyGym/HopperParams-v0"])
def test_pickled_env_continues_exactly_like_the_original(env_id):
    envs = gym.make_vec(env_id, num_envs=3, num_threads=2)
    rng = np.random.default_rng(0)
    envs.reset(seed=0)
    for _ in range(5):
        envs.step(random_actions(envs, rng))
    clone = pickle.loads(pickle.dumps(envs.unwrapped))
    assert clone.get_attr("task") == envs.get_attr("task")
    for t in range(5):
        actions = random_actions(envs, rng)
        a, b = envs.step(actions), clone.step(actions)
        assert_same_step(a, b, f"step {t} after unpickling")
    clone.close()
    envs.close()


def test_vector_api_spaces_metadata_and_close():
    envs = gym.make_vec("KrazyGym/HalfCheetahVel-v0", num_envs=3)
    single = gym.make("KrazyGym/HalfCheetahVel-v0")
    assert envs.single_observation_space == single.observation_space
    assert envs.single_action_space == single.action_space
    assert envs.observation_space.shape == (3, *single.observation_space.shape)
    assert envs.action_space.shape == (3, *single.action_space.shape)
    assert envs.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    assert envs.unwrapped.num_threads == min(usable_cores(), 3)
    obs, _ = envs.reset(seed=0)
    assert envs.observation_space.contains(obs)
    envs.close()
    assert envs.closed
    with pytest.raises(RuntimeError, match="closed"):
        envs.step(envs.action_space.sample())


def test_to_sb3_accepts_it():
    pytest.importorskip("stable_baselines3")
    from krazy_gym.wrappers import to_sb3

    venv = to_sb3(gym.make_vec("KrazyGym/HalfCheetahDir-v0", num_envs=2))
    obs = venv.reset()
    assert obs.shape == (2, 17)
    venv.close()


def test_bad_input_is_rejected_and_changes_nothing():
    envs = gym.make_vec("KrazyGym/HalfCheetahDir-v0", num_envs=2)
    twin = gym.make_vec("KrazyGym/HalfCheetahDir-v0", num_envs=2)
    with pytest.raises(RuntimeError, match="reset"):
        envs.step(np.zeros((2, 6)))
    task = DirectionTask(family="HalfCheetahDir", split="test", index=0, direction=-1.0)
    envs.reset(seed=0, options={"task": task})
    twin.reset(seed=0, options={"task": task})
    for bad in (np.zeros((3, 6)), np.zeros(6), np.array([[0.0] * 6, [np.nan] + [0.0] * 5]),
                np.full((2, 6), np.inf)):
        with pytest.raises(ValueError, match="actions"):
            envs.step(bad)
    with pytest.raises(ValueError, match="direction"):
        envs.reset(options={"task": [task, {"family": "HalfCheetahDir", "split": "test",
                                           "index": 1, "direction": 2.0}]})
    with pytest.raises(ValueError, match="unknown reset options"):
        envs.reset(options={"tsk": task})
    actions = np.full((2, 6), 0.5, dtype=np.float32)
    assert_same_step(envs.step(actions), twin.step(actions), "after the rejected calls")
    for kwargs, match in (({"num_threads": 0}, "num_threads"), ({"num_threads": 1.5}, "num_threads"),
                          ({"render_mode": "rgb_array"}, "render_mode"),
                          ({"max_episode_steps": 0}, "max_episode_steps")):
        with pytest.raises(ValueError, match=match):
            gym.make_vec("KrazyGym/HalfCheetahDir-v0", num_envs=2, **kwargs)
    with pytest.raises(ValueError, match="num_envs"):
        gym.make_vec("KrazyGym/HalfCheetahDir-v0", num_envs=0)


@pytest.mark.parametrize(("env_id", "kwargs"), [
    ("KrazyGym/Walker2dDir-v0", {"frame_skip": 8, "forward_reward_weight": 2.0}),
    ("KrazyGym/AntGoal-v0", {"include_cfrc_ext_in_observation": False, "reset_noise_scale": 0.3}),
    ("KrazyGym/HumanoidDir-v0", {"include_cinert_in_observation": False,
                                 "exclude_current_positions_from_observation": False}),
    ("KrazyGym/HalfCheetahVel-v0", {"ctrl_cost_weight": 0.2}),
], ids=lambda x: x.split("/")[1] if isinstance(x, str) else "")
def test_gymnasium_keywords_reach_the_vector_env(env_id, kwargs):
    native, sync = make_pair(env_id, n=2, max_episode_steps=15, **kwargs)
    assert native.single_observation_space == sync.single_observation_space
    sync.reset(seed=4)
    native.reset(seed=4)
    rng = np.random.default_rng(2)
    for t in range(20):
        actions = random_actions(native, rng)
        assert_same_step(native.step(actions), sync.step(actions), f"step {t}")
