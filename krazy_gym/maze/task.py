"""Maze tasks: a perfect maze, a start cell and a goal cell (see :mod:`krazy_gym.maze.generator`).

Task distribution (:class:`MazeFamily`, ``size`` m, ``min_distance`` d):

1. the maze: randomised depth-first search on the ``(2m+1)²`` grid;
2. the start: uniform over the cells from which some cell is at least d moves away (in
   practice almost every cell; the corners always qualify, see
   :func:`~krazy_gym.maze.generator.max_min_distance`);
3. the goal: uniform over the cells at least d BFS moves from the start.

``d`` may be at most ``2 (m - 1)``, the bound every perfect maze meets; the default is ``m``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from krazy_gym.maze import generator as gen
from krazy_gym.tasks import Task, TaskFamily


def default_horizon(size: int) -> int:
    """Default episode length ``H = 2 m²`` for a maze of ``m x m`` cells.

    A depth-first sweep of a perfect maze walks every passage twice, ``2 (m² - 1)`` moves, so
    within H a systematic explorer can always find the goal; a memoryless random walk usually
    cannot. The step cost ``-1/H`` makes a fully spent episode cost exactly 1.
    """
    return 2 * size * size


def check_size(size: Any) -> int:
    """``size`` as an int >= 2, or ``TypeError``/``ValueError`` naming it."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise TypeError(f"size (cells per side) must be an int >= 2, got {type(size).__name__}")
    if size < 2:
        raise ValueError(f"size (cells per side) must be an int >= 2, got {size}")
    return int(size)


def check_min_distance(min_distance: Any, size: int) -> int:
    """``min_distance`` as an int in ``[1, 2 (size - 1)]``, or an error naming it."""
    if isinstance(min_distance, bool) or not isinstance(min_distance, (int, np.integer)):
        raise TypeError(f"min_distance must be an int, got {type(min_distance).__name__}")
    limit = gen.max_min_distance(size)
    if not 1 <= min_distance <= limit:
        raise ValueError(
            f"min_distance must be in [1, {limit}] for size={size} (the largest distance every "
            f"perfect maze of that size offers is 2*(size-1) = {limit}), got {min_distance}"
        )
    return int(min_distance)


@dataclasses.dataclass(frozen=True)
class MazeTask(Task):
    """One maze task.

    Attributes:
        grid: the maze as ``2m+1`` strings of ``'#'`` (wall) and ``'.'`` (open); must be a
            perfect maze.
        start, goal: ``(row, col)`` cells (``0 <= row, col < m``), distinct.
        optimal_length: BFS length (moves) from start to goal; checked on construction.
    """

    grid: tuple = ()
    start: tuple = ()
    goal: tuple = ()
    optimal_length: int = 0
    FAMILIES = ("Maze",)

    def validate(self) -> None:
        walls = gen.rows_to_walls(self.grid)
        gen.check_structure(walls)
        if not gen.is_perfect(walls):
            raise ValueError("grid must be a perfect maze (connected, cells - 1 passages)")
        m = self.size
        for name in ("start", "goal"):
            cell = getattr(self, name)
            if (
                len(cell) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in cell)
                or not all(0 <= v < m for v in cell)
            ):
                raise ValueError(f"{name} must be a (row, col) cell with 0 <= row, col < {m}")
        if self.start == self.goal:
            raise ValueError("start and goal must be different cells")
        length = int(gen.cell_distances(walls, self.start)[self.goal])
        if self.optimal_length != length:
            raise ValueError(
                f"optimal_length must be the BFS length {length}, got {self.optimal_length}"
            )

    @property
    def size(self) -> int:
        """Cells per side."""
        return (len(self.grid) - 1) // 2

    def walls(self) -> np.ndarray:
        """The boolean wall grid, ``(2m+1, 2m+1)``."""
        return gen.rows_to_walls(self.grid)


class MazeFamily(TaskFamily):
    """Perfect mazes with ``size`` cells per side, goal >= ``min_distance`` moves away."""

    name = "Maze"
    task_class = MazeTask

    def __init__(self, size: int = 10, min_distance: int | None = None) -> None:
        self.size = check_size(size)
        if min_distance is None:
            min_distance = self.size
        self.min_distance = check_min_distance(min_distance, self.size)
        super().__init__(size=self.size, min_distance=self.min_distance)

    def generate(self, rng: np.random.Generator) -> dict[str, Any]:
        m, d = self.size, self.min_distance
        walls = gen.random_dfs_maze(m, rng)
        starts = np.flatnonzero(gen.eccentricities(walls).ravel() >= d)
        start = divmod(int(starts[rng.integers(len(starts))]), m)
        dist = gen.cell_distances(walls, start)
        goals = np.flatnonzero(dist.ravel() >= d)
        goal = divmod(int(goals[rng.integers(len(goals))]), m)
        return {
            "grid": gen.walls_to_rows(walls),
            "start": start,
            "goal": goal,
            "optimal_length": int(dist[goal]),
        }

    def check_compatible(self, task: Task) -> None:
        if task.size != self.size:  # type: ignore[attr-defined]
            raise ValueError(
                f"maze task has size={task.size} but this env has size={self.size}"  # type: ignore[attr-defined]
            )
