"""The maze rules: numba kernels over a batch of mazes (imported lazily, by the envs only).

:class:`~krazy_gym.maze.env.MazeEnv` runs these kernels with a batch of one and
:class:`~krazy_gym.maze.vector.MazeVectorEnv` with a batch of N, so both follow the same rules
by construction.

Batch layout (one row per env; ``G = 2m + 1``, positions are flat grid indices ``r * G + c``):

* ``walls[N, G*G]`` (uint8): 1 = wall.
* ``start[N]``, ``goal[N]`` (int32): grid index of the start and goal cells.
* ``pos[N]``, ``t[N]`` (int32): agent position and steps taken in the running episode.
* ``config`` (int64): ``[G, view, horizon, autoreset]``; ``costs`` (float64):
  ``[step_cost, wall_penalty]``.
* outputs: ``obs[N, D]`` (float32), ``rewards[N]`` (float64), ``terminated[N]``,
  ``truncated[N]`` (bool), and for autoreset ``final_obs[N, D]``, ``final_t[N]``.

Rules of one step: action ``a`` (0 up, 1 right, 2 down, 3 left) looks at the wall slot next to
the agent; if it is open the agent moves two grid positions (to the next cell), otherwise it
stays and pays ``wall_penalty``. Every step pays ``step_cost`` (``1/H``). Reaching the goal
cell adds +1 and terminates; ``t >= horizon`` truncates.

Observations (float32 rows): local view = the 3x3 grid patch around the agent (1 = wall),
row-major; global view = the whole grid (``G*G`` wall flags) followed by a ``G*G`` one-hot
agent channel.
"""

from __future__ import annotations

import numpy as np
from numba import njit

VIEW_LOCAL, VIEW_GLOBAL = 0, 1
C_GRID, C_VIEW, C_HORIZON, C_AUTORESET = range(4)


def kernel_config(grid: int, view: int, horizon: int, autoreset: bool) -> np.ndarray:
    """The ``config`` array of the kernels."""
    return np.array([grid, view, horizon, int(autoreset)], dtype=np.int64)


def obs_size(grid: int, view: int) -> int:
    """Length of one observation row."""
    return 9 if view == VIEW_LOCAL else 2 * grid * grid


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
def _write_obs(out, wrow, p, grid, view):  # pragma: no cover - compiled
    """One observation row (see the module docstring); the local patch is unrolled."""
    if view == VIEW_LOCAL:
        b = p - grid
        out[0] = wrow[b - 1]
        out[1] = wrow[b]
        out[2] = wrow[b + 1]
        out[3] = wrow[p - 1]
        out[4] = wrow[p]
        out[5] = wrow[p + 1]
        b = p + grid
        out[6] = wrow[b - 1]
        out[7] = wrow[b]
        out[8] = wrow[b + 1]
    else:
        cells = grid * grid
        for k in range(cells):
            out[k] = wrow[k]
            out[cells + k] = 0.0
        out[cells + p] = 1.0


@njit(cache=True)
def step_batch(actions, walls, start, goal, pos, t, config, costs, obs, rewards, terminated, truncated, final_obs, final_t):  # pragma: no cover
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
    grid = config[C_GRID]
    view = config[C_VIEW]
    horizon = config[C_HORIZON]
    autoreset = config[C_AUTORESET]
    offsets = np.empty(4, np.int64)
    offsets[0] = -grid  # up
    offsets[1] = 1  # right
    offsets[2] = grid  # down
    offsets[3] = -1  # left
    step_cost = costs[0]
    wall_penalty = costs[1]
    for i in range(actions.shape[0]):
        off = offsets[actions[i]]
        wrow = walls[i]
        p = pos[i]
        reward = -step_cost
        if wrow[p + off]:
            reward -= wall_penalty
        else:
            p += 2 * off
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
            _write_obs(final_obs[i], wrow, p, grid, view)
            final_t[i] = steps
            p = start[i]
            pos[i] = p
            steps = 0
        t[i] = steps
        _write_obs(obs[i], wrow, p, grid, view)
    return -1


@njit(cache=True)
def reset_batch(mask, walls, start, pos, t, config, obs):  # pragma: no cover - compiled
    """Put the envs where ``mask`` is true back at their start and write their observations."""
    grid = config[C_GRID]
    view = config[C_VIEW]
    for i in range(mask.shape[0]):
        if mask[i]:
            pos[i] = start[i]
            t[i] = 0
            _write_obs(obs[i], walls[i], start[i], grid, view)


def pack_task(task) -> tuple[np.ndarray, int, int]:
    """``(walls row (uint8), start index, goal index)`` of a :class:`MazeTask`."""
    walls = task.walls()
    grid = walls.shape[0]
    start = (2 * task.start[0] + 1) * grid + 2 * task.start[1] + 1
    goal = (2 * task.goal[0] + 1) * grid + 2 * task.goal[1] + 1
    return walls.ravel().astype(np.uint8), start, goal
