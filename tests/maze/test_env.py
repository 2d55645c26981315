"""MazeEnv and MazeVectorEnv: rewards, observations, horizon, rendering, batched == single."""

from __future__ import annotations

import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import krazy_gym  # noqa: F401  (registers the ids)
from krazy_gym.maze import render as maze_render
from krazy_gym.maze.env import MazeEnv
from krazy_gym.maze.task import MazeTask
from krazy_gym.maze.vector import MazeVectorEnv
from krazy_gym.tasks import check_tasks_disjoint

SERPENTINE = ("#######", "#.....#", "#####.#", "#.....#", "#.#####", "#.....#", "#######")
UP, RIGHT, DOWN, LEFT = range(4)
OPTIMAL = [RIGHT, RIGHT, DOWN, LEFT, LEFT, DOWN, RIGHT, RIGHT]  # (0,0) -> (2,2) in SERPENTINE


def serpentine_task(start=(0, 0), goal=(2, 2), length=8) -> MazeTask:
    return MazeTask(family="Maze", split="train", index=0, grid=SERPENTINE, start=start,
                    goal=goal, optimal_length=length)


def _patch(rows, cell):
    """3x3 wall patch around a cell, read from the task's strings (independent of the env)."""
    r, c = 2 * cell[0] + 1, 2 * cell[1] + 1
    return np.array([[rows[r + i][c + j] == "#" for j in (-1, 0, 1)] for i in (-1, 0, 1)],
                    dtype=np.float32).ravel()


# -- checkers ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [{}, {"view": "global", "size": 4}])
def test_gymnasium_and_sb3_checkers(kwargs):
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    for mode in (None, "rgb_array", "ansi"):
        env = gym.make("KrazyGym/Maze-v0", render_mode=mode, **kwargs)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            check_env(env.unwrapped, skip_render_check=mode is None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sb3_check_env(gym.make("KrazyGym/Maze-v0", **kwargs), warn=True)


# -- rules ------------------------------------------------------------------------------------------
def test_optimal_path_return_and_termination():
    env = MazeEnv(size=3, min_distance=2)
    h = env.horizon
    assert h == 18  # default 2 m^2
    obs, info = env.reset(seed=0, options={"task": serpentine_task()})
    assert info["optimal_length"] == 8
    np.testing.assert_array_equal(obs, _patch(SERPENTINE, (0, 0)))
    total = 0.0
    for k, action in enumerate(OPTIMAL):
        obs, reward, terminated, truncated, info = env.step(action)
        total += reward
        assert terminated == (k == len(OPTIMAL) - 1) and not truncated
    assert env.agent_cell == (2, 2)
    assert reward == pytest.approx(1 - 1 / h)
    assert total == pytest.approx(1 - 8 / h)


def test_wall_bump_costs_penalty_and_stays():
    env = MazeEnv(size=3, min_distance=2, wall_penalty=0.01, horizon=50)
    obs0, _ = env.reset(options={"task": serpentine_task()})
    for action in (UP, LEFT, DOWN):  # all walls around (0, 0)
        obs, reward, terminated, truncated, _ = env.step(action)
        assert reward == pytest.approx(-1 / 50 - 0.01)
        np.testing.assert_array_equal(obs, obs0)
        assert env.agent_cell == (0, 0) and not terminated and not truncated
    obs, reward, *_ = env.step(RIGHT)
    assert reward == pytest.approx(-1 / 50) and env.agent_cell == (0, 1)
    np.testing.assert_array_equal(obs, _patch(SERPENTINE, (0, 1)))


def test_env_truncates_itself_at_the_horizon():
    env = gym.make("KrazyGym/Maze-v0", size=3, min_distance=2, horizon=7)
    env.reset(options={"task": serpentine_task()})
    for t in range(1, 8):
        _, _, terminated, truncated, info = env.step(UP)
        assert truncated == (t == 7) and not terminated and info["steps"] == t
    obs, info = env.reset()  # same task, back at the start
    assert info["steps"] == 0 and env.unwrapped.agent_cell == (0, 0)


def test_reaching_the_goal_on_the_last_step_terminates_not_truncates():
    env = MazeEnv(size=3, min_distance=2, horizon=8)
    env.reset(options={"task": serpentine_task()})
    for action in OPTIMAL:
        _, _, terminated, truncated, _ = env.step(action)
    assert terminated and not truncated


def test_global_view_is_walls_plus_agent_channel():
    env = MazeEnv(size=3, min_distance=2, view="global")
    obs, _ = env.reset(options={"task": serpentine_task()})
    walls = np.array([[ch == "#" for ch in row] for row in SERPENTINE], dtype=np.float32)
    assert obs.shape == (2 * 49,)
    np.testing.assert_array_equal(obs[:49], walls.ravel())
    agent = np.zeros((7, 7), dtype=np.float32)
    agent[1, 3] = 1.0
    env.step(RIGHT)
    obs, *_ = env.step(UP)  # bump: stays at cell (0, 1) = grid (1, 3)
    np.testing.assert_array_equal(obs[49:], agent.ravel())


def test_local_observation_matches_the_maze_everywhere():
    env = MazeEnv()
    task = env.sample_tasks(1, split="test")[0]
    env.reset(options={"task": task})
    rng = np.random.default_rng(0)
    for _ in range(300):
        obs, _, terminated, truncated, _ = env.step(int(rng.integers(4)))
        np.testing.assert_array_equal(obs, _patch(task.grid, env.agent_cell))
        if terminated or truncated:
            env.reset()


def test_bad_arguments_name_the_parameter():
    with pytest.raises(ValueError, match="size"):
        gym.make("KrazyGym/Maze-v0", size=1)
    with pytest.raises(ValueError, match=r"min_distance must be in \[1, 8\]"):
        gym.make("KrazyGym/Maze-v0", size=5, min_distance=9)
    with pytest.raises(ValueError, match=r"min_distance must be in \[1, 18\]"):
        gym.make_vec("KrazyGym/Maze-v0", num_envs=2, min_distance=40)
    with pytest.raises(ValueError, match="view"):
        MazeEnv(view="egocentric")
    with pytest.raises(ValueError, match="horizon"):
        MazeEnv(horizon=0)
    with pytest.raises(ValueError, match="wall_penalty"):
        MazeEnv(wall_penalty=-1.0)
    env = MazeEnv(size=3, min_distance=2)
    with pytest.raises(ValueError, match="size=3 but this env has size=10"):
        MazeEnv().set_task(serpentine_task())
    env.reset(options={"task": serpentine_task()})
    with pytest.raises(ValueError, match="action"):
        env.step(4)
    envs = MazeVectorEnv(2, size=3, min_distance=2)
    envs.reset(options={"task": serpentine_task()})
    with pytest.raises(ValueError, match="actions must be in"):
        envs.step(np.array([0, 7]))


# -- rendering --------------------------------------------------------------------------------------
def test_rgb_and_ansi_rendering():
    env = MazeEnv(size=3, min_distance=2, render_mode="rgb_array")
    env.reset(options={"task": serpentine_task()})
    env.step(RIGHT)
    image = env.render()
    s = maze_render.PIXELS_PER_SQUARE
    assert image.shape == (7 * s, 7 * s, 3) and image.dtype == np.uint8
    assert tuple(image[1 * s, 3 * s]) == maze_render.AGENT_RGB  # cell (0, 1)
    assert tuple(image[5 * s, 5 * s]) == maze_render.GOAL_RGB  # cell (2, 2)
    assert tuple(image[0, 0]) == maze_render.WALL_RGB
    env = MazeEnv(size=3, min_distance=2, render_mode="ansi")
    env.reset(options={"task": serpentine_task()})
    lines = env.render().splitlines()
    assert lines[1] == "#A    #" and lines[5] == "#    G#"


def test_human_rendering_with_a_dummy_display(monkeypatch):
    pytest.importorskip("pygame")
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")
    env = MazeEnv(size=3, min_distance=2, render_mode="human")
    env.reset(options={"task": serpentine_task()})
    env.step(RIGHT)
    assert env._window is not None
    env.close()
    assert env._window is None


# -- batched == single ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("n", "steps", "kwargs"),
    [(64, 1000, {}), (16, 600, {"size": 3, "min_distance": 2, "view": "global"})],
)
def test_batched_maze_equals_single_mazes_step_for_step(n, steps, kwargs):
    envs = gym.make_vec("KrazyGym/Maze-v0", num_envs=n, **kwargs)
    assert isinstance(envs, MazeVectorEnv)
    singles = [MazeEnv(**kwargs) for _ in range(n)]
    # every env first draws a default training task from np_random(seed + i), like a single
    # env; then the first half gets given tasks through a masked reset
    obs, info = envs.reset(seed=100)
    half = n // 2
    tasks = singles[0].sample_tasks(half, seed=5)
    mask = np.arange(n) < half
    obs, info = envs.reset(options={"task": tasks, "reset_mask": mask})
    for i, single in enumerate(singles):
        s_obs, s_info = single.reset(seed=100 + i)
        if i < half:
            s_obs, s_info = single.reset(options={"task": tasks[i]})
        np.testing.assert_array_equal(obs[i], s_obs)
        assert info["optimal_length"][i] == s_info["optimal_length"]
    assert list(envs.get_attr("task")) == [s.get_task() for s in singles]
    rng = np.random.default_rng(7)
    ends = goals = 0
    for _ in range(steps):
        actions = rng.integers(0, 4, size=n)
        obs, rewards, terminated, truncated, info = envs.step(actions)
        for i, single in enumerate(singles):
            s_obs, s_r, s_term, s_trunc, s_info = single.step(int(actions[i]))
            assert (rewards[i], terminated[i], truncated[i]) == (s_r, s_term, s_trunc)
            if s_term or s_trunc:
                ends += 1
                goals += s_term
                assert info["_final_obs"][i]
                np.testing.assert_array_equal(info["final_obs"][i], s_obs)
                assert info["final_info"]["steps"][i] == s_info["steps"]
                s_obs, _ = single.reset()
            elif "final_obs" in info:
                assert info["final_obs"][i] is None and not info["_final_obs"][i]
            np.testing.assert_array_equal(obs[i], s_obs)
    assert ends > 0 and goals > 0 and (kwargs or ends > n)


def test_set_attr_task_takes_effect_at_the_automatic_reset():
    a = serpentine_task()
    b = serpentine_task(start=(2, 2), goal=(0, 0))
    envs = MazeVectorEnv(2, size=3, min_distance=2, horizon=5)
    envs.reset(options={"task": [a, a]})
    envs.step(np.array([RIGHT, RIGHT]))
    envs.set_attr("task", [b, a])
    assert list(envs.get_attr("task")) == [b, a]
    obs = None
    for _ in range(3):  # still task a: no change before the episode ends
        obs, _, terminated, truncated, _ = envs.step(np.array([UP, UP]))
        assert not (terminated.any() or truncated.any())
        np.testing.assert_array_equal(obs[0], _patch(SERPENTINE, (0, 1)))
    obs, _, _, truncated, info = envs.step(np.array([UP, UP]))  # step 5: truncated
    assert truncated.all()
    np.testing.assert_array_equal(info["final_obs"][0], _patch(SERPENTINE, (0, 1)))
    np.testing.assert_array_equal(obs[0], _patch(SERPENTINE, (2, 2)))  # task b's start
    np.testing.assert_array_equal(obs[1], _patch(SERPENTINE, (0, 0)))


def test_reset_mask_resets_only_the_masked_envs():
    a = serpentine_task()
    c = serpentine_task(start=(1, 1), goal=(0, 0), length=4)
    envs = MazeVectorEnv(2, size=3, min_distance=2)
    envs.reset(options={"task": a})
    before, *_ = envs.step(np.array([RIGHT, RIGHT]))
    obs, info = envs.reset(options={"reset_mask": np.array([False, True]), "task": [c]})
    np.testing.assert_array_equal(obs[0], before[0])
    np.testing.assert_array_equal(obs[1], _patch(SERPENTINE, (1, 1)))
    assert list(envs.get_attr("task")) == [a, c] and info["optimal_length"].tolist() == [8, 4]
    with pytest.raises(ValueError, match="one per env"):
        envs.reset(options={"task": [a, a, a]})
    assert list(envs.get_attr("task")) == [a, c]  # nothing half-applied


def test_maze_train_and_test_tasks_are_disjoint():
    env = MazeEnv(size=5, min_distance=4)
    train = env.sample_tasks(300, seed=0) + env.sample_tasks(300, seed=1)
    test = env.sample_tasks(100, split="test")
    check_tasks_disjoint(train, test)


def test_import_krazy_gym_and_maze_tasks_do_not_import_numba():
    code = (
        "import sys, gymnasium as gym, krazy_gym, krazy_gym.wrappers;"
        "from krazy_gym.tasks import Task;"
        "from krazy_gym.maze.task import MazeFamily;"
        "t = MazeFamily(size=4).sample_tasks(1)[0]; Task.from_dict(t.to_dict());"
        "print([m for m in ('numba', 'pygame', 'torch', 'stable_baselines3') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
