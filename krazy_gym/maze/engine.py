"""The maze rules: numba kernels over a batch of mazes (imported lazily, by the envs only).

:class:`~krazy_gym.maze.env.MazeEnv` runs these kernels with a batch of one and
:class:`~krazy_gym.maze.vector.MazeVectorEnv` with a batch of N, so both follow the same rules
by construction.

Batch layout (one row per env; m cells per side, ``G = 2m + 1``; positions are cell indices
``row * m + col``):

* ``codes[N, m*m]`` (uint8): per cell, bit ``a`` set = a wall in direction ``a`` (0 up,
  1 right, 2 down, 3 left). This compact form (100 bytes for a 10x10 maze) is all the step
  and the local view read, so thousands of mazes stay in cache.
* ``walls[N, G*G]`` (uint8): the full wall grid, read only by the global view.
* ``start[N]``, ``goal[N]`` (int32): start and goal cells.
* ``pos[N]``, ``t[N]`` (int32): agent cell and steps taken in the running episode.
* ``config`` (int64): ``[m, G, view, horizon, autoreset]``; ``costs`` (float64):
  ``[step_cost, wall_penalty]``.
* outputs: ``obs[N, D]`` (float32), ``rewards[N]`` (float64), ``terminated[N]``,
  ``truncated[N]`` (bool), and for autoreset ``final_obs[N, D]``, ``final_t[N]``.

Rules of one step: action ``a`` moves the agent one cell in direction ``a`` unless the cell's
wall bit ``a`` is set; then it stays and pays ``wall_penalty``. Every step pays
``step_cost`` (``1/H``). Reaching the goal cell adds +1 and terminates; ``t >= horizon``
truncates.

Observations (float32 rows): local view = the 3x3 grid patch around the agent (1 = wall),
row-major; the agent always stands on a cell, so the patch is ``[1, up, 1, left, 0, right, 1,
down, 1]``. Global view = the whole grid (``G*G`` wall flags) followed by a ``G*G`` one-hot
agent channel.
"""

from __future__ import annotations

import numpy as np
from numba import njit

VIEW_LOCAL, VIEW_GLOBAL = 0, 1
C_CELLS, C_GRID, C_VIEW, C_HORIZON, C_AUTORESET = range(5)
UP, RIGHT, DOWN, LEFT = 1, 2, 4, 8  # wall bits of a cell code, in action order


def kernel_config(size: int, view: int, horizon: int, autoreset: bool) -> np.ndarray:
    """The ``config`` array of the kernels."""
    return np.array([size, 2 * size + 1, view, horizon, int(autoreset)], dtype=np.int64)


def obs_size(grid: int, view: int) -> int:
    """Length of one observation row."""
    return 9 if view == VIEW_LOCAL else 2 * grid * grid


def cell_to_grid(cell: int, size: int) -> int:
    """Flat grid index of a cell's square."""
    r, c = divmod(int(cell), size)
    return (2 * r + 1) * (2 * size + 1) + 2 * c + 1


def fast_entry(kernel, *args):
    """The compiled entry point of ``kernel`` for these argument types (skips type dispatch).

    Calling a numba dispatcher resolves every argument's type on each call (about a
    microsecond); the single env's step calls the entry point directly. Falls back to the
    dispatcher if the overload cannot be found.
    """
    signature = tuple(kernel.typeof_pyval(a) for a in args)
    kernel.compile(signature)
    try:
        return kernel.overloads[signature].entry_point
    except (KeyError, AttributeError):  # pragma: no cover - numba internals changed
        return kernel


@njit(cache=True, inline="always")
def _write_obs(out, code, wrow, p, size, grid, view):  # pragma: no cover - compiled
    """One observation row (see the module docstring)."""
    if view == VIEW_LOCAL:
        out[0] = 1.0
        out[1] = code & UP
        out[2] = 1.0
        out[3] = (code & LEFT) >> 3
        out[4] = 0.0
        out[5] = (code & RIGHT) >> 1
        out[6] = 1.0
        out[7] = (code & DOWN) >> 2
        out[8] = 1.0
    else:
        cells = grid * grid
        for k in range(cells):
            out[k] = wrow[k]
            out[cells + k] = 0.0
        r = p // size
        out[cells + (2 * r + 1) * grid + 2 * (p - r * size) + 1] = 1.0


@njit(cache=True)
def step_batch(actions, codes, walls, start, goal, pos, t, config, costs, obs, rewards, terminated, truncated, final_obs, final_t):  # pragma: no cover
    """Step every env in place.

    Writes every row of ``obs``, ``rewards``, ``terminated``, ``truncated``. With
    ``config[C_AUTORESET]`` a finished env's last observation goes to ``final_obs[i]``, its
    episode length to ``final_t[i]``, and it restarts at its start cell in the same step
    (``AutoresetMode.SAME_STEP``). Returns -1, or the index of the first action outside
    ``[0, 4)``, in which case nothing is stepped.
    """
    for i in range(actions.shape[0]):
        if actions[i] < 0 or actions[i] > 3:
            return i
    size = config[C_CELLS]
    grid = config[C_GRID]
    view = config[C_VIEW]
    horizon = config[C_HORIZON]
    autoreset = config[C_AUTORESET]
    deltas = np.empty(4, np.int64)
    deltas[0] = -size  # up
    deltas[1] = 1  # right
    deltas[2] = size  # down
    deltas[3] = -1  # left
    step_cost = costs[0]
    wall_penalty = costs[1]
    for i in range(actions.shape[0]):
        a = actions[i]
        crow = codes[i]
        p = pos[i]
        reward = -step_cost
        if (crow[p] >> a) & 1:
            reward -= wall_penalty
        else:
            p += deltas[a]
            pos[i] = p
        term = p == goal[i]
        if term:
            reward += 1.0
        steps = t[i] + 1
        trunc = (not term) and steps >= horizon
        rewards[i] = reward
        terminated[i] = term
        truncated[i] = trunc
        if autoreset and (term or trunc):
            _write_obs(final_obs[i], crow[p], walls[i], p, size, grid, view)
            final_t[i] = steps
            p = start[i]
            pos[i] = p
            steps = 0
        t[i] = steps
        _write_obs(obs[i], crow[p], walls[i], p, size, grid, view)
    return -1


@njit(cache=True)
def reset_batch(mask, codes, walls, start, pos, t, config, obs):  # pragma: no cover - compiled
    """Put the envs where ``mask`` is true back at their start and write their observations."""
    size = config[C_CELLS]
    grid = config[C_GRID]
    view = config[C_VIEW]
    for i in range(mask.shape[0]):
        if mask[i]:
            p = start[i]
            pos[i] = p
            t[i] = 0
            _write_obs(obs[i], codes[i, p], walls[i], p, size, grid, view)


def pack_task(task) -> tuple[np.ndarray, np.ndarray, int, int]:
    """``(codes row, walls row, start cell, goal cell)`` of a :class:`MazeTask`."""
    walls = task.walls()
    m = task.size
    centres = np.arange(1, 2 * m, 2)
    rows, cols = np.meshgrid(centres, centres, indexing="ij")
    codes = (
        walls[rows - 1, cols] * UP
        + walls[rows, cols + 1] * RIGHT
        + walls[rows + 1, cols] * DOWN
        + walls[rows, cols - 1] * LEFT
    ).astype(np.uint8)
    start = task.start[0] * m + task.start[1]
    goal = task.goal[0] * m + task.goal[1]
    return codes.ravel(), walls.ravel().astype(np.uint8), start, goal
