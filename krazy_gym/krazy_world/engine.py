"""The Krazy World rules engine: numba kernels over a batch of boards.

The rules are written once, here. :class:`~krazy_gym.krazy_world.env.KrazyWorldEnv` runs them
with a batch of one and :class:`~krazy_gym.krazy_world.vector.KrazyWorldVectorEnv` with a
batch of N; the board generator's reachability search uses the same move function
(:func:`resolve_move`). Importing this module imports numba (and loads or compiles the
cached kernels), so only the env modules and the generator import it, lazily.

Boards are stored *padded*: a ``(size+2) x (size+2)`` grid whose border cells hold the tile
``OUTSIDE``, so a move or an observation window never needs a bounds check. Cells are flat
indices into that grid; an action is a unit step (``sign(dr)*W + sign(dc)``, ``W = size+2``)
repeated ``max(|dr|, |dc|)`` times.

Batch layout (one row per env, ``int32`` unless said otherwise):

* ``params[N, HEADER]``: the task's small numbers, packed by :func:`pack_task`: start cell,
  energy (-1 = unlimited), energy refill, number of goals, each action's unit step and repeat
  count, the colour channel of each tile type (``OUTSIDE`` -> the outside channel). Read on
  every step, so kept small (96 bytes per env).
* ``layout[N, 2*W*W]`` (int16): the initial padded cells (as in ``board``), then the
  teleporter partner of each cell (-1 for none). Read only at resets and teleports.
* ``death_reward[N]`` (float64).
* ``board[N, W*W]`` (uint8): the cells of the running episode, each ``tile | channel << 4``
  (the tile type, and the observation channel its colour maps to, so that an observation
  reads one byte per cell); collected goals, keys and energy tiles and an opened lock become
  normal cells.
* ``state[N, STATE_SIZE]``: agent cell, energy, key held, the episode counters reported in
  ``info`` (goals, deaths, keys, teleports, tile types visited) and the step count.

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
STATE_SIZE = 10
OUTSIDE = NUM_TILE_TYPES  # the tile code of the padding around the board
#: the ``info`` keys (the order of the kernels' ``infos[slot, key, env]``) and their state columns
INFO_KEYS: tuple[str, ...] = ("goals", "deaths", "tile_types_visited", "keys", "teleports")
INFO_COLUMNS: tuple[int, ...] = (S_GOALS, S_DEATHS, S_NVISITED, S_KEYS, S_TELEPORTS)
NUM_INFO = len(INFO_KEYS)

EV_NONE, EV_GOAL, EV_DEATH, EV_KEY, EV_ENERGY, EV_TELEPORT = range(6)
VIEW_LOCAL, VIEW_GLOBAL = 0, 1
MODE_ONEHOT, MODE_INDEX = 0, 1
TILE_BITS = 4  # board cells: tile type in the low bits, observation channel above
TILE_MASK = (1 << TILE_BITS) - 1
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


def padded_layout(size: int, tiles: np.ndarray, partner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat padded tiles (``OUTSIDE`` border) and teleporter partners (padded indices, -1 none).

    Args:
        tiles: ``(size, size)`` tile types; partner: flat unpadded partner cell per cell.
    """
    w = size + 2
    board = np.full((w, w), OUTSIDE, dtype=np.int32)
    board[1:-1, 1:-1] = tiles
    pad_index = (np.arange(size)[:, None] + 1) * w + np.arange(size)[None, :] + 1
    pad_index = pad_index.ravel()
    padded_partner = np.full(w * w, -1, dtype=np.int32)
    has = partner >= 0
    padded_partner[pad_index[has]] = pad_index[partner[has]]
    return board.ravel(), padded_partner


def padded_cell(size: int, row: int, col: int) -> int:
    """Flat padded index of board cell ``(row, col)``."""
    return (row + 1) * (size + 2) + col + 1


def unpadded(size: int, cell: int) -> tuple[int, int]:
    """``(row, col)`` on the board of a flat padded index."""
    r, c = divmod(int(cell), size + 2)
    return r - 1, c - 1


def unpad_board(size: int, board_row: np.ndarray) -> np.ndarray:
    """``(size, size)`` tile types (a new array) from a flat padded board row (see ``board``)."""
    return np.asarray(board_row).reshape(size + 2, size + 2)[1:-1, 1:-1] & TILE_MASK


def move_table(size: int, moves) -> np.ndarray:
    """``[unit step, repeats]`` of each action on the padded grid, flattened (8 values)."""
    w = size + 2
    table = []
    for dr, dc in moves:
        table += [int(np.sign(dr)) * w + int(np.sign(dc)), max(abs(dr), abs(dc))]
    return np.asarray(table, dtype=np.int32)


def pack_task(task: KrazyWorldTask) -> tuple[np.ndarray, np.ndarray, float]:
    """The ``params`` row, ``layout`` row and death reward of one task (see the module docstring)."""
    size = task.size
    tiles = task.tiles_array()
    board, partner = padded_layout(size, tiles, task.partner_array())
    row = np.zeros(HEADER, dtype=np.int32)
    row[P_START] = padded_cell(size, *task.start)
    row[P_ENERGY] = -1 if task.energy is None else task.energy
    row[P_REFILL] = task.energy_replenish
    row[P_GOALS] = int(np.count_nonzero(tiles == GOAL))
    row[P_MOVES : P_MOVES + 8] = move_table(size, task.moves)
    row[P_COLOURS : P_COLOURS + NUM_TILE_TYPES] = task.colours
    row[P_COLOURS + OUTSIDE] = EXTRA_CHANNEL
    cells = board | (row[P_COLOURS + board] << TILE_BITS)  # as the engine's ``board``
    layout = np.concatenate([cells, partner]).astype(np.int16)
    return row, layout, float(task.death_reward)


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
def resolve_move(board, b, partner, p, poff, pos, unit, repeats, has_key):  # pragma: no cover
    """Where one action from padded cell ``pos`` takes the agent; the board is not modified.

    ``board[b, :]`` are the current padded cells (tile type in the low ``TILE_BITS`` bits),
    ``partner[p, poff + cell]`` the teleporter partner of a cell; the action is ``repeats``
    unit steps of ``unit``. Returns
    ``(cell, event, opened_lock_cell, visited_type_mask)``: where the agent ends, the effect
    of that cell (``EV_*``), the lock opened on the way (-1 if none; the key is then used up)
    and a bit mask of the tile types the agent stood on.
    """
    lock_cell = -1
    visited = 0
    cur = pos
    for _ in range(repeats):
        nxt = cur + unit
        t = board[b, nxt] & TILE_MASK
        if t == WALL or t == OUTSIDE:
            break
        if t == LOCK:
            if has_key == 0:
                break
            has_key = 0
            lock_cell = nxt
            visited |= 1 << LOCK
        cur = nxt
    if cur == pos:
        return pos, EV_NONE, -1, 0
    while True:
        if cur == lock_cell:  # opened on the way in: now a normal cell
            return cur, EV_NONE, lock_cell, visited
        t = board[b, cur] & TILE_MASK
        visited |= 1 << t
        if t == NORMAL:
            return cur, EV_NONE, lock_cell, visited
        if t == ICE:
            nxt = cur + unit
            nt = board[b, nxt] & TILE_MASK
            if nt == WALL or nt == OUTSIDE:
                return cur, EV_NONE, lock_cell, visited
            if nt == LOCK:
                if has_key == 0:
                    return cur, EV_NONE, lock_cell, visited
                has_key = 0
                lock_cell = nxt
                visited |= 1 << LOCK
            cur = nxt
            continue
        if t == GOAL:
            return cur, EV_GOAL, lock_cell, visited
        if t == DEATH:
            return cur, EV_DEATH, lock_cell, visited
        if t == TELEPORTER:
            return partner[p, poff + cur], EV_TELEPORT, lock_cell, visited
        if t == KEY:
            return cur, EV_KEY, lock_cell, visited
        if t == ENERGY:
            return cur, EV_ENERGY, lock_cell, visited
        return cur, EV_NONE, lock_cell, visited


@njit(inline="always", **_JIT)
def _popcount(x):  # pragma: no cover - compiled
    n = 0
    while x:
        x &= x - 1
        n += 1
    return n


@njit(inline="always", **_JIT)
def _fast_move(i, action, params, board, state):  # pragma: no cover - compiled
    """The common case of a move, resolved without data-dependent branches.

    Random actions on random boards make branches on tiles mispredict often, so the common
    case, a move of one or two unit steps that ends on a normal cell (or is blocked at once)
    without reaching a lock, is computed with selects. Returns ``(slow, end, moved)``: if
    ``slow``, the move is not such a case (:func:`_step_general` must resolve it); else the
    agent ends on cell ``end``, a normal cell if ``moved``. Nothing is modified.
    """
    unit = params[i, P_MOVES + 2 * action]
    repeats = params[i, P_MOVES + 2 * action + 1]
    pos = state[i, S_POS]
    n1 = pos + unit
    t1 = board[i, n1] & TILE_MASK
    b1 = (t1 == WALL) | (t1 == OUTSIDE)
    two = (repeats == 2) & ~b1  # a second unit step to try (from a cell inside the board)
    n2 = n1 + unit if two else n1
    t2 = board[i, n2] & TILE_MASK
    b2 = (t2 == WALL) | (t2 == OUTSIDE)  # true when b1 (then n2 = n1)
    end = pos if b1 else (n1 if b2 else n2)
    t_end = t1 if b2 else t2
    slow = (repeats > 2) | (t1 == LOCK) | (two & (t2 == LOCK)) | (~b1 & (t_end != NORMAL))
    return slow, end, ~b1


@njit(inline="always", **_JIT)
def _visit_normal(i, state):  # pragma: no cover - compiled
    """Count the normal tile type as visited (already counted in every episode: it starts on a
    normal cell; kept for boards that would not)."""
    old = state[i, S_VISITED]
    if old & (1 << NORMAL) == 0:
        mask = old | (1 << NORMAL)
        state[i, S_VISITED] = mask
        state[i, S_NVISITED] = _popcount(mask)


@njit(inline="always", **_JIT)
def _step_one(i, action, params, layout, board, state, death_reward, cells):  # pragma: no cover
    """Apply one action to env ``i`` (``cells`` = padded cells); return ``(reward, terminated)``.

    :func:`_fast_move` resolves the common case; :func:`_step_general` every other.
    """
    slow, end, moved = _fast_move(i, action, params, board, state)
    if slow:
        return _step_general(i, action, params, layout, board, state, death_reward, cells)
    cap = params[i, P_ENERGY]
    energy = state[i, S_ENERGY]
    limited = cap >= 0
    energy -= limited & (energy > 0)
    state[i, S_POS] = end
    state[i, S_ENERGY] = energy
    state[i, S_T] += 1
    if moved:
        _visit_normal(i, state)
    return 0.0, limited & (energy <= 0)


@njit(inline="always", **_JIT)
def _step_general(i, action, params, layout, board, state, death_reward, cells):  # pragma: no cover
    """:func:`_step_one` for any move (the rules of the module docstring, step by step)."""
    unit = params[i, P_MOVES + 2 * action]
    repeats = params[i, P_MOVES + 2 * action + 1]
    cap = params[i, P_ENERGY]
    limited = cap >= 0
    energy = state[i, S_ENERGY]
    if limited and energy > 0:
        energy -= 1
    pos, event, lock_cell, visited = resolve_move(
        board, i, layout, i, cells, state[i, S_POS], unit, repeats, state[i, S_KEY]
    )
    reward = 0.0
    terminated = False
    normal = NORMAL | (params[i, P_COLOURS + NORMAL] << TILE_BITS)  # a normal cell of this board
    if lock_cell >= 0:
        board[i, lock_cell] = normal
        state[i, S_KEY] = 0
    state[i, S_POS] = pos
    if event != EV_NONE:
        if event == EV_GOAL:
            reward = 1.0
            board[i, pos] = normal
            goals = state[i, S_GOALS] + 1
            state[i, S_GOALS] = goals
            if goals >= params[i, P_GOALS]:
                terminated = True
        elif event == EV_DEATH:
            reward = death_reward[i]
            state[i, S_DEATHS] += 1
            terminated = True
        elif event == EV_KEY:
            board[i, pos] = normal
            state[i, S_KEY] = 1
            state[i, S_KEYS] += 1
        elif event == EV_ENERGY:
            board[i, pos] = normal
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
def _reset_one(i, params, layout, board, state, cells):  # pragma: no cover - compiled
    for k in range(cells):
        board[i, k] = layout[i, k]
    for k in range(STATE_SIZE):
        state[i, k] = 0
    start = params[i, P_START]
    state[i, S_POS] = start
    state[i, S_ENERGY] = max(params[i, P_ENERGY], 0)
    state[i, S_VISITED] = 1 << (board[i, start] & TILE_MASK)
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
    pos = state[i, S_POS]
    w = size + 2
    if view == VIEW_LOCAL:
        corner = pos - w - 1
        if mode == MODE_ONEHOT:
            for k in range(9 * NUM_CHANNELS):
                out[i, k] = 0
            for dr in range(3):
                base = corner + dr * w
                for dc in range(3):
                    out[i, (dr * 3 + dc) * NUM_CHANNELS + (board[i, base + dc] >> TILE_BITS)] = 1
            tail = 9 * NUM_CHANNELS
        else:
            for dr in range(3):
                base = corner + dr * w
                for dc in range(3):
                    out[i, dr * 3 + dc] = board[i, base + dc] >> TILE_BITS
            tail = 9
    else:
        cells = size * size
        agent = (pos // w - 1) * size + pos % w - 1
        if mode == MODE_ONEHOT:
            for k in range(cells * NUM_CHANNELS):
                out[i, k] = 0
            for r in range(size):
                for c in range(size):
                    ch = board[i, (r + 1) * w + c + 1] >> TILE_BITS
                    out[i, (r * size + c) * NUM_CHANNELS + ch] = 1
            out[i, agent * NUM_CHANNELS + EXTRA_CHANNEL] = 1
            tail = cells * NUM_CHANNELS
        else:
            for r in range(size):
                for c in range(size):
                    out[i, r * size + c] = board[i, (r + 1) * w + c + 1] >> TILE_BITS
            out[i, cells] = agent
            tail = cells + 1
    if mode == MODE_ONEHOT:
        out[i, tail] = state[i, S_ENERGY] / cap if cap > 0 else 1.0
    else:
        out[i, tail] = state[i, S_ENERGY] if cap >= 0 else UNLIMITED_INDEX
    out[i, tail + 1] = state[i, S_KEY]


# -- batch kernels -----------------------------------------------------------------------------
@njit(**_JIT)
def step_batch(actions, params, layout, board, state, death_reward, config, obs, rewards, dones, final_obs, infos):  # pragma: no cover
    """Step every env of the batch in place; return the number of finished envs (>= 0).

    If an action is invalid, nothing changes and the result is ``-1 - i`` for the first such
    env ``i``.

    ``config = [size, view, mode, horizon, autoreset]``. ``horizon > 0`` truncates an episode
    after that many steps. Outputs: ``obs[i]``, ``rewards[i]``, ``dones[:, i]`` = (terminated,
    truncated, either), ``infos[0, :, i]`` = the ``INFO_KEYS`` counters. With ``autoreset`` a
    finished env's last observation goes to ``final_obs[i]`` and its last counters to
    ``infos[1, :, i]`` (zeros for unfinished envs; their ``final_obs`` rows are left alone),
    and the env is reset in the same step (gymnasium's ``AutoresetMode.SAME_STEP``).
    """
    n = actions.shape[0]
    for i in range(n):
        if actions[i] < 0 or actions[i] >= 4:
            return -1 - i
    size = config[0]
    view = config[1]
    mode = config[2]
    horizon = config[3]
    autoreset = config[4]
    # one loop per (view, mode), with both as constants: about 25% faster than one loop
    # that tests them for every env
    args = (actions, params, layout, board, state, death_reward, obs, rewards, dones, final_obs, infos)
    if view == VIEW_LOCAL:
        if mode == MODE_ONEHOT:
            return _step_loop(args, size, VIEW_LOCAL, MODE_ONEHOT, horizon, autoreset)
        return _step_loop(args, size, VIEW_LOCAL, MODE_INDEX, horizon, autoreset)
    if mode == MODE_ONEHOT:
        return _step_loop(args, size, VIEW_GLOBAL, MODE_ONEHOT, horizon, autoreset)
    return _step_loop(args, size, VIEW_GLOBAL, MODE_INDEX, horizon, autoreset)


_BLOCK = 256  # envs per block of the batch step (its rows stay in the L1/L2 cache between passes)


@njit(inline="always", **_JIT)
def _step_loop(args, size, view, mode, horizon, autoreset):  # pragma: no cover - compiled
    """The batch step, in blocks of envs and passes over each block.

    1. every env: the common move (:func:`_fast_move`) with selects, no branch on the
       board; envs whose move is not the common case are listed (without a branch);
    2. the listed envs: the general rules;
    3. the finished envs: final observation and counters, reset;
    4. every env: observation and counters.
    The envs are independent, so this gives what stepping them one by one gives, with far
    fewer mispredicted branches.
    """
    actions, params, layout, board, state, death_reward, obs, rewards, dones, final_obs, infos = args
    n = actions.shape[0]
    cells = board.shape[1]
    if autoreset:
        for k in range(NUM_INFO):
            for i in range(n):
                infos[1, k, i] = 0
    slow_list = np.empty(_BLOCK, dtype=np.int64)
    done_list = np.empty(_BLOCK, dtype=np.int64)
    finished = 0
    for first in range(0, n, _BLOCK):
        last = min(first + _BLOCK, n)
        n_slow = 0
        n_done = 0
        for i in range(first, last):
            slow, end, moved = _fast_move(i, actions[i], params, board, state)
            fast = ~slow
            cap = params[i, P_ENERGY]
            energy = state[i, S_ENERGY]
            limited = cap >= 0
            new_energy = energy - (limited & (energy > 0))
            t = state[i, S_T] + fast
            state[i, S_POS] = end if fast else state[i, S_POS]
            state[i, S_ENERGY] = new_energy if fast else energy
            state[i, S_T] = t
            if fast & moved:
                _visit_normal(i, state)
            term = fast & limited & (new_energy <= 0)
            trunc = fast & (horizon > 0) & (t >= horizon)
            done = term | trunc
            rewards[i] = 0.0
            dones[0, i] = term
            dones[1, i] = trunc
            dones[2, i] = done
            slow_list[n_slow] = i
            n_slow += slow
            done_list[n_done] = i
            n_done += done
        for k in range(n_slow):
            i = slow_list[k]
            reward, term = _step_general(i, actions[i], params, layout, board, state, death_reward, cells)
            trunc = horizon > 0 and state[i, S_T] >= horizon
            done = term or trunc
            rewards[i] = reward
            dones[0, i] = term
            dones[1, i] = trunc
            dones[2, i] = done
            done_list[n_done] = i
            n_done += done
        finished += n_done
        if autoreset:
            for k in range(n_done):
                i = done_list[k]
                _write_obs(final_obs, params, board, state, i, size, view, mode)
                _write_info(infos, 1, i, state)
                _reset_one(i, params, layout, board, state, cells)
        for i in range(first, last):
            _write_obs(obs, params, board, state, i, size, view, mode)
            _write_info(infos, 0, i, state)
    return finished


@njit(**_JIT)
def reset_batch(mask, params, layout, board, state, config, obs, infos):  # pragma: no cover
    """Reset the envs where ``mask`` is true; write every env's observation and ``infos[0]``."""
    size = config[0]
    view = config[1]
    mode = config[2]
    cells = board.shape[1]
    for i in range(mask.shape[0]):
        if mask[i]:
            _reset_one(i, params, layout, board, state, cells)
        _write_obs(obs, params, board, state, i, size, view, mode)
        _write_info(infos, 0, i, state)


# -- single-env kernels -------------------------------------------------------------------------
# The single env calls these through their compiled entry points (see ``fast_entry``): fewer
# arguments to convert than the batch kernels, and the reward, termination and ``info``
# counters come back as one tuple of Python numbers.
@njit(**_JIT)
def step_single(params, layout, board, state, death_reward, obs, size, view, mode, action):  # pragma: no cover
    """Step env 0 of batch-of-one arrays (no horizon, no autoreset; ``action`` already checked).

    Writes ``obs[0]``; returns ``(reward, terminated, *counters)`` (counters in ``INFO_KEYS``
    order).
    """
    reward, term = _step_one(0, action, params, layout, board, state, death_reward, board.shape[1])
    if view == VIEW_LOCAL:
        if mode == MODE_ONEHOT:
            _write_obs(obs, params, board, state, 0, size, VIEW_LOCAL, MODE_ONEHOT)
        else:
            _write_obs(obs, params, board, state, 0, size, VIEW_LOCAL, MODE_INDEX)
    elif mode == MODE_ONEHOT:
        _write_obs(obs, params, board, state, 0, size, VIEW_GLOBAL, MODE_ONEHOT)
    else:
        _write_obs(obs, params, board, state, 0, size, VIEW_GLOBAL, MODE_INDEX)
    return (
        reward, term, state[0, S_GOALS], state[0, S_DEATHS], state[0, S_NVISITED], state[0, S_KEYS],
        state[0, S_TELEPORTS],
    )  # fmt: skip


@njit(**_JIT)
def reset_single(params, layout, board, state, obs, size, view, mode):  # pragma: no cover
    """Reset env 0 of batch-of-one arrays and write ``obs[0]``; return the counters (all start values)."""
    _reset_one(0, params, layout, board, state, board.shape[1])
    _write_obs(obs, params, board, state, 0, size, view, mode)
    return state[0, S_GOALS], state[0, S_DEATHS], state[0, S_NVISITED], state[0, S_KEYS], state[0, S_TELEPORTS]


# -- reachability (used by the board generator) ------------------------------------------------
@njit(**_JIT)
def _search(board, partner, moves, start, energy):  # pragma: no cover - compiled
    cells = board.shape[0]
    boards = np.empty((3, cells), dtype=np.int32)
    for k in range(cells):
        t = board[k]
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
            pos, event, lock_cell, _ = resolve_move(
                boards, ks, partner2d, 0, 0, cell, moves[2 * a], moves[2 * a + 1], 1 if ks == 1 else 0
            )
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


def goal_reachable(
    size: int, tiles: np.ndarray, partner: np.ndarray, moves, start: tuple[int, int], energy: int | None
) -> bool:
    """True if some goal can be reached from ``start`` by the task's own moves.

    Breadth-first search over ``(cell, key state)`` (0: key on the board, 1: key held,
    2: lock opened) with :func:`resolve_move`; death ends a path. With limited ``energy`` a goal
    must be reached within ``energy`` actions without counting refills (energy tiles act as
    normal tiles), so the answer is conservative: True means reachable for certain.

    Args:
        tiles: ``(size, size)`` tile types; partner: flat unpadded partner per cell (-1 none);
        moves: the four ``(dr, dc)``; energy: None for unlimited.
    """
    board, padded_partner = padded_layout(size, tiles, partner)
    return bool(
        _search(
            board, padded_partner, move_table(size, moves), padded_cell(size, *start),
            -1 if energy is None else energy,
        )  # fmt: skip
    )


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
