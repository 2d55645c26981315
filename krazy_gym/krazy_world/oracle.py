"""The oracle bound of a Krazy World task: the best return one episode can reach on the known MDP.

A task's MDP is deterministic and its start cell is fixed (``task.start``; a reset draws
nothing), so "the best an agent that knew the board and the rules could do in one episode of
``horizon`` steps" is one number per task, found here by exact search:

* **state**: the agent's cell, which goals are collected, which energy tiles are used, whether
  the key is taken / held and the lock opened, the energy left, and the steps left. Collected
  goals, keys, energy tiles and the opened lock are normal cells for the rest of the episode,
  so this is the whole state of the engine (its other counters only feed ``info``).
* **moves**: every state is expanded with the engine's own step,
  :func:`krazy_gym.krazy_world.engine._step_general` (ice slides, teleporters, keys and
  locks, energy refills capped at the start energy, death with ``death_reward``, termination
  when every goal is collected or energy runs out), on a board row rebuilt from the state, so
  the search cannot disagree with the env.
* **horizon**: an episode is truncated after ``horizon`` actions (the id's
  ``max_episode_steps``). Steps left are stored as ``min(steps left, energy + refill x energy
  tiles left)``: with limited energy the episode cannot outlast the second number, so states
  that differ only in steps beyond it have the same future (this merges almost all of the
  Medium and Hard presets' time dimension: their energy runs out long before the horizon).

Backward induction over the reachable (state, steps-left) pairs, in increasing order of steps
left (every action lowers it), gives the optimal value and, with the same successors, the
exact expected return of the uniform random policy (the harness's random agent plays one
uniform action per step, whatever it saw). :func:`solve` also returns one optimal action
sequence (no wasted moves before its last reward) that tests replay in ``gym.make``.

This module imports numba (through the engine); ``import krazy_gym`` does not import it.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from numba import njit, types
from numba.typed import Dict

from krazy_gym.krazy_world import engine as _eng
from krazy_gym.krazy_world.engine import (
    HEADER,
    P_ENERGY,
    P_REFILL,
    S_ENERGY,
    S_GOALS,
    S_KEY,
    S_POS,
    STATE_SIZE,
    TILE_MASK,
    _step_general,
    pack_task,
)
from krazy_gym.krazy_world.task import ENERGY, GOAL, KEY, LOCK, NORMAL, KrazyWorldTask

# key of a (state, steps-left) pair, an int64: steps left in the low 16 bits, then the cell,
# energy, key held / key taken / lock opened, one bit per goal and one per energy tile
_K_BITS, _POS_BITS, _E_BITS = 16, 9, 8
_POS_SHIFT = _K_BITS
_E_SHIFT = _POS_SHIFT + _POS_BITS
_HELD_SHIFT = _E_SHIFT + _E_BITS
_GOAL_SHIFT = _HELD_SHIFT + 3
#: goals + energy tiles that fit the 63-bit key
MAX_FLAGS = 63 - _GOAL_SHIFT
MAX_HORIZON = (1 << _K_BITS) - 1
_JIT = {"cache": True, "error_model": "numpy"}


@dataclasses.dataclass(frozen=True)
class OracleSolution:
    """What :func:`solve` found for one task and horizon.

    Attributes:
        value: the best return of one episode (the oracle bound).
        actions: one action sequence that reaches it, until the episode ends (terminated or
            truncated at the horizon).
        path_return: the return of ``actions`` summed step by step, as an env would (equals
            ``value`` up to float rounding; exactly when rewards are integers).
        goals: goals collected by ``actions``.
        random_value: the exact expected return of one episode of uniform random actions.
        states: the number of (state, steps-left) pairs searched.
    """

    value: float
    actions: tuple[int, ...]
    path_return: float
    goals: int
    random_value: float
    states: int


@njit(**_JIT)
def _decode(key, base, goal_cells, energy_cells, key_cell, lock_cell, normal, board, state):  # pragma: no cover
    """Write the board row and the engine state of ``key`` into ``board[0]`` / ``state[0]``."""
    for c in range(base.shape[0]):
        board[0, c] = base[c]
    ng = goal_cells.shape[0]
    collected = 0
    for j in range(ng):
        if (key >> (_GOAL_SHIFT + j)) & 1:
            board[0, goal_cells[j]] = normal
            collected += 1
    for j in range(energy_cells.shape[0]):
        if (key >> (_GOAL_SHIFT + ng + j)) & 1:
            board[0, energy_cells[j]] = normal
    if (key >> (_HELD_SHIFT + 1)) & 1:
        board[0, key_cell] = normal
    if (key >> (_HELD_SHIFT + 2)) & 1:
        board[0, lock_cell] = normal
    for k in range(STATE_SIZE):
        state[0, k] = 0
    state[0, S_POS] = (key >> _POS_SHIFT) & ((1 << _POS_BITS) - 1)
    state[0, S_ENERGY] = (key >> _E_SHIFT) & ((1 << _E_BITS) - 1)
    state[0, S_KEY] = (key >> _HELD_SHIFT) & 1
    state[0, S_GOALS] = collected


@njit(**_JIT)
def _encode(board, state, goal_cells, energy_cells, key_cell, lock_cell, steps_left):  # pragma: no cover
    """The key of the engine state in ``board[0]`` / ``state[0]`` with ``steps_left``."""
    ng = goal_cells.shape[0]
    key = np.int64(steps_left)
    key |= np.int64(state[0, S_POS]) << _POS_SHIFT
    key |= np.int64(state[0, S_ENERGY]) << _E_SHIFT
    key |= np.int64(state[0, S_KEY]) << _HELD_SHIFT
    if key_cell >= 0 and (board[0, key_cell] & TILE_MASK) != KEY:
        key |= np.int64(1) << (_HELD_SHIFT + 1)
    if lock_cell >= 0 and (board[0, lock_cell] & TILE_MASK) != LOCK:
        key |= np.int64(1) << (_HELD_SHIFT + 2)
    for j in range(ng):
        if (board[0, goal_cells[j]] & TILE_MASK) != GOAL:
            key |= np.int64(1) << (_GOAL_SHIFT + j)
    for j in range(energy_cells.shape[0]):
        if (board[0, energy_cells[j]] & TILE_MASK) != ENERGY:
            key |= np.int64(1) << (_GOAL_SHIFT + ng + j)
    return key


@njit(**_JIT)
def _effective_steps(steps_left, energy, cap, refill, tiles_left):  # pragma: no cover
    """``min(steps_left, energy + refill * tiles_left)`` with limited energy, else ``steps_left``."""
    if cap < 0:
        return steps_left
    bound = energy + refill * tiles_left
    return steps_left if steps_left < bound else bound


@njit(**_JIT)
def _grow(a, n):  # pragma: no cover - compiled
    out = np.empty((n,) + a.shape[1:], dtype=a.dtype)
    out[: a.shape[0]] = a
    return out


@njit(**_JIT)
def _search(params, layout, death_reward, horizon, goal_cells, energy_cells, key_cell, lock_cell):  # pragma: no cover
    """Discover every reachable (state, steps-left) pair and back up the values.

    Returns ``(keys, succ, rewards, gains, value, random_value, rest)``: per pair its key,
    the successor pair of each action (-1 when the action ends the episode), the reward of
    each action, whether it collects a goal, the optimal and the uniform-random value-to-go,
    and the fewest actions to the last nonzero reward along an optimal path (0 when the
    value-to-go is 0); pair 0 is the start.
    """
    cells = layout.shape[1] // 2
    base = layout[0, :cells].astype(np.uint8)
    normal = np.uint8(NORMAL | (params[0, _eng.P_COLOURS + NORMAL] << _eng.TILE_BITS))
    cap = params[0, P_ENERGY]
    refill = params[0, P_REFILL]
    n_goals = goal_cells.shape[0]
    n_energy = energy_cells.shape[0]
    board = np.empty((1, cells), dtype=np.uint8)
    state = np.zeros((1, STATE_SIZE), dtype=np.int32)
    # the start: the engine's reset
    for c in range(cells):
        board[0, c] = base[c]
    state[0, S_POS] = params[0, _eng.P_START]
    state[0, S_ENERGY] = max(cap, 0)
    k0 = _effective_steps(horizon, state[0, S_ENERGY], cap, refill, n_energy)
    capacity = 1024
    keys = np.empty(capacity, dtype=np.int64)
    succ = np.full((capacity, 4), -1, dtype=np.int64)
    rewards = np.zeros((capacity, 4), dtype=np.float64)
    gains = np.zeros((capacity, 4), dtype=np.int8)
    index = Dict.empty(key_type=types.int64, value_type=types.int64)
    keys[0] = _encode(board, state, goal_cells, energy_cells, key_cell, lock_cell, k0)
    index[keys[0]] = 0
    n = 1
    stack = [0]
    while len(stack) > 0:
        s = stack.pop()
        key = keys[s]
        steps_left = key & ((1 << _K_BITS) - 1)
        for a in range(4):
            _decode(key, base, goal_cells, energy_cells, key_cell, lock_cell, normal, board, state)
            before = state[0, S_GOALS]
            reward, terminated = _step_general(0, a, params, layout, board, state, death_reward, cells)
            rewards[s, a] = reward
            gains[s, a] = state[0, S_GOALS] - before
            if terminated or steps_left <= 1:
                continue  # the episode ends with this action
            nkey = _encode(board, state, goal_cells, energy_cells, key_cell, lock_cell, 0)
            used = 0
            for j in range(n_energy):
                used += (nkey >> (_GOAL_SHIFT + n_goals + j)) & 1
            k = _effective_steps(steps_left - 1, state[0, S_ENERGY], cap, refill, n_energy - used)
            nkey |= k
            t = index.get(nkey, -1)
            if t < 0:
                if n == capacity:
                    capacity *= 2
                    keys = _grow(keys, capacity)
                    succ = _grow(succ, capacity)
                    rewards = _grow(rewards, capacity)
                    gains = _grow(gains, capacity)
                    succ[n:] = -1
                    rewards[n:] = 0.0
                    gains[n:] = 0
                t = n
                keys[n] = nkey
                index[nkey] = n
                n += 1
                stack.append(t)
            succ[s, a] = t
    keys = keys[:n]
    succ = succ[:n]
    rewards = rewards[:n]
    gains = gains[:n]
    # backward induction in increasing order of steps left (successors have fewer)
    order = np.argsort(keys & ((1 << _K_BITS) - 1), kind="mergesort")
    value = np.zeros(n, dtype=np.float64)
    random_value = np.zeros(n, dtype=np.float64)
    rest = np.zeros(n, dtype=np.int32)  # fewest actions to the last reward along an optimal path
    q = np.empty(4, dtype=np.float64)
    for i in range(n):
        s = order[i]
        best = -np.inf
        total = 0.0
        for a in range(4):
            q[a] = rewards[s, a]
            qr = rewards[s, a]
            t = succ[s, a]
            if t >= 0:
                q[a] += value[t]
                qr += random_value[t]
            if q[a] > best:
                best = q[a]
            total += qr
        value[s] = best
        random_value[s] = total / 4.0
        if best != 0.0:
            shortest = 1 << 30
            for a in range(4):
                if q[a] == best:
                    t = succ[s, a]
                    d = 1 + (rest[t] if t >= 0 else 0)
                    if d < shortest:
                        shortest = d
            rest[s] = shortest
    return keys, succ, rewards, gains, value, random_value, rest


def _special_cells(task: KrazyWorldTask, layout_row: np.ndarray):
    size = task.size
    w = size + 2
    tiles = layout_row[: w * w] & TILE_MASK

    def cells_of(tile: int) -> np.ndarray:
        return np.flatnonzero(tiles == tile).astype(np.int64)

    keys, locks = cells_of(KEY), cells_of(LOCK)
    return (
        cells_of(GOAL), cells_of(ENERGY),
        int(keys[0]) if keys.size else -1, int(locks[0]) if locks.size else -1,
    )  # fmt: skip


def solve(task: KrazyWorldTask, horizon: int) -> OracleSolution:
    """The oracle bound of ``task`` for episodes of at most ``horizon`` actions (see the module
    docstring), the uniform random policy's expected return, and one optimal action sequence.

    Args:
        task: a Krazy World task (its start is fixed, so the bound is one number).
        horizon: the episode's ``max_episode_steps`` (the presets: Easy 24, Medium 50,
            Hard 100; ``krazy_gym.krazy_world.task.PRESET_HORIZONS``), 1..65535.

    Raises:
        TypeError / ValueError: a task that is not a ``KrazyWorldTask``, a bad horizon, or a
            board with more goals + energy tiles than the search's state key holds.
    """
    if not isinstance(task, KrazyWorldTask):
        raise TypeError(f"task must be a KrazyWorldTask, got {type(task).__name__}")
    if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or not 1 <= horizon <= MAX_HORIZON:
        raise ValueError(f"horizon must be an int in [1, {MAX_HORIZON}] (the episode's max_episode_steps), got {horizon!r}")
    row, layout_row, death_reward = pack_task(task)
    goal_cells, energy_cells, key_cell, lock_cell = _special_cells(task, layout_row)
    flags = goal_cells.size + energy_cells.size
    if flags > MAX_FLAGS:
        raise ValueError(
            f"the oracle search holds at most {MAX_FLAGS} goals + energy tiles per board, this task has {flags}"
        )
    params = row.reshape(1, HEADER)
    layout = layout_row.reshape(1, -1)
    death = np.array([death_reward], dtype=np.float64)
    keys, succ, rewards, gains, value, random_value, rest = _search(
        params, layout, death, int(horizon), goal_cells, energy_cells, key_cell, lock_cell
    )
    # one optimal path: at every step an optimal action with the fewest actions to the last
    # reward (the lowest-numbered one among those), so the path wastes no moves before it
    actions: list[int] = []
    path_return = 0.0
    goals = 0
    s = 0
    while s >= 0:
        nxt = succ[s]
        q = rewards[s] + np.where(nxt >= 0, value[np.maximum(nxt, 0)], 0.0)
        d = 1 + np.where(nxt >= 0, rest[np.maximum(nxt, 0)], 0)
        optimal = q == q.max()
        a = int(np.flatnonzero(optimal & (d == d[optimal].min()))[0])
        actions.append(a)
        path_return += float(rewards[s, a])
        goals += int(gains[s, a])
        s = int(succ[s, a])
    return OracleSolution(
        value=float(value[0]), actions=tuple(actions), path_return=path_return, goals=goals,
        random_value=float(random_value[0]), states=int(keys.size),
    )  # fmt: skip


__all__ = ["MAX_FLAGS", "MAX_HORIZON", "OracleSolution", "solve"]
