"""Helpers for the Krazy World tests: hand-built boards from text (imported as a module)."""

from __future__ import annotations

from krazy_gym.krazy_world.env import KrazyWorldEnv
from krazy_gym.krazy_world.task import IDENTITY_MOVES, KrazyWorldTask


def board_task(
    rows: list[str],
    moves=IDENTITY_MOVES,
    energy: int | None = None,
    energy_replenish: int = 0,
    colours=tuple(range(9)),
    death_reward: float = 0.0,
    pair_order: list[tuple[int, int]] | None = None,
) -> KrazyWorldTask:
    """A task from a square board drawn in tile characters, ``@`` marking the start.

    Rows shorter than the board are padded with walls on the right. Teleporters pair in
    reading order (1st with 2nd, 3rd with 4th), unless ``pair_order`` says otherwise.
    """
    size = max(len(rows), max(len(r) for r in rows))
    rows = [r.ljust(size, "#") for r in rows] + ["#" * size] * (size - len(rows))
    tiles = [row.replace("@", ".") for row in rows]
    start = next((r, c) for r, row in enumerate(rows) for c, ch in enumerate(row) if ch == "@")
    teles = pair_order or [(r, c) for r, row in enumerate(rows) for c, ch in enumerate(row) if ch == "T"]
    pairs = tuple((teles[i], teles[i + 1]) for i in range(0, len(teles), 2))
    return KrazyWorldTask(
        family="KrazyWorld", split="train", index=0, size=size, tiles=tiles, start=start,
        colours=colours, moves=moves, teleporters=pairs, energy=energy,
        energy_replenish=energy_replenish, death_reward=death_reward, dynamics="identity",
    )  # fmt: skip


def env_for(task: KrazyWorldTask, **kwargs) -> KrazyWorldEnv:
    """A single env running ``task`` (reset done)."""
    env = KrazyWorldEnv(preset="easy", size=task.size, **kwargs)
    env.reset(seed=0, options={"task": task})
    return env
