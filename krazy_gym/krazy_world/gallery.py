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
