"""The engine's branch-free common move agrees with its general rules, move for move.

``engine._step_one`` (used by the single env) and the batch step resolve most moves with
``_fast_move`` and hand the rest to ``_step_general``. Here every env of a batch of random
tasks (all presets, identity/permute/chess dynamics, locks, ice, teleporters, energy) is
stepped twice from the same state, once by ``_step_one`` and once by ``_step_general`` alone,
and the results must be identical, including the boards and every counter.
"""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from krazy_gym.krazy_world import engine as eng
from krazy_gym.krazy_world.task import PRESETS, KrazyWorldFamily


@njit(cache=False)
def _run(params, layout, board, state, death_reward, actions, general):  # pragma: no cover - compiled
    n = actions.shape[0]
    cells = board.shape[1]
    rewards = np.zeros(n)
    terms = np.zeros(n, dtype=np.bool_)
    for i in range(n):
        if general:
            r, t = eng._step_general(i, actions[i], params, layout, board, state, death_reward, cells)
        else:
            r, t = eng._step_one(i, actions[i], params, layout, board, state, death_reward, cells)
        rewards[i] = r
        terms[i] = t
    return rewards, terms


@njit(cache=False)
def _reset(mask, params, layout, board, state):  # pragma: no cover - compiled
    for i in range(mask.shape[0]):
        if mask[i]:
            eng._reset_one(i, params, layout, board, state, board.shape[1])


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_fast_move_agrees_with_the_general_rules(preset):
    family = KrazyWorldFamily(**PRESETS[preset])
    n = 256
    tasks = family.sample_tasks(n, split="train", seed=11)
    size = tasks[0].size
    cells = (size + 2) ** 2
    params = np.zeros((n, eng.HEADER), np.int32)
    layout = np.zeros((n, 2 * cells), np.int16)
    death_reward = np.zeros(n)
    for i, task in enumerate(tasks):
        params[i], layout[i], death_reward[i] = eng.pack_task(task)
    board = np.zeros((n, cells), np.uint8)
    state = np.zeros((n, eng.STATE_SIZE), np.int32)
    _reset(np.ones(n, np.bool_), params, layout, board, state)
    rng = np.random.default_rng(0)
    for _ in range(300):
        actions = rng.integers(0, 4, n)
        board_g, state_g = board.copy(), state.copy()
        rewards, terms = _run(params, layout, board, state, death_reward, actions, False)
        rewards_g, terms_g = _run(params, layout, board_g, state_g, death_reward, actions, True)
        np.testing.assert_array_equal(board, board_g)
        np.testing.assert_array_equal(state, state_g)
        np.testing.assert_array_equal(rewards, rewards_g)
        np.testing.assert_array_equal(terms, terms_g)
        _reset(terms | (state[:, eng.S_T] >= 40), params, layout, board, state)
