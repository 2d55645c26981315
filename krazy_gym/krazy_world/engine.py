"""The Krazy World rules engine: numba kernels over a batch of boards.

The rules are written once, here. :class:`~krazy_gym.krazy_world.env.KrazyWorldEnv` runs them
with a batch of one and :class:`~krazy_gym.krazy_world.vector.KrazyWorldVectorEnv` with a
batch of N; the board generator's reachability search uses the same move function
(:func:`resolve_move`). Importing this module imports numba (and loads or compiles the
cached kernels), so only the env modules and the generator import it, lazily.

Batch layout (one row per env, all ``int32`` unless said otherwise):

* ``params[N, HEADER + 2*cells]``: the task, packed by :func:`pack_task`: start cell, energy
  (-1 = unlimited), energy refill, number of goals, the 4 action displacements, the colour
  channel of each tile type, then the initial tiles and the teleporter partner of each cell.
* ``death_reward[N]`` (float64).
* ``board[N, cells]`` (uint8): the tiles of the running episode (collected goals, keys and
  energy tiles and an opened lock become normal).
* ``state[N, STATE_SIZE]``: agent cell, energy, key held, and the episode counters reported
  in ``info`` (goals, deaths, keys, teleports, tile types visited) and the step count.

Rules of one step (see the README's rules table): the action's displacement ``(dr, dc)`` is
walked in unit steps ``(sign dr, sign dc)``; a step into a wall, a closed lock or off the
board ends the move where the agent is. A lock entered or passed with a key opens (becomes
normal) and uses the key. Only the cell where the move ends takes effect: ice slides the agent
on in the unit direction until it leaves the ice or is blocked (then the new cell takes
effect); a goal gives +1 once per episode; death gives ``death_reward`` and terminates; a
teleporter moves the agent to its partner; a key is picked up; an energy tile adds the refill
(capped at the starting energy). Every action costs one unit of energy (slides and teleports
cost nothing); the episode terminates when all goals are collected or energy reaches zero.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from krazy_gym.krazy_world.task import (
    DEATH,
    ENERGY,
    EXTRA_CHANNEL,
    GOAL,
    ICE,
    KEY,
    LOCK,
    NORMAL,
    NUM_CHANNELS,
    NUM_TILE_TYPES,
    TELEPORTER,
    WALL,
    KrazyWorldTask,
)

# -- packed layout ---------------------------------------------------------------------------
P_START, P_ENERGY, P_REFILL, P_GOALS, P_MOVES, P_COLOURS = 0, 1, 2, 3, 4, 12
HEADER = 24
S_POS, S_ENERGY, S_KEY, S_GOALS, S_DEATHS, S_KEYS, S_TELEPORTS, S_VISITED, S_NVISITED, S_T = range(10)
S_ROW, S_COL = 10, 11
STATE_SIZE = 12
#: the ``info`` keys, in the order of the kernels' ``infos[slot, key, env]`` output
INFO_KEYS: tuple[str, ...] = ("goals", "deaths", "tile_types_visited", "keys", "teleports")
INFO_COLUMNS: tuple[int, ...] = (S_GOALS, S_DEATHS, S_NVISITED, S_KEYS, S_TELEPORTS)
NUM_INFO = len(INFO_KEYS)

EV_NONE, EV_GOAL, EV_DEATH, EV_KEY, EV_ENERGY, EV_TELEPORT = range(6)
VIEW_LOCAL, VIEW_GLOBAL = 0, 1
MODE_ONEHOT, MODE_INDEX = 0, 1
UNLIMITED_INDEX = 254  # energy entry of index observations when energy is unlimited (= MAX_ENERGY)
C_SIZE, C_VIEW, C_MODE, C_HORIZON, C_AUTORESET = range(5)


def kernel_config(size: int, view: int, mode: int, horizon: int = 0, autoreset: bool = False) -> np.ndarray:
    """The ``config`` array of the batch kernels."""
    return np.array([size, view, mode, horizon, int(autoreset)], dtype=np.int64)


def fast_entry(kernel, *args):
    """A direct entry to ``kernel``'s compiled version for these argument types.

    Calling a numba dispatcher resolves the types of every argument on each call (about a
    microsecond here); the compiled entry point skips that, which matters for the single
    env's step. Falls back to the dispatcher if the overload cannot be found.
    """
    signature = tuple(kernel.typeof_pyval(a) for a in args)
    kernel.compile(signature)  # compile, or load from the cache, without running
    try:
        return kernel.overloads[signature].entry_point
    except (KeyError, AttributeError):  # pragma: no cover - numba internals changed
        return kernel


def pack_task(task: KrazyWorldTask) -> tuple[np.ndarray, float]:
    """The ``params`` row and death reward of one task (see the module docstring)."""
    cells = task.size * task.size
    row = np.zeros(HEADER + 2 * cells, dtype=np.int32)
    row[P_START] = task.start[0] * task.size + task.start[1]
    row[P_ENERGY] = -1 if task.energy is None else task.energy
    row[P_REFILL] = task.energy_replenish
    tiles = task.tiles_array().ravel()
    row[P_GOALS] = int(np.count_nonzero(tiles == GOAL))
    row[P_MOVES : P_MOVES + 8] = np.asarray(task.moves, dtype=np.int32).ravel()
    row[P_COLOURS : P_COLOURS + NUM_TILE_TYPES] = task.colours
    row[HEADER : HEADER + cells] = tiles
    row[HEADER + cells :] = task.partner_array()
    return row, float(task.death_reward)


def obs_size(size: int, view: int, mode: int) -> int:
    """Length of the flat observation vector for a board size, view and mode."""
    cells = 9 if view == VIEW_LOCAL else size * size
    if mode == MODE_ONEHOT:
        return cells * NUM_CHANNELS + 2
    return cells + (2 if view == VIEW_LOCAL else 3)


# -- the move ----------------------------------------------------------------------------------
# The kernels index the 2-D batch arrays directly (``board[b, cell]``) instead of taking
# per-env row views (a view costs a reference-count update), keep the agent's row and column
# (no divisions on the hot path) and use numpy's error model (no zero-division checks).
_JIT = {"cache": True, "error_model": "numpy"}


@njit(inline="always", **_JIT)
def resolve_move(board, b, partner, p, poff, size, r, c, dr, dc, has_key):  # pragma: no cover
    """Where one action from ``(r, c)`` takes the agent; the board is not modified.

    ``board[b, :]`` are the current tiles, ``partner[p, poff + cell]`` the teleporter partner
    of a cell. Returns ``(row, col, event, opened_lock_cell, visited_type_mask)``: where the
    agent ends, the effect of that cell (``EV_*``), the lock opened on the way (-1 if none;
    the key is then used up) and a bit mask of the tile types the agent stood on.
    """
    n = max(abs(dr), abs(dc))
    ur = (dr > 0) - (dr < 0)
    uc = (dc > 0) - (dc < 0)
    lock_cell = -1
    visited = 0
    moved = False
    for _ in range(n):
        nr = r + ur
        nc = c + uc
        if nr < 0 or nr >= size or nc < 0 or nc >= size:
            break
        t = board[b, nr * size + nc]
        if t == WALL:
            break
        if t == LOCK:
            if has_key == 0:
                break
            has_key = 0
            lock_cell = nr * size + nc
            visited |= 1 << LOCK
        r = nr
        c = nc
        moved = True
    if not moved:
        return r, c, EV_NONE, -1, 0
    while True:
        cell = r * size + c
        if cell == lock_cell:  # opened on the way in: now a normal cell
            return r, c, EV_NONE, lock_cell, visited
        t = board[b, cell]
        visited |= 1 << t
        if t == NORMAL:
            return r, c, EV_NONE, lock_cell, visited
        if t == ICE:
            nr = r + ur
            nc = c + uc
            if nr < 0 or nr >= size or nc < 0 or nc >= size:
                return r, c, EV_NONE, lock_cell, visited
            nt = board[b, nr * size + nc]
            if nt == WALL:
                return r, c, EV_NONE, lock_cell, visited
            if nt == LOCK:
                if has_key == 0:
                    return r, c, EV_NONE, lock_cell, visited
                has_key = 0
                lock_cell = nr * size + nc
                visited |= 1 << LOCK
            r = nr
            c = nc
            continue
        if t == GOAL:
            return r, c, EV_GOAL, lock_cell, visited
        if t == DEATH:
            return r, c, EV_DEATH, lock_cell, visited
        if t == TELEPORTER:
            dest = partner[p, poff + cell]
            return dest // size, dest % size, EV_TELEPORT, lock_cell, visited
        if t == KEY:
            return r, c, EV_KEY, lock_cell, visited
        if t == ENERGY:
            return r, c, EV_ENERGY, lock_cell, visited
        return r, c, EV_NONE, lock_cell, visited


@njit(inline="always", **_JIT)
def _popcount(x):  # pragma: no cover - compiled
    n = 0
    while x:
        x &= x - 1
        n += 1
    return n


@njit(inline="always", **_JIT)
def _step_one(i, action, params, board, state, death_reward, size):  # pragma: no cover
    """Apply one action to env ``i``; return ``(reward, terminated)``."""
    dr = params[i, P_MOVES + 2 * action]
    dc = params[i, P_MOVES + 2 * action + 1]
    cap = params[i, P_ENERGY]
    limited = cap >= 0
    energy = state[i, S_ENERGY]
    if limited and energy > 0:
        energy -= 1
    r, c, event, lock_cell, visited = resolve_move(
        board, i, params, i, HEADER + size * size, size, state[i, S_ROW], state[i, S_COL], dr, dc,
        state[i, S_KEY],
    )  # fmt: skip
    pos = r * size + c
    reward = 0.0
    terminated = False
    if lock_cell >= 0:
        board[i, lock_cell] = NORMAL
        state[i, S_KEY] = 0
    state[i, S_POS] = pos
    state[i, S_ROW] = r
    state[i, S_COL] = c
    if event != EV_NONE:
        if event == EV_GOAL:
            reward = 1.0
            board[i, pos] = NORMAL
            goals = state[i, S_GOALS] + 1
            state[i, S_GOALS] = goals
            if goals >= params[i, P_GOALS]:
                terminated = True
        elif event == EV_DEATH:
            reward = death_reward[i]
            state[i, S_DEATHS] += 1
            terminated = True
        elif event == EV_KEY:
            board[i, pos] = NORMAL
            state[i, S_KEY] = 1
            state[i, S_KEYS] += 1
        elif event == EV_ENERGY:
            board[i, pos] = NORMAL
            if limited:
                energy = min(energy + params[i, P_REFILL], cap)
        else:  # EV_TELEPORT
            state[i, S_TELEPORTS] += 1
    if visited:
        old = state[i, S_VISITED]
        mask = old | visited
        if mask != old:
            state[i, S_VISITED] = mask
            state[i, S_NVISITED] = _popcount(mask)
    state[i, S_ENERGY] = energy
    if limited and energy <= 0:
        terminated = True
    state[i, S_T] += 1
    return reward, terminated


@njit(inline="always", **_JIT)
def _reset_one(i, params, board, state, size):  # pragma: no cover - compiled
    cells = size * size
    for k in range(cells):
        board[i, k] = params[i, HEADER + k]
    for k in range(STATE_SIZE):
        state[i, k] = 0
    start = params[i, P_START]
    state[i, S_POS] = start
    state[i, S_ROW] = start // size
    state[i, S_COL] = start % size
    state[i, S_ENERGY] = max(params[i, P_ENERGY], 0)
    state[i, S_VISITED] = 1 << board[i, start]
    state[i, S_NVISITED] = 1


@njit(inline="always", **_JIT)
def _write_info(infos, slot, i, state):  # pragma: no cover - compiled
    infos[slot, 0, i] = state[i, S_GOALS]
    infos[slot, 1, i] = state[i, S_DEATHS]
    infos[slot, 2, i] = state[i, S_NVISITED]
    infos[slot, 3, i] = state[i, S_KEYS]
    infos[slot, 4, i] = state[i, S_TELEPORTS]


@njit(inline="always", **_JIT)
def _write_obs(out, params, board, state, i, size, view, mode):  # pragma: no cover - compiled
    """Write env ``i``'s observation into row ``i`` of ``out`` (see ``obs_size``)."""
    cap = params[i, P_ENERGY]
    if view == VIEW_LOCAL:
        pr = state[i, S_ROW]
        pc = state[i, S_COL]
        if mode == MODE_ONEHOT:
            for k in range(9 * NUM_CHANNELS):
                out[i, k] = 0
        k = 0
        for dr in range(-1, 2):
            r = pr + dr
            for dc in range(-1, 2):
                c = pc + dc
                if r < 0 or r >= size or c < 0 or c >= size:
                    ch = EXTRA_CHANNEL
                else:
                    ch = params[i, P_COLOURS + board[i, r * size + c]]
                if mode == MODE_ONEHOT:
                    out[i, k * NUM_CHANNELS + ch] = 1
                else:
                    out[i, k] = ch
                k += 1
        tail = 9 * NUM_CHANNELS if mode == MODE_ONEHOT else 9
    else:
        cells = size * size
        pos = state[i, S_POS]
        if mode == MODE_ONEHOT:
            for k in range(cells * NUM_CHANNELS):
                out[i, k] = 0
            for k in range(cells):
                out[i, k * NUM_CHANNELS + params[i, P_COLOURS + board[i, k]]] = 1
            out[i, pos * NUM_CHANNELS + EXTRA_CHANNEL] = 1
            tail = cells * NUM_CHANNELS
        else:
            for k in range(cells):
                out[i, k] = params[i, P_COLOURS + board[i, k]]
            out[i, cells] = pos
            tail = cells + 1
    if mode == MODE_ONEHOT:
        out[i, tail] = state[i, S_ENERGY] / cap if cap > 0 else 1.0
    else:
        out[i, tail] = state[i, S_ENERGY] if cap >= 0 else UNLIMITED_INDEX
    out[i, tail + 1] = state[i, S_KEY]


# -- batch kernels -----------------------------------------------------------------------------
@njit(**_JIT)
def step_batch(actions, params, board, state, death_reward, config, obs, rewards, dones, final_obs, infos):  # pragma: no cover
    """Step every env of the batch in place; return -1, or the first env with an invalid action.

    ``config = [size, view, mode, horizon, autoreset]``. ``horizon > 0`` truncates an episode
    after that many steps. Outputs: ``obs[i]``, ``rewards[i]``, ``dones[0, i]`` (terminated),
    ``dones[1, i]`` (truncated), ``infos[0, :, i]`` (the ``INFO_KEYS`` counters). With
    ``autoreset`` a finished env's last observation goes to ``final_obs[i]`` and its last
    counters to ``infos[1, :, i]`` (zeros for unfinished envs), and the env is reset in the same
    step (gymnasium's ``AutoresetMode.SAME_STEP``). An invalid action changes nothing.
    """
    n = actions.shape[0]
    for i in range(n):
        if actions[i] < 0 or actions[i] >= 4:
            return i
    size = config[0]
    view = config[1]
    mode = config[2]
    horizon = config[3]
    autoreset = config[4]
    for i in range(n):
        reward, term = _step_one(i, actions[i], params, board, state, death_reward, size)
        trunc = horizon > 0 and state[i, S_T] >= horizon
        rewards[i] = reward
        dones[0, i] = term
        dones[1, i] = trunc
        if autoreset:
            if term or trunc:
                _write_obs(final_obs, params, board, state, i, size, view, mode)
                _write_info(infos, 1, i, state)
                _reset_one(i, params, board, state, size)
            else:
                for k in range(NUM_INFO):
                    infos[1, k, i] = 0
        _write_obs(obs, params, board, state, i, size, view, mode)
        _write_info(infos, 0, i, state)
    return -1


@njit(**_JIT)
def reset_batch(mask, params, board, state, config, obs, infos):  # pragma: no cover - compiled
    """Reset the envs where ``mask`` is true; write their observations and ``infos[0]``."""
    size = config[0]
    view = config[1]
    mode = config[2]
    for i in range(mask.shape[0]):
        if mask[i]:
            _reset_one(i, params, board, state, size)
            _write_obs(obs, params, board, state, i, size, view, mode)
            _write_info(infos, 0, i, state)


# -- reachability (used by the board generator) ------------------------------------------------
@njit(**_JIT)
def goal_reachable(tiles, partner, size, moves, start, energy):  # pragma: no cover - compiled
    """True if some goal can be reached from ``start`` by the task's own moves.

    Breadth-first search over ``(cell, key state)`` (0: key on the board, 1: key held,
    2: lock opened) with :func:`resolve_move`; death ends a path. With limited ``energy`` a goal
    must be reached within ``energy`` actions without counting refills (energy tiles act as
    normal tiles), so the answer is conservative: True means reachable for certain.
    """
    cells = size * size
    boards = np.empty((3, cells), dtype=np.int32)
    for k in range(cells):
        t = tiles[k]
        if t == ENERGY:
            t = NORMAL
        boards[0, k] = t
        boards[1, k] = NORMAL if t == KEY else t
        boards[2, k] = NORMAL if (t == KEY or t == LOCK) else t
    partner2d = partner.reshape(1, cells)
    dist = np.full(3 * cells, -1, dtype=np.int32)
    queue = np.empty(3 * cells, dtype=np.int32)
    head = 0
    tail = 1
    queue[0] = start * 3
    dist[start * 3] = 0
    while head < tail:
        s = queue[head]
        head += 1
        cell = s // 3
        ks = s - cell * 3
        if energy >= 0 and dist[s] >= energy:
            continue
        for a in range(4):
            r, c, event, lock_cell, _ = resolve_move(
                boards, ks, partner2d, 0, 0, size, cell // size, cell % size, moves[2 * a],
                moves[2 * a + 1], 1 if ks == 1 else 0,
            )  # fmt: skip
            pos = r * size + c
            if event == EV_GOAL:
                return True
            if event == EV_DEATH:
                continue
            nks = ks
            if event == EV_KEY:
                nks = 1
            if lock_cell >= 0:
                nks = 2
            ns = pos * 3 + nks
            if dist[ns] < 0:
                dist[ns] = dist[s] + 1
                queue[tail] = ns
                tail += 1
    return False


__all__ = [
    "EXTRA_CHANNEL",
    "INFO_COLUMNS",
    "INFO_KEYS",
    "NUM_CHANNELS",
    "goal_reachable",
    "obs_size",
    "pack_task",
    "reset_batch",
    "resolve_move",
    "step_batch",
]
