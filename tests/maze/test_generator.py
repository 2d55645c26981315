"""Maze generation and shortest paths, checked on hand-drawn mazes and with scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path

from krazy_gym.maze import generator as gen
from krazy_gym.maze.task import MazeFamily, MazeTask

SERPENTINE = (
    "#######",
    "#.....#",
    "#####.#",
    "#.....#",
    "#.#####",
    "#.....#",
    "#######",
)
SERPENTINE_DIST_FROM_00 = [[0, 1, 2], [5, 4, 3], [6, 7, 8]]
COMB = (
    "#######",
    "#.#.#.#",
    "#.#.#.#",
    "#.....#",
    "#.#.#.#",
    "#.#.#.#",
    "#######",
)
COMB_DIST_FROM_00 = [[0, 3, 4], [1, 2, 3], [2, 3, 4]]
COMB_WITH_LOOP = COMB[:5] + ("#...#.#",) + COMB[6:]  # one passage too many: a cycle
COMB_SPLIT = COMB[:3] + ("#.#...#",) + COMB[4:]  # one passage too few: cell (*,0) cut off


def _scipy_distances(walls: np.ndarray, start) -> np.ndarray:
    """Cell-to-cell distances by scipy's shortest paths on the passage graph (independent)."""
    m = (walls.shape[0] - 1) // 2
    rows, cols = [], []
    for r in range(m):
        for c in range(m):
            if c + 1 < m and not walls[2 * r + 1, 2 * c + 2]:
                rows.append(r * m + c)
                cols.append(r * m + c + 1)
            if r + 1 < m and not walls[2 * r + 2, 2 * c + 1]:
                rows.append(r * m + c)
                cols.append((r + 1) * m + c)
    graph = csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(m * m, m * m))
    d = shortest_path(graph, directed=False, unweighted=True, indices=start[0] * m + start[1])
    return np.where(np.isinf(d), -1, d).reshape(m, m).astype(int)


def _perfect_by_scipy(walls: np.ndarray) -> bool:
    m = (walls.shape[0] - 1) // 2
    _, components = ndimage.label(~walls)  # 4-connected open squares
    passages = int((~walls).sum()) - m * m
    return components == 1 and passages == m * m - 1


@pytest.mark.parametrize(
    ("rows", "table"), [(SERPENTINE, SERPENTINE_DIST_FROM_00), (COMB, COMB_DIST_FROM_00)]
)
def test_bfs_lengths_on_hand_drawn_mazes(rows, table):
    walls = gen.rows_to_walls(rows)
    assert gen.is_perfect(walls) and gen.count_passages(walls) == 8
    np.testing.assert_array_equal(gen.cell_distances(walls, (0, 0)), table)
    for start in [(1, 1), (2, 2), (0, 2)]:
        np.testing.assert_array_equal(
            gen.cell_distances(walls, start), _scipy_distances(walls, start)
        )


def test_imperfect_mazes_are_detected_and_rejected_as_tasks():
    loop, split = gen.rows_to_walls(COMB_WITH_LOOP), gen.rows_to_walls(COMB_SPLIT)
    assert gen.count_passages(loop) == 9 and not gen.is_perfect(loop)
    assert gen.count_passages(split) == 7 and not gen.is_perfect(split)
    assert (gen.cell_distances(split, (0, 1)) == -1).sum() == 3  # the cut-off column
    for rows in (COMB_WITH_LOOP, COMB_SPLIT):
        with pytest.raises(ValueError, match="perfect maze"):
            MazeTask(family="Maze", split="train", index=0, grid=rows, start=(0, 0),
                     goal=(2, 2), optimal_length=4)


def test_task_fields_are_checked():
    ok = {"family": "Maze", "split": "train", "index": 0, "grid": SERPENTINE,
          "start": (0, 0), "goal": (2, 2), "optimal_length": 8}
    assert MazeTask(**ok).size == 3
    for change, match in [
        ({"optimal_length": 7}, "optimal_length must be the BFS length 8"),
        ({"goal": (0, 0)}, "different"),
        ({"start": (3, 0)}, "start must be"),
        ({"grid": SERPENTINE[:-1]}, "2m\\+1"),
        ({"grid": SERPENTINE[:1] + ("##....#",) + SERPENTINE[2:]}, "cells"),
        ({"grid": tuple(r.replace("#", "x") for r in SERPENTINE)}, "only contain"),
    ]:
        with pytest.raises(ValueError, match=match):
            MazeTask(**{**ok, **change})


@pytest.mark.parametrize("size", [2, 3, 5, 10, 16])
def test_generated_mazes_are_perfect(size):
    rng = np.random.default_rng(size)
    for _ in range(15):
        walls = gen.random_dfs_maze(size, rng)
        assert walls.shape == (2 * size + 1, 2 * size + 1)
        assert _perfect_by_scipy(walls)
        assert gen.count_passages(walls) == size * size - 1
        start = tuple(int(v) for v in rng.integers(size, size=2))
        np.testing.assert_array_equal(
            gen.cell_distances(walls, start), _scipy_distances(walls, start)
        )


def test_tasks_respect_min_distance_and_store_the_optimal_length():
    family = MazeFamily(size=6, min_distance=10)
    for task in family.sample_tasks(40, seed=3):
        dist = _scipy_distances(task.walls(), task.start)
        assert dist[task.goal] == task.optimal_length >= 10
    # the corner-to-corner bound 2(m-1) is always achievable
    for task in MazeFamily(size=4, min_distance=6).sample_tasks(20, seed=0):
        assert task.optimal_length >= 6


def test_maze_generation_is_deterministic_and_varied():
    a = MazeFamily().sample_tasks(10, seed=1)
    assert a == MazeFamily().sample_tasks(10, seed=1)
    assert len({t.grid for t in a}) == 10
    starts = {t.start for t in MazeFamily().sample_tasks(60, seed=2)}
    assert len(starts) > 30  # starts spread over the maze


@pytest.mark.parametrize("size", [1, 0, -2])
def test_size_below_two_is_rejected(size):
    with pytest.raises(ValueError, match="size"):
        MazeFamily(size=size)


def test_min_distance_bound_names_the_maximum():
    with pytest.raises(ValueError, match=r"min_distance must be in \[1, 18\]"):
        MazeFamily(size=10, min_distance=19)
    with pytest.raises(ValueError, match="min_distance"):
        MazeFamily(size=10, min_distance=0)
    assert MazeFamily(size=10, min_distance=18).min_distance == 18
