"""Perfect mazes on a ``(2m+1) x (2m+1)`` grid: generation, shortest paths, checks.

Grid convention: ``walls[r, c]`` is True for a wall. Cell ``(i, j)`` (``0 <= i, j < m``) sits
at grid position ``(2i+1, 2j+1)``; the grid position between two neighbouring cells is the
wall slot between them (open = a passage). Grid positions with both coordinates even are
always walls, and so is the border. A *perfect* maze has exactly one path between any two
cells: its passages form a spanning tree of the ``m x m`` cell grid (connected, with
``m*m - 1`` passages).

Plain numpy/Python (no numba): the generator runs when tasks are sampled, which must not need
the compiled engine.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: cell moves in action order: up, right, down, left (as (d_row, d_col))
MOVES: tuple[tuple[int, int], ...] = ((-1, 0), (0, 1), (1, 0), (0, -1))
WALL_CHAR, OPEN_CHAR = "#", "."


def grid_size(size: int) -> int:
    """Side of the grid of a maze with ``size`` cells per side: ``2 * size + 1``."""
    return 2 * size + 1


def max_min_distance(size: int) -> int:
    """Largest ``min_distance`` every maze of this size can satisfy: ``2 * (size - 1)``.

    In a perfect maze the path between two cells is never shorter than their Manhattan
    distance, so the two opposite corners are always at least ``2 (m - 1)`` moves apart; a
    larger bound would hold only for some mazes.
    """
    return 2 * (size - 1)


def random_dfs_maze(size: int, rng: np.random.Generator) -> np.ndarray:
    """A perfect maze by randomised depth-first search (recursive backtracker).

    Starts from a uniformly drawn cell; at each step carves a passage to a uniformly drawn
    unvisited neighbour of the cell on top of the stack, or backtracks. Returns the boolean
    wall grid, shape ``(2*size+1, 2*size+1)``.
    """
    if size < 2:
        raise ValueError(f"size must be an int >= 2, got {size}")
    g = grid_size(size)
    walls = np.ones((g, g), dtype=bool)
    walls[1::2, 1::2] = False
    visited = [False] * (size * size)
    draws = iter(rng.random(size * size + 1).tolist())
    current = int(next(draws) * size * size)
    visited[current] = True
    stack = [current]
    while stack:
        r, c = divmod(stack[-1], size)
        options = [
            (dr, dc)
            for dr, dc in MOVES
            if 0 <= r + dr < size
            and 0 <= c + dc < size
            and not visited[(r + dr) * size + c + dc]
        ]
        if not options:
            stack.pop()
            continue
        dr, dc = options[int(next(draws) * len(options))]
        walls[2 * r + 1 + dr, 2 * c + 1 + dc] = False
        nxt = (r + dr) * size + c + dc
        visited[nxt] = True
        stack.append(nxt)
    return walls


def cell_distances(walls: np.ndarray, start: Sequence[int]) -> np.ndarray:
    """BFS distance (in moves) from cell ``start`` to every cell; -1 where unreachable."""
    g = walls.shape[0]
    flat = walls.ravel().tolist()
    dist = [-1] * (g * g)
    source = (2 * int(start[0]) + 1) * g + 2 * int(start[1]) + 1
    dist[source] = 0
    queue = [source]
    offsets = (-g, 1, g, -1)
    for p in queue:  # the list grows while it is walked: a FIFO queue
        d = dist[p] + 1
        for off in offsets:
            q = p + 2 * off
            if not flat[p + off] and dist[q] < 0:
                dist[q] = d
                queue.append(q)
    return np.array(dist, dtype=np.int64).reshape(g, g)[1::2, 1::2].copy()


def count_passages(walls: np.ndarray) -> int:
    """Number of open wall slots between neighbouring cells."""
    horizontal = ~walls[1::2, 2:-1:2]  # between (i, j) and (i, j+1)
    vertical = ~walls[2:-1:2, 1::2]  # between (i, j) and (i+1, j)
    return int(horizontal.sum() + vertical.sum())


def check_structure(walls: np.ndarray) -> None:
    """Raise ``ValueError`` unless ``walls`` is a well-formed maze grid (any passages)."""
    g = walls.shape[0]
    if walls.ndim != 2 or walls.shape[1] != g or g < 5 or g % 2 == 0:
        raise ValueError(f"maze grid must be (2m+1) x (2m+1) with m >= 2, got shape {walls.shape}")
    if not (walls[0].all() and walls[-1].all() and walls[:, 0].all() and walls[:, -1].all()):
        raise ValueError("maze grid border must be all walls")
    if walls[1::2, 1::2].any():
        raise ValueError("maze grid cells (odd, odd positions) must be open")
    if not walls[::2, ::2].all():
        raise ValueError("maze grid corners (even, even positions) must be walls")


def is_perfect(walls: np.ndarray) -> bool:
    """True iff the maze is connected and has exactly ``cells - 1`` passages (a tree)."""
    size = (walls.shape[0] - 1) // 2
    if count_passages(walls) != size * size - 1:
        return False
    return bool((cell_distances(walls, (0, 0)) >= 0).all())


def eccentricities(walls: np.ndarray) -> np.ndarray:
    """For every cell, the distance to the farthest cell (perfect mazes only).

    In a tree the farthest cell from any cell is an end of a diameter, found by two BFS.
    """
    d0 = cell_distances(walls, (0, 0))
    a = np.unravel_index(int(np.argmax(d0)), d0.shape)
    da = cell_distances(walls, a)
    b = np.unravel_index(int(np.argmax(da)), da.shape)
    db = cell_distances(walls, b)
    return np.maximum(da, db)


def walls_to_rows(walls: np.ndarray) -> tuple[str, ...]:
    """The grid as rows of ``'#'`` (wall) and ``'.'`` (open), for tasks and JSON."""
    chars = np.where(walls, ord(WALL_CHAR), ord(OPEN_CHAR)).astype(np.uint8)
    return tuple(row.tobytes().decode("ascii") for row in chars)


def rows_to_walls(rows: Sequence[str]) -> np.ndarray:
    """Inverse of :func:`walls_to_rows`; raises ``ValueError`` on other characters."""
    if len(rows) == 0 or any(not isinstance(row, str) for row in rows):
        raise ValueError("maze grid must be a non-empty sequence of strings")
    if len({len(row) for row in rows}) != 1:
        raise ValueError("maze grid rows must all have the same length")
    chars = set("".join(rows))
    if not chars <= {WALL_CHAR, OPEN_CHAR}:
        raise ValueError(f"maze grid may only contain '#' and '.', got {sorted(chars)}")
    data = np.frombuffer("".join(rows).encode("ascii"), dtype=np.uint8)
    return (data == ord(WALL_CHAR)).reshape(len(rows), -1)
