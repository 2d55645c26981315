"""Save pictures of Krazy World boards (PNG) and episodes (GIF); pillow is imported lazily.

    >>> from krazy_gym.krazy_world.gallery import save_board_png, record_episode, save_episode_gif
    >>> save_board_png(task, "board.png")
    >>> frames = record_episode(task, actions=[0, 3, 3, 1])
    >>> save_episode_gif(frames, "episode.gif")

Pictures use the tile palette of :mod:`krazy_gym.krazy_world.render` (what each tile *is*,
not the colour the agent sees): green goal, red death, light blue ice, dark grey wall,
purple lock, yellow key, magenta teleporter, orange energy; the agent is the white square.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from krazy_gym.atomic_io import atomic_output
from krazy_gym.krazy_world.render import board_image
from krazy_gym.krazy_world.task import KrazyWorldTask


def _atomic_save(image_or_frames, path: str | os.PathLike, **save_kwargs) -> Path:
    with atomic_output(path) as tmp:
        image_or_frames.save(tmp, **save_kwargs)
    return Path(path)


def save_board_png(task: KrazyWorldTask, path: str | os.PathLike, cell_px: int = 24) -> Path:
    """Write a picture of ``task``'s board (agent at the start) to ``path`` (PNG, atomically)."""
    from PIL import Image

    return _atomic_save(Image.fromarray(board_image(task, cell_px=cell_px)), path, format="PNG")


def record_episode(
    task: KrazyWorldTask,
    actions: Iterable[int] | None = None,
    max_steps: int = 50,
    seed: int = 0,
) -> list[np.ndarray]:
    """Frames (``render_mode="rgb_array"``) of one episode of ``task``.

    Args:
        actions: the actions to play; None plays uniformly random actions drawn from a
            generator seeded with ``seed``.
        max_steps: stop after this many steps (or when the episode ends).
    """
    from krazy_gym.krazy_world.env import KrazyWorldEnv

    env = KrazyWorldEnv(size=task.size, render_mode="rgb_array", **_loose_config(task))
    env.reset(seed=seed, options={"task": task})
    frames = [env.render()]
    rng = np.random.default_rng(seed)
    plan = iter(actions) if actions is not None else None
    for _ in range(max_steps):
        action = int(rng.integers(4)) if plan is None else next(plan, None)
        if action is None:
            break
        _, _, terminated, truncated, _ = env.step(action)
        frames.append(env.render())
        if terminated or truncated:
            break
    env.close()
    return frames


def _loose_config(task: KrazyWorldTask) -> dict:
    """Env options that accept ``task`` (only the board size must match)."""
    return {"preset": "easy"} if task.size < 5 else {}


def save_episode_gif(frames: Sequence[np.ndarray], path: str | os.PathLike, fps: int = 4) -> Path:
    """Write ``frames`` (``[H, W, 3]`` uint8 arrays) as a looping GIF (atomically)."""
    from PIL import Image

    if not frames:
        raise ValueError("frames must hold at least one image")
    images = [Image.fromarray(np.asarray(f, dtype=np.uint8)) for f in frames]
    return _atomic_save(
        images[0], path, format="GIF", save_all=True, append_images=images[1:],
        duration=int(1000 / fps), loop=0,
    )  # fmt: skip


def record_adaptation(
    agent,
    task: KrazyWorldTask,
    explore_episodes: int,
    exploit_episodes: int,
    env_id: str = "KrazyGym/KrazyWorld-Easy-v0",
    env_kwargs: dict | None = None,
    seed: int = 0,
) -> list[dict]:
    """Play one task through the harness protocol (explore, ``adapt()``, exploit), recording.

    ``agent`` is any :class:`~krazy_gym.evaluation.agents.MetaAgent`; it is driven with one
    row (``num_tasks=1``) exactly as the harness drives a batch: ``reset``, then per step
    ``act``/``observe``, ``adapt()`` once after the explore episodes. Episode ``k`` resets the
    env with ``seed + k``.

    Returns:
        One dict per episode, in order: ``phase`` ("explore"/"exploit"), ``frames`` (the
        ``rgb_array`` renders), ``return``, ``goals`` and ``deaths``.

    Example::

        agent = baselines.agents.load("reference/checkpoints/KrazyWorld-Easy-v1/rl2/checkpoint.pt")
        episodes = record_adaptation(agent, task, explore_episodes=3, exploit_episodes=2)
        save_episode_gif(side_by_side(episodes[0]["frames"], episodes[-1]["frames"]), "a.gif")
    """
    import gymnasium as gym

    env = gym.make(env_id, render_mode="rgb_array", **(env_kwargs or {}))
    agent.reset(1, env.observation_space, env.action_space)
    episodes: list[dict] = []
    phases = ["explore"] * explore_episodes + ["exploit"] * exploit_episodes
    for k, phase in enumerate(phases):
        if phase == "exploit" and k == explore_episodes:
            agent.adapt()
        obs, info = env.reset(seed=seed + k, options={"task": task})
        frames, total, done = [env.render()], 0.0, False
        while not done:
            action = np.asarray(agent.act(np.asarray(obs)[None]))[0]
            next_obs, reward, terminated, truncated, info = env.step(action)
            agent.observe(np.asarray(obs)[None], np.asarray(action)[None],
                          np.asarray([reward], dtype=np.float64), np.asarray(next_obs)[None],
                          np.asarray([terminated]), np.asarray([truncated]))
            frames.append(env.render())
            total += float(reward)
            obs, done = next_obs, terminated or truncated
        episodes.append({"phase": phase, "frames": frames, "return": total,
                         "goals": int(info.get("goals", 0)), "deaths": int(info.get("deaths", 0))})
    env.close()
    return episodes


def side_by_side(left: Sequence[np.ndarray], right: Sequence[np.ndarray],
                 gap: int = 8) -> list[np.ndarray]:
    """Frames of two episodes next to each other; the shorter one holds its last frame."""
    if not left or not right:
        raise ValueError("side_by_side needs at least one frame on each side")
    n = max(len(left), len(right))
    out = []
    for i in range(n):
        a, b = np.asarray(left[min(i, len(left) - 1)]), np.asarray(right[min(i, len(right) - 1)])
        h = max(a.shape[0], b.shape[0])
        canvas = np.full((h, a.shape[1] + gap + b.shape[1], 3), 255, dtype=np.uint8)
        canvas[: a.shape[0], : a.shape[1]] = a
        canvas[: b.shape[0], a.shape[1] + gap:] = b
        out.append(canvas)
    return out
