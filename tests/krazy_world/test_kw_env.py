"""The single Krazy World env: gymnasium checks, observation modes, rendering, bad input."""

from __future__ import annotations

import pickle
import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env, data_equivalence
from kw_boards import board_task, env_for

import krazy_gym  # noqa: F401  (registers the ids)
from krazy_gym.krazy_world.env import KrazyWorldEnv
from krazy_gym.krazy_world.render import CHANNEL_PALETTE, TILE_PALETTE
from krazy_gym.krazy_world.task import GOAL, PRESET_HORIZONS

KW_IDS = [
    "KrazyGym/KrazyWorld-v0",
    "KrazyGym/KrazyWorld-Easy-v0",
    "KrazyGym/KrazyWorld-Medium-v0",
    "KrazyGym/KrazyWorld-Hard-v0",
]


@pytest.mark.parametrize("env_id", KW_IDS)
@pytest.mark.parametrize("view", ["local", "global"])
@pytest.mark.parametrize("obs_mode", ["onehot", "index", "rgb"])
def test_env_checker_without_warnings(env_id, view, obs_mode):
    env = gym.make(env_id, view=view, obs_mode=obs_mode, render_mode="rgb_array")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped, skip_render_check=False)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    for _ in range(30):
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs)
        if terminated or truncated:
            obs, _ = env.reset()


@pytest.mark.parametrize("obs_mode", ["onehot", "index", "rgb"])
def test_pickled_env_continues_identically(obs_mode):
    env = gym.make("KrazyGym/KrazyWorld-Medium-v0", obs_mode=obs_mode, view="global")
    env.reset(seed=4)
    env.step(1)
    clone = pickle.loads(pickle.dumps(env))
    for action in [0, 1, 2, 3, 3, 2]:
        a, b = env.step(action), clone.step(action)
        assert data_equivalence(a, b, exact=True)
        if a[2] or a[3]:
            break


def test_presets_and_horizons():
    for preset, horizon in PRESET_HORIZONS.items():
        env = gym.make(f"KrazyGym/KrazyWorld-{preset.capitalize()}-v0")
        assert env.spec.max_episode_steps == horizon
        assert env.unwrapped.config.task_config["size"] == {"easy": 5, "medium": 7, "hard": 10}[preset]
    env = gym.make("KrazyGym/KrazyWorld-Hard-v0")
    env.reset(seed=0, options={"task": env.unwrapped.sample_tasks(1, split="test")[0]})
    # a keyword overrides one option of a preset
    assert KrazyWorldEnv(preset="hard", dynamics="identity").config.task_config["size"] == 10


def test_onehot_layout_and_info():
    task = board_task(["@G.", "...", "..."], energy=8, colours=(4, 2, 0, 1, 3, 5, 6, 7, 8))
    env = env_for(task)
    obs, info = env.reset()
    assert obs.dtype == np.float32 and obs.shape == (92,)
    cells = obs[:90].reshape(9, 10)
    assert np.all(cells.sum(axis=1) == 1)  # exactly one channel per visible cell
    assert obs[90] == 1.0 and obs[91] == 0.0  # full energy, no key
    assert cells[5, task.colours[GOAL]] == 1
    assert info == {"goals": 0, "deaths": 0, "tile_types_visited": 1, "keys": 0, "teleports": 0}
    obs, reward, *_, info = env.step(3)
    assert reward == 1.0 and info["goals"] == 1 and info["tile_types_visited"] == 2
    assert obs[90] == pytest.approx(7 / 8)


def test_rgb_observation_uses_the_permuted_palette():
    colours = (4, 2, 0, 1, 3, 5, 6, 7, 8)
    env = env_for(board_task(["@G.", "...", "..."], colours=colours), obs_mode="rgb")
    obs, _ = env.reset()
    assert obs.shape == (40, 36, 3) and obs.dtype == np.uint8
    goal_pixel = obs[12 + 1, 24 + 1]  # window cell (1, 2): the goal, right of the agent
    assert np.array_equal(goal_pixel, CHANNEL_PALETTE[colours[GOAL]])
    assert not np.array_equal(goal_pixel, TILE_PALETTE[GOAL])
    assert np.array_equal(obs[1, 1], CHANNEL_PALETTE[9])  # outside the board


def test_render_modes():
    task = board_task(["@kLG", "..#.", "....", "X~TT"])
    env = env_for(task, render_mode="ansi")
    assert env.render() == "@kLG\n..#.\n....\nX~TT\n"
    env.step(3)
    assert env.render().splitlines()[0] == ".@LG"  # key picked up
    env = env_for(task, render_mode="rgb_array")
    image = env.render()
    assert image.shape == (96, 96, 3) and image.dtype == np.uint8
    assert np.array_equal(image[24 * 3 + 12, 12], TILE_PALETTE[3])  # death cell, tile colour


def test_human_render_imports_pygame_lazily(monkeypatch):
    pytest.importorskip("pygame")
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")
    env = env_for(board_task(["@.G", "...", "..."]), render_mode="human")
    env.step(3)
    assert env.render() is None
    env.close()


def test_import_does_not_load_numba_until_an_env_is_made():
    code = (
        "import sys, time; t = time.perf_counter(); import krazy_gym;"
        "import krazy_gym.krazy_world.task;"
        "assert 'numba' not in sys.modules and 'pygame' not in sys.modules;"
        "import gymnasium as gym; env = gym.make('KrazyGym/KrazyWorld-Hard-v0');"
        "assert 'numba' in sys.modules and 'pygame' not in sys.modules and 'PIL' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"preset": "extreme"}, ValueError, r"preset must be one of \['easy', 'hard', 'medium'\]"),
        ({"view": "ego"}, ValueError, r"view must be one of \['local', 'global'\]"),
        ({"obs_mode": "pixels"}, ValueError, r"obs_mode must be one of \['onehot', 'index', 'rgb'\]"),
        ({"render_mode": "video"}, ValueError, "render_mode must be one of"),
        ({"size": 2}, ValueError, r"size must be in \[3, 15\]"),
        ({"sizes": 5}, TypeError, r"unknown Krazy World option\(s\) \['sizes'\]; allowed"),
        ({"preset": "easy", "death_frac": 0.8}, ValueError, "tiles do not fit"),
    ],
)
def test_bad_constructor_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        KrazyWorldEnv(**kwargs)


def test_bad_actions_and_tasks():
    env = gym.make("KrazyGym/KrazyWorld-Hard-v0")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action must be in \[0, 4\)"):
        env.step(4)
    with pytest.raises(ValueError, match=r"action must be in \[0, 4\)"):
        env.step(-1)
    with pytest.raises(TypeError, match="action must be an int"):
        env.step(1.5)
    easy_task = gym.make("KrazyGym/KrazyWorld-Easy-v0").unwrapped.sample_tasks(1)[0]
    task = env.unwrapped.task
    with pytest.raises(ValueError, match="board size 5 does not match this env's size=10"):
        env.reset(options={"task": easy_task})
    assert env.unwrapped.task == task
    with pytest.raises(RuntimeError, match="reset"):
        KrazyWorldEnv().step(0)
