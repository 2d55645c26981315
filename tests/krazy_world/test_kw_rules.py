"""One hand-built board per Krazy World rule, checked through the single env.

Actions under the identity dynamics: 0 up, 1 down, 2 left, 3 right.
"""

from __future__ import annotations

import numpy as np
import pytest
from kw_boards import board_task, env_for

from krazy_gym.krazy_world.task import GOAL, ICE, NORMAL, NUM_CHANNELS

UP, DOWN, LEFT, RIGHT = range(4)


def test_ice_slide_stops_at_a_wall():
    env = env_for(board_task(["@~~~#", "....G"]))
    _, reward, terminated, _, info = env.step(RIGHT)
    assert env.unwrapped.agent_cell == (0, 3)  # the last ice cell before the wall
    assert (reward, terminated) == (0.0, False)
    assert info["tile_types_visited"] == 2  # normal (start) and ice


def test_ice_slide_stops_on_the_first_cell_after_the_ice_and_at_the_edge():
    env = env_for(board_task(["@~~.G", "....."]))
    env.step(RIGHT)
    assert env.agent_cell == (0, 3)
    env = env_for(board_task(["...G.", "@~~~~"]))
    env.step(RIGHT)
    assert env.agent_cell == (1, 4)  # slid to the board's edge
    env = env_for(board_task(["@~G", "...", "..."]))
    _, reward, *_ = env.step(RIGHT)  # sliding into a goal collects it
    assert env.agent_cell == (0, 2) and reward == 1.0


def test_teleporters_move_to_their_own_partner():
    task = board_task(
        ["@T..T", ".....", "T...T", "....G", "....."],
        pair_order=[(0, 1), (2, 0), (0, 4), (2, 4)],
    )
    env = env_for(task)
    _, _, _, _, info = env.step(RIGHT)
    assert env.agent_cell == (2, 0) and info["teleports"] == 1
    # stepping off and back onto a teleporter teleports again, to the partner
    env.step(DOWN)
    env.step(UP)
    assert env.agent_cell == (0, 1)
    env = env_for(task.__class__(**{**task.to_dict(), "start": (1, 4)}))
    env.step(UP)
    assert env.agent_cell == (2, 4)


def test_lock_blocks_without_a_key():
    env = env_for(board_task(["@.LG", "####", "####", "####"]))
    env.step(RIGHT)
    env.step(RIGHT)
    assert env.agent_cell == (0, 1) and not env.has_key


def test_lock_opens_with_the_key_and_uses_it():
    env = env_for(board_task(["@kLG", "####", "####", "####"]))
    _, _, _, _, info = env.step(RIGHT)
    assert env.has_key and info["keys"] == 1
    assert env.board()[0, 1] == NORMAL  # the key is picked up
    env.step(RIGHT)
    assert env.agent_cell == (0, 2) and not env.has_key
    assert env.board()[0, 2] == NORMAL  # the lock stays open
    _, reward, terminated, _, _ = env.step(RIGHT)
    assert reward == 1.0 and terminated
    obs = env.reset()[0]
    assert obs[-1] == 0.0 and env.board()[0, 2] != NORMAL  # reset restores key and lock


def test_two_cell_move_cannot_jump_a_wall_or_lock():
    moves = ((0, 2), (1, 1), (-2, 0), (0, -1))
    env = env_for(board_task(["@#.G", "....", "....", "...."], moves=moves))
    env.step(0)
    assert env.agent_cell == (0, 0)
    env = env_for(board_task(["@.XG", "....", "....", "...."], moves=moves))
    _, _, terminated, _, _ = env.step(0)  # passes over normal, lands on death
    assert env.agent_cell == (0, 2) and terminated
    env = env_for(board_task(["@X.G", "....", "....", "...."], moves=moves))
    _, _, terminated, _, _ = env.step(0)  # passes over the death tile: only landing counts
    assert env.agent_cell == (0, 2) and not terminated
    env.step(1)  # diagonal
    assert env.agent_cell == (1, 3)


def test_energy_costs_one_per_move_refills_and_terminates_at_zero():
    env = env_for(board_task(["@..E.", "....G"], energy=6, energy_replenish=2))
    assert env.energy == 6
    env.step(RIGHT)
    env.step(RIGHT)
    assert env.energy == 4
    obs, *_ = env.step(RIGHT)  # onto the energy tile: 4 - 1 + 2
    assert env.energy == 5 and obs[-2] == pytest.approx(5 / 6)
    assert env.board()[0, 3] == NORMAL  # consumed
    env.step(LEFT)
    env.step(RIGHT)  # back on the (now normal) tile: no refill
    assert env.energy == 3
    # refills are capped at the starting energy
    env = env_for(board_task(["@E...", "....G"], energy=6, energy_replenish=5))
    env.step(RIGHT)
    assert env.energy == 6
    # blocked moves cost energy too, and the episode ends at zero
    env = env_for(board_task(["@#..G", "#...."], energy=2))
    _, _, terminated, _, _ = env.step(RIGHT)
    assert env.energy == 1 and not terminated
    _, reward, terminated, _, _ = env.step(UP)
    assert env.energy == 0 and terminated and reward == 0.0


def test_goal_reached_with_the_last_unit_of_energy_counts():
    env = env_for(board_task(["@G...", "....G"], energy=1))
    _, reward, terminated, _, info = env.step(RIGHT)
    assert reward == 1.0 and terminated and info["goals"] == 1


def test_death_terminates_with_death_reward():
    env = env_for(board_task(["@X..G", "....."], death_reward=-0.5))
    _, reward, terminated, truncated, info = env.step(RIGHT)
    assert (reward, terminated, truncated) == (-0.5, True, False)
    assert info["deaths"] == 1


def test_goals_pay_once_and_all_goals_collected_terminates():
    env = env_for(board_task(["@G.G", "....", "....", "...."]))
    rewards, terms = [], []
    for action in (RIGHT, LEFT, RIGHT, RIGHT, RIGHT):
        _, reward, terminated, _, info = env.step(action)
        rewards.append(reward)
        terms.append(terminated)
    assert rewards == [1.0, 0.0, 0.0, 0.0, 1.0]
    assert terms == [False, False, False, False, True]
    assert info["goals"] == 2
    env.reset()
    _, reward, _, _, _ = env.step(RIGHT)  # goals come back at reset
    assert reward == 1.0


def test_walls_and_board_edges_block():
    env = env_for(board_task(["@#.G", "....", "....", "...."]))
    env.step(UP)
    env.step(LEFT)
    env.step(RIGHT)
    assert env.agent_cell == (0, 0)


@pytest.mark.parametrize("seed", range(3))
def test_colour_permutation_moves_the_onehot_channel(seed):
    rng = np.random.default_rng(seed)
    rows = ["...", ".@G", "..."]
    colours_a = tuple(int(c) for c in rng.permutation(9))
    colours_b = colours_a[1:] + colours_a[:1]  # every tile type gets another channel
    obs_a = env_for(board_task(rows, colours=colours_a)).reset()[0]
    obs_b = env_for(board_task(rows, colours=colours_b)).reset()[0]
    right = 5  # the window cell right of the agent
    cell_a = obs_a[right * NUM_CHANNELS : (right + 1) * NUM_CHANNELS]
    cell_b = obs_b[right * NUM_CHANNELS : (right + 1) * NUM_CHANNELS]
    assert np.flatnonzero(cell_a).tolist() == [colours_a[GOAL]]
    assert np.flatnonzero(cell_b).tolist() == [colours_b[GOAL]]
    assert not np.array_equal(obs_a, obs_b)


def test_local_view_outside_channel_and_cell_under_agent():
    task = board_task(["@~~#", "...G", "....", "...."], colours=(3, 1, 7, 0, 2, 5, 4, 6, 8))
    env = env_for(task, obs_mode="index")
    obs = env.reset()[0]
    window = obs[:9].reshape(3, 3)
    assert window[0].tolist() == [9, 9, 9] and window[:, 0].tolist() == [9, 9, 9]
    assert window[1, 1] == task.colours[NORMAL]
    obs = env.step(RIGHT)[0]  # slides to (0, 2), stops on ice before the wall
    assert obs[4] == task.colours[ICE]  # the cell under the agent is visible


def test_global_view_has_board_and_agent_channel():
    task = board_task(["@..", ".G.", "..."])
    env = env_for(task, view="global")
    obs = env.reset()[0]
    cells = obs[: 9 * NUM_CHANNELS].reshape(9, NUM_CHANNELS)
    assert np.flatnonzero(cells[:, 9]).tolist() == [0]  # agent channel
    assert cells[4, task.colours[GOAL]] == 1
    obs = env.step(RIGHT)[0]
    cells = obs[: 9 * NUM_CHANNELS].reshape(9, NUM_CHANNELS)
    assert np.flatnonzero(cells[:, 9]).tolist() == [1]


def test_info_counts_tile_types_visited():
    env = env_for(board_task(["@~.E", "T..T", "...G", "...."], energy=10, energy_replenish=1))
    env.step(RIGHT)  # ice, then normal
    env.step(RIGHT)  # energy
    _, _, _, _, info = env.step(DOWN)  # teleporter -> partner teleporter
    assert info["tile_types_visited"] == 4  # normal, ice, energy, teleporter
    assert info["teleports"] == 1 and env.agent_cell == (1, 0)
