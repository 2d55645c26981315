"""The eleven MuJoCo meta-task envs: rewards recomputed from MuJoCo's state, task effects,
parameter tasks without compounding, env checker, determinism and bad input.

Rewards are recomputed here from positions and controls read from ``MjData`` (torso by
name, centre of mass from ``subtree_com``) with the coefficients of the DESIGN.md table,
independently of the env code. Step counts are small: Humanoid costs ~2 ms a step.
"""

from __future__ import annotations

import math
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

pytest.importorskip("mujoco")
import mujoco  # noqa: E402

import krazy_gym  # noqa: E402,F401  (registers the ids)
from krazy_gym.mujoco.base import mujoco_warnings_to_python  # noqa: E402
from krazy_gym.mujoco.tasks import (  # noqa: E402
    BODY_PARAM_NAMES,
    BodyParamsTask,
    Direction2DTask,
    DirectionTask,
    GoalTask,
    VelocityTask,
)
from krazy_gym.registration import MUJOCO_IDS  # noqa: E402

NAMES = [i.split("/")[1].removesuffix("-v0") for i in MUJOCO_IDS]
#: family -> (raw gymnasium id it wraps, seconds per step)
ROBOT = {
    "HalfCheetahDir": ("HalfCheetah-v5", 0.05),
    "HalfCheetahVel": ("HalfCheetah-v5", 0.05),
    "AntDir": ("Ant-v5", 0.05),
    "AntDir2D": ("Ant-v5", 0.05),
    "AntGoal": ("Ant-v5", 0.05),
    "HumanoidDir": ("Humanoid-v5", 0.015),
    "HumanoidDir2D": ("Humanoid-v5", 0.015),
    "Walker2dDir": ("Walker2d-v5", 0.008),
    "Walker2dVel": ("Walker2d-v5", 0.008),
    "HopperParams": ("Hopper-v5", 0.008),
    "Walker2dParams": ("Walker2d-v5", 0.008),
}
HORIZON = {name: 100 if name.startswith("HalfCheetah") else 200 for name in NAMES}


def make(name: str, **kwargs) -> gym.Env:
    return gym.make(f"KrazyGym/{name}-v0", **kwargs)


def make_raw(raw_id: str) -> gym.Env:
    with mujoco_warnings_to_python():  # gymnasium's half_cheetah.xml warns on load
        return gym.make(raw_id)


def snapshot(env: gym.Env) -> dict[str, np.ndarray]:
    data = env.unwrapped.data
    return {
        "qpos": np.array(data.qpos),
        "torso": np.array(data.body("torso").xpos),
        "com": np.array(data.subtree_com[0]),  # centre of mass of the whole model
    }


def expected_step(name: str, env: gym.Env, before: dict, task) -> tuple[float, bool]:
    """Reward and termination of the step just taken, recomputed from MjData."""
    data = env.unwrapped.data
    dt = ROBOT[name][1]
    ctrl_sq = float(np.sum(np.square(np.array(data.ctrl))))
    qpos, qvel = np.array(data.qpos), np.array(data.qvel)
    if name.startswith(("HalfCheetah", "Walker2d", "Hopper")):
        vx = (qpos[0] - before["qpos"][0]) / dt
        if name == "HalfCheetahDir":
            return task.direction * vx - 0.05 * ctrl_sq, False
        if name == "HalfCheetahVel":
            return -abs(vx - task.target_velocity) - 0.05 * ctrl_sq, False
        z, angle = qpos[1], qpos[2]
        if name == "HopperParams":
            healthy = np.all(np.abs(np.concatenate([qpos, qvel])[2:]) < 100) and z > 0.7
            healthy = healthy and abs(angle) < 0.2
        else:
            healthy = 0.8 < z < 2.0 and -1.0 < angle < 1.0
        if name == "Walker2dDir":
            return task.direction * vx + 1.0 - 1e-3 * ctrl_sq, not healthy
        if name == "Walker2dVel":
            return -abs(vx - task.target_velocity) + 15.0 - 1e-3 * ctrl_sq, not healthy
        return vx + 1.0 - 1e-3 * ctrl_sq, not healthy  # *Params
    if name.startswith("Ant"):
        xy = np.array(data.body("torso").xpos)[:2]
        v = (xy - before["torso"][:2]) / dt
        contact = 5e-4 * float(np.sum(np.square(np.clip(np.array(data.cfrc_ext), -1.0, 1.0))))
        if name == "AntGoal":
            return -float(np.sum(np.abs(xy - np.array(task.goal)))) - 0.1 * ctrl_sq - contact, False
        d = np.array([task.direction, 0.0]) if name == "AntDir" else np.array(task.direction)
        state = np.concatenate([qpos, qvel])
        healthy = np.all(np.isfinite(state)) and 0.2 <= qpos[2] <= 1.0
        return float(d @ v) - 0.5 * ctrl_sq - contact + 1.0, not healthy
    # Humanoid
    v = (np.array(data.subtree_com[0]) - before["com"])[:2] / dt
    d = np.array([task.direction, 0.0]) if name == "HumanoidDir" else np.array(task.direction)
    impact = min(5e-7 * float(np.sum(np.square(np.array(data.cfrc_ext)))), 10.0)
    return 1.25 * float(d @ v) - 0.1 * ctrl_sq - impact + 5.0, not (1.0 < qpos[2] < 2.0)


@pytest.mark.parametrize("name", NAMES)
def test_reward_and_termination_match_mujoco_state(name):
    env = make(name)
    base = env.unwrapped
    assert env.spec.max_episode_steps == HORIZON[name]
    assert math.isclose(base.dt, ROBOT[name][1], rel_tol=1e-12)
    task = base.sample_tasks(1, split="test")[0]
    env.reset(seed=1, options={"task": task})
    env.action_space.seed(2)
    steps = 0
    for _ in range(25):
        before = snapshot(env)
        _, reward, terminated, _, info = env.step(env.action_space.sample())
        steps += 1
        want_reward, want_terminated = expected_step(name, env, before, task)
        assert math.isclose(reward, want_reward, rel_tol=1e-9, abs_tol=1e-9), (reward, want_reward)
        assert terminated == want_terminated
        # the reward is the sum of the reward terms reported in info
        terms = sum(v for k, v in info.items() if k.startswith("reward_"))
        assert math.isclose(reward, terms, rel_tol=1e-12, abs_tol=1e-12)
        if terminated:
            break
    assert steps >= 1


@pytest.mark.parametrize("name", NAMES)
def test_same_start_observations_and_info_keys_as_gymnasium(name):
    """The start state for a seed is gymnasium's own; info keeps gymnasium's entries."""
    raw_id = ROBOT[name][0]
    ours, raw = make(name), make_raw(raw_id)
    obs, _ = ours.reset(seed=4)
    raw_obs, _ = raw.reset(seed=4)
    action = np.full(ours.action_space.shape, 0.1, dtype=np.float32)
    info = ours.step(action)[4]
    raw_info = raw.step(action)[4]
    missing = set(raw_info) - set(info)
    if name == "AntGoal":
        # no forward reward: its place is taken by reward_goal; x, y are observed (as ProMP)
        assert missing == {"reward_forward"} and "reward_goal" in info
        assert obs.shape == (raw_obs.shape[0] + 2,)
        np.testing.assert_array_equal(obs[2:], raw_obs)
    else:
        assert missing == set()
        if "Params" not in name:  # a parameter task changes the model, hence the first obs
            np.testing.assert_array_equal(obs, raw_obs)
    assert ours.observation_space == raw.observation_space or name == "AntGoal"
    assert ours.action_space == raw.action_space


DIRECTION_NAMES = ["HalfCheetahDir", "AntDir", "HumanoidDir", "Walker2dDir"]


def push(env: gym.Env, vx: float, vy: float = 0.0) -> None:
    """Give the robot's root a horizontal velocity (free joints: world-frame linear qvel)."""
    base = env.unwrapped
    qpos, qvel = base.data.qpos.copy(), base.data.qvel.copy()
    qvel[0] = vx
    if vy:
        qvel[1] = vy
    base.set_state(qpos, qvel)


def pushed_step(env: gym.Env, task, vx: float, vy: float = 0.0, seed: int = 0):
    env.reset(seed=seed, options={"task": task})
    push(env, vx, vy)
    _, reward, _, _, info = env.step(np.zeros(env.action_space.shape, dtype=np.float32))
    return reward, info


@pytest.mark.parametrize("name", DIRECTION_NAMES)
def test_direction_flips_the_sign_of_the_forward_reward(name):
    env = make(name)
    weight = 1.25 if name.startswith("Humanoid") else 1.0
    results = {}
    for d in (1.0, -1.0):
        results[d] = pushed_step(
            env, DirectionTask(family=name, split="test", index=0, direction=d), 3.0
        )
    (r_fwd, info_fwd), (r_bwd, info_bwd) = results[1.0], results[-1.0]
    assert info_fwd["x_velocity"] > 1.0  # the push moved it forward
    assert info_fwd["x_velocity"] == info_bwd["x_velocity"]  # the task does not change physics
    assert info_fwd["reward_forward"] > 0 > info_bwd["reward_forward"]
    assert math.isclose(r_fwd - r_bwd, 2 * weight * info_fwd["x_velocity"], rel_tol=1e-9)


@pytest.mark.parametrize("name", ["AntDir2D", "HumanoidDir2D"])
def test_direction2d_rewards_motion_along_the_task_direction(name):
    env = make(name)
    u = np.array([math.cos(0.7), math.sin(0.7)])

    def task(vec):
        return Direction2DTask(family=name, split="test", index=0, direction=tuple(vec))

    along = pushed_step(env, task(u), *(2.5 * u))[1]["reward_forward"]
    against = pushed_step(env, task(-u), *(2.5 * u))[1]["reward_forward"]
    across = pushed_step(env, task((-u[1], u[0])), *(2.5 * u))[1]["reward_forward"]
    assert along > 1.0 and against < -1.0
    assert math.isclose(along, -against, rel_tol=1e-9)
    assert abs(across) < 0.3 * along


@pytest.mark.parametrize(("name", "push_speed"), [("HalfCheetahVel", 2.0), ("Walker2dVel", 2.0)])
def test_velocity_reward_peaks_at_the_target(name, push_speed):
    env = make(name)
    rewards, speeds = {}, set()
    for target in (0.0, 1.0, 2.0, 3.0, 5.0):
        task = VelocityTask(family=name, split="test", index=0, target_velocity=target)
        reward, info = pushed_step(env, task, push_speed)
        rewards[target] = reward
        speeds.add(info["x_velocity"])
    (v,) = speeds  # same physics for every target
    by_distance = sorted(rewards, key=lambda t: abs(v - t))
    assert [rewards[t] for t in by_distance] == sorted(rewards.values(), reverse=True)
    assert math.isclose(rewards[0.0] - rewards[5.0], abs(v - 5.0) - abs(v - 0.0), rel_tol=1e-9)


def test_ant_goal_rewards_being_near_the_goal():
    env = make("AntGoal")

    def goal_reward(goal):
        env.reset(
            seed=0, options={"task": GoalTask(family="AntGoal", split="test", index=0, goal=goal)}
        )
        qpos, qvel = env.unwrapped.data.qpos.copy(), env.unwrapped.data.qvel.copy()
        qpos[:2] = (2.0, 0.0)
        env.unwrapped.set_state(qpos, qvel)
        return env.step(np.zeros(8, dtype=np.float32))[4]["reward_goal"]

    assert goal_reward((2.0, 0.0)) > -0.3
    assert -4.3 < goal_reward((-2.0, 0.0)) < -3.7
    assert -3.3 < goal_reward((2.0, 3.0)) < -2.7  # L1 distance


# -- parameter tasks ---------------------------------------------------------------------------
DERIVED = ("body_subtreemass", "dof_invweight0", "body_invweight0")


def model_arrays(env: gym.Env) -> dict[str, np.ndarray]:
    model = env.unwrapped.model
    return {name: np.array(getattr(model, name)) for name in BODY_PARAM_NAMES + DERIVED}


@pytest.mark.parametrize("name", ["HopperParams", "Walker2dParams"])
def test_parameter_tasks_never_compound(name):
    env = make(name)
    base = env.unwrapped
    original = {k: v.copy() for k, v in base.original_params.items()}
    task_a, task_b = base.sample_tasks(2, split="test")
    for _ in range(100):
        base.set_task(task_a)
        env.reset()
    after_a = model_arrays(env)
    for param in BODY_PARAM_NAMES:
        want = original[param] * np.array(getattr(task_a, param))
        np.testing.assert_array_equal(after_a[param], want)
    # derived constants follow: total mass is the subtree mass of the world body
    assert math.isclose(after_a["body_subtreemass"][0], after_a["body_mass"].sum(), rel_tol=1e-12)

    # a task set now is applied only at the next reset
    base.set_task(task_b)
    np.testing.assert_array_equal(base.model.body_mass, after_a["body_mass"])
    env.reset()
    np.testing.assert_array_equal(
        base.model.body_mass, original["body_mass"] * np.array(task_b.body_mass)
    )
    # back to A after B: exactly the state A gave, derived constants included
    env.reset(options={"task": task_a})
    for key, value in model_arrays(env).items():
        np.testing.assert_array_equal(value, after_a[key], err_msg=key)
    np.testing.assert_array_equal(base.original_params["body_mass"], original["body_mass"])


@pytest.mark.parametrize("name", ["HopperParams", "Walker2dParams"])
def test_parameter_task_matches_a_freshly_compiled_scaled_model(name):
    env = make(name)
    base = env.unwrapped
    task = base.sample_tasks(1, split="test")[0]
    env.reset(seed=0, options={"task": task})
    fresh = mujoco.MjModel.from_xml_path(base.fullpath)
    for param in BODY_PARAM_NAMES:
        getattr(fresh, param)[...] = getattr(fresh, param) * np.array(getattr(task, param))
    mujoco.mj_setConst(fresh, mujoco.MjData(fresh))
    for key in BODY_PARAM_NAMES + DERIVED:
        np.testing.assert_allclose(getattr(base.model, key), getattr(fresh, key), rtol=1e-12)


@pytest.mark.parametrize("name", ["HopperParams", "Walker2dParams"])
def test_parameter_tasks_change_the_dynamics(name):
    env = make(name)
    task_a, task_b = env.unwrapped.sample_tasks(2, split="test")
    action = np.full(env.action_space.shape, 0.5, dtype=np.float32)

    def run(task):
        env.reset(seed=3, options={"task": task})
        return np.array([env.step(action)[0] for _ in range(5)])

    run_a = run(task_a)
    np.testing.assert_array_equal(run_a, run(task_a))
    assert not np.allclose(run_a, run(task_b))


def test_wrong_shape_parameter_task_is_rejected_and_changes_nothing():
    env = make("HopperParams")
    base = env.unwrapped
    task = base.sample_tasks(1, split="test")[0]
    env.reset(seed=0, options={"task": task})
    before = model_arrays(env)
    bad = BodyParamsTask(
        family="HopperParams",
        split="test",
        index=0,
        body_mass=task.body_mass[:-1],
        body_inertia=task.body_inertia,
        geom_friction=task.geom_friction,
        dof_damping=task.dof_damping,
    )
    with pytest.raises(
        ValueError, match=r"body_mass has shape \(4,\), but the HopperParams model needs \(5,\)"
    ):
        base.set_task(bad)
    with pytest.raises(ValueError, match="body_mass"):
        env.reset(options={"task": bad})
    walker_task = make("Walker2dParams").unwrapped.sample_tasks(1, split="test")[0]
    with pytest.raises(ValueError, match="family 'Walker2dParams' given to a 'HopperParams' env"):
        base.set_task(walker_task)
    env.reset()
    assert base.get_task() == task
    for key, value in model_arrays(env).items():
        np.testing.assert_array_equal(value, before[key])


# -- gymnasium checks, determinism, bad input ----------------------------------------------------
def checker_warnings(env: gym.Env) -> list[str]:
    # check_env deep-copies the env, which rebuilds gymnasium's HalfCheetah from its XML
    with warnings.catch_warnings(record=True) as caught, mujoco_warnings_to_python():
        warnings.simplefilter("always")
        check_env(env.unwrapped, skip_render_check=True)
    return sorted(str(w.message) for w in caught)


@pytest.mark.parametrize("name", NAMES)
def test_env_checker_warns_no_more_than_on_gymnasiums_own_env(name):
    """gymnasium's v5 envs themselves draw two warnings (their observation Box is
    unbounded, -inf..inf); ours must pass with exactly those and nothing else."""
    ours = checker_warnings(make(name))
    raw = checker_warnings(make_raw(ROBOT[name][0]))
    assert ours == raw
    assert all("infinity" in message for message in ours)


@pytest.mark.parametrize("name", NAMES)
def test_reset_seed_gives_the_same_start_whatever_came_before(name):
    env = make(name)
    first, _ = env.reset(seed=11)
    task = env.unwrapped.get_task()
    for _ in range(3):
        env.step(env.action_space.sample())
    again, _ = env.reset(seed=11)
    np.testing.assert_array_equal(first, again)
    fresh = make(name)
    other, _ = fresh.reset(seed=11)
    np.testing.assert_array_equal(first, other)
    assert fresh.unwrapped.get_task() == task  # the default task follows the seed


@pytest.mark.parametrize("name", NAMES)
def test_task_round_trips_through_json_into_the_env(name):
    env = make(name)
    for task in env.unwrapped.sample_tasks(3, split="train", seed=4):
        env.reset(seed=0, options={"task": task.to_dict()})
        assert env.unwrapped.get_task() == task


@pytest.mark.parametrize("name", ["HalfCheetahDir", "AntGoal", "Walker2dParams"])
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_actions_are_rejected_before_simulating(name, value):
    env = make(name)
    env.reset(seed=0)
    data = env.unwrapped.data
    qpos, time = data.qpos.copy(), data.time
    action = np.zeros(env.action_space.shape, dtype=np.float32)
    action[1] = value
    with pytest.raises(ValueError, match=r"action must be finite \(no NaN or inf\)"):
        env.unwrapped.step(action)
    assert data.time == time
    np.testing.assert_array_equal(data.qpos, qpos)
    with pytest.raises(ValueError, match=r"action must have shape \(\d+,\), got \(3,\)"):
        env.unwrapped.step(np.zeros(3))


@pytest.mark.parametrize(
    ("name", "field", "value", "match"),
    [
        ("AntDir", "direction", 0.5, r"direction must be \+1.0 or -1.0"),
        ("HumanoidDir2D", "direction", (0.6, 0.6), "unit vector"),
        ("Walker2dVel", "target_velocity", -1.0, "target_velocity must be >= 0"),
        ("AntGoal", "goal", (1.0,), "goal must be a pair"),
    ],
)
def test_bad_task_dicts_are_rejected_and_change_nothing(name, field, value, match):
    env = make(name)
    env.reset(seed=0)
    task = env.unwrapped.get_task()
    bad = {**task.to_dict(), field: value}
    with pytest.raises(ValueError, match=match):
        env.reset(options={"task": bad})
    assert env.unwrapped.get_task() == task


def test_gymnasium_keywords_pass_through_and_survive_pickling():
    import pickle

    env = make("Walker2dDir", frame_skip=8, forward_reward_weight=2.0)
    assert math.isclose(env.unwrapped.dt, 0.016, rel_tol=1e-12)  # ProMP's Walker2d timing
    task = DirectionTask(family="Walker2dDir", split="test", index=0, direction=-1.0)
    _, info = pushed_step(env, task, 2.0)
    assert math.isclose(info["reward_forward"], -2.0 * info["x_velocity"], rel_tol=1e-12)
    clone = pickle.loads(pickle.dumps(env))
    assert clone.unwrapped.frame_skip == 8 and clone.unwrapped._forward_reward_weight == 2.0
    assert clone.unwrapped.get_task() == task


def test_vector_env_sets_one_task_per_sub_env():
    envs = gym.vector.SyncVectorEnv([lambda: make("HalfCheetahVel")] * 2)
    tasks = gym.make("KrazyGym/HalfCheetahVel-v0").unwrapped.sample_tasks(2, split="test")
    envs.set_attr("task", tasks)
    envs.reset(seed=0)
    assert list(envs.get_attr("task")) == tasks
    _, _, _, _, info = envs.step(np.zeros((2, 6), dtype=np.float32))
    want = [-abs(v - t.target_velocity) for v, t in zip(info["x_velocity"], tasks)]
    np.testing.assert_allclose(info["reward_forward"], want, rtol=1e-12)
    envs.close()


def test_a_new_task_takes_effect_only_at_the_next_reset():
    env = make("HalfCheetahDir")
    forward = DirectionTask(family="HalfCheetahDir", split="test", index=0, direction=1.0)
    backward = DirectionTask(family="HalfCheetahDir", split="test", index=1, direction=-1.0)
    env.reset(seed=0, options={"task": forward})
    push(env, 3.0)
    env.unwrapped.set_task(backward)
    info = env.step(np.zeros(6, dtype=np.float32))[4]
    assert info["reward_forward"] == info["x_velocity"] > 0  # still the old task
    env.reset(seed=0)
    push(env, 3.0)
    info = env.step(np.zeros(6, dtype=np.float32))[4]
    assert info["reward_forward"] == -info["x_velocity"] < 0
