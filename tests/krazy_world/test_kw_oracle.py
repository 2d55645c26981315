"""The oracle search (``krazy_gym.krazy_world.oracle``) against the env itself.

* brute force: on small boards covering every rule, every one of the 4^H action sequences is
  played in the env; the oracle's value must be their best return and its random value their
  mean return (uniform random actions = every sequence equally likely);
* the oracle's own action sequence, replayed in the env, gets the oracle's return and ends the
  episode exactly where the search says;
* the exact random value against a Monte-Carlo estimate from the batched env.
"""

from __future__ import annotations

import dataclasses
import itertools

import gymnasium as gym
import numpy as np
import pytest
from kw_boards import board_task

import krazy_gym  # noqa: F401  (registers the ids)
from krazy_gym.krazy_world.env import KrazyWorldEnv
from krazy_gym.krazy_world.oracle import MAX_FLAGS, solve
from krazy_gym.krazy_world.task import KrazyWorldFamily

UP, DOWN, LEFT, RIGHT = range(4)


def play(task, actions, horizon, env=None):
    """Return, goals, number of actions taken and whether the episode ended, for ``actions``
    played from a reset of a single env (truncated after ``horizon`` actions)."""
    env = env or KrazyWorldEnv(preset="easy", size=task.size)
    env.reset(seed=0, options={"task": task})
    total, goals, taken, ended = 0.0, 0, 0, False
    for a in actions:
        _, reward, terminated, _, info = env.step(a)
        total += reward
        taken += 1
        goals = info["goals"]
        if terminated or taken == horizon:
            ended = True
            break
    return total, goals, taken, ended


def brute_force(task, horizon):
    """Best and mean return over every action sequence of length ``horizon``."""
    env = KrazyWorldEnv(preset="easy", size=task.size)
    returns = [play(task, seq, horizon, env)[0] for seq in itertools.product(range(4), repeat=horizon)]
    return max(returns), float(np.mean(returns))


HAND_BOARDS = {
    # ice slides onto a goal and past one; death costs 0.5
    "ice_death": (board_task(["@~~G", ".X.G", "G~..", "...."], death_reward=-0.5), 6),
    # the teleporter pair (0,1)-(3,2) is the only way to the goals within 4 actions
    "teleporter": (board_task(["@T..", "X...", "...G", "..TG"]), 4),
    # the goal behind the wall needs the key; the lock is passed with it
    "key_lock": (board_task(["@k#G", "..L.", "###.", "G..."]), 7),
    # energy 2 with +2 refills capped at 2: the goal needs a refill, and the energy bound
    # (2 + 2 x 2 = 6), not the horizon, limits the episode
    "energy": (board_task(["@E.G", "...E", "...G", "...."], energy=2, energy_replenish=2), 7),
    # dying pays more than a goal: the best episode ends on the death tile
    "paid_death": (board_task(["@.X", "G..", "..G"], death_reward=1.5), 6),
    # chess moves: two-cell jumps (blocked by walls in between) and diagonals
    "chess": (board_task(["@.#G", "....", "G~..", "..X."], moves=((0, 2), (2, 0), (-1, 1), (1, -1))), 6),
}


def without(name: str, tile: str):
    """Hand board ``name`` with every ``tile`` made a normal cell (teleporters unpaired)."""
    task, horizon = HAND_BOARDS[name]
    rows = tuple(row.replace(tile, ".") for row in task.tiles)
    teleporters = () if tile == "T" else task.teleporters
    return dataclasses.replace(task, tiles=rows, teleporters=teleporters), horizon


def family_boards():
    """Small boards from the generator with every feature on (lock wall, teleporters, energy,
    chess moves) and with unlimited energy and permuted moves."""
    full = KrazyWorldFamily(
        size=4, n_goals=2, death_frac=0.1, ice_frac=0.15, lock_wall=True, teleporter_pairs=1,
        energy=5, energy_replenish=3, energy_frac=0.07, dynamics="chess",
    )  # fmt: skip
    plain = KrazyWorldFamily(
        size=4, n_goals=3, death_frac=0.15, ice_frac=0.2, lock_wall=False, teleporter_pairs=1,
        energy=None, energy_replenish=0, energy_frac=0.0, dynamics="permute", death_reward=-1.0,
    )  # fmt: skip
    return [*full.sample_tasks(3, split="train", seed=1), *plain.sample_tasks(3, split="train", seed=2)]


@pytest.mark.parametrize("name", sorted(HAND_BOARDS))
def test_oracle_is_the_best_and_random_the_mean_of_every_action_sequence_on_hand_boards(name):
    task, horizon = HAND_BOARDS[name]
    best, mean = brute_force(task, horizon)
    sol = solve(task, horizon)
    assert sol.value == pytest.approx(best, abs=1e-12)
    assert sol.random_value == pytest.approx(mean, rel=1e-12, abs=1e-12)


def test_oracle_matches_brute_force_on_generated_boards():
    for task in family_boards():
        for horizon in (4, 6):
            best, mean = brute_force(task, horizon)
            sol = solve(task, horizon)
            assert sol.value == pytest.approx(best, abs=1e-12), (task.tiles, horizon)
            assert sol.random_value == pytest.approx(mean, rel=1e-12, abs=1e-12), (task.tiles, horizon)


def test_the_hand_boards_exercise_their_rule():
    """Each hand board's value depends on its rule (else it would not test it)."""
    def value(name):
        task, horizon = HAND_BOARDS[name]
        return solve(task, horizon).value

    def value_without(name, tile):
        return solve(*without(name, tile)).value

    assert (value("ice_death"), value_without("ice_death", "~")) == (3.0, 2.0)
    assert (value("teleporter"), value_without("teleporter", "T")) == (2.0, 0.0)
    assert (value("key_lock"), value_without("key_lock", "k")) == (1.0, 0.0)
    assert solve(HAND_BOARDS["key_lock"][0], 4).value == 0.0  # too short to pass the lock
    assert (value("energy"), value_without("energy", "E")) == (1.0, 0.0)
    assert value("paid_death") == 1.0 + 1.5  # one goal, then the death tile


@pytest.mark.parametrize("name", sorted(HAND_BOARDS))
def test_the_oracle_path_replays_in_the_env(name):
    task, horizon = HAND_BOARDS[name]
    sol = solve(task, horizon)
    total, goals, taken, ended = play(task, sol.actions, horizon)
    assert (total, goals, taken, ended) == (sol.path_return, sol.goals, len(sol.actions), True)
    assert sol.path_return == pytest.approx(sol.value, abs=1e-12)


def test_the_oracle_path_of_a_preset_board_replays_through_gym_make():
    env = gym.make("KrazyGym/KrazyWorld-Hard-v0")
    tasks = env.unwrapped.sample_tasks(4, split="train", seed=5)
    for task in tasks:
        sol = solve(task, 100)
        env.reset(seed=0, options={"task": task})
        total, ends = 0.0, []
        for a in sol.actions:
            _, reward, terminated, truncated, info = env.step(a)
            total += reward
            ends.append(terminated or truncated)
        assert total == sol.value == sol.path_return
        assert ends[-1] and not any(ends[:-1])
        assert info["goals"] == sol.goals


def test_random_value_matches_monte_carlo_in_the_vector_env():
    """First episode of 4000 envs per task, uniform actions from a seeded generator; the exact
    value must lie within 4.5 standard errors of the estimate (a fixed seed: deterministic)."""
    env = gym.make("KrazyGym/KrazyWorld-Easy-v0")
    tasks = env.unwrapped.sample_tasks(4, split="train", seed=11)
    reps, horizon = 4000, 24
    envs = gym.make_vec("KrazyGym/KrazyWorld-Easy-v0", num_envs=len(tasks) * reps, obs_mode="index")
    envs.reset(seed=0, options={"task": [t for t in tasks for _ in range(reps)]})
    rng = np.random.default_rng(0)
    total = np.zeros(len(tasks) * reps)
    first = np.full(len(tasks) * reps, np.nan)
    for _ in range(horizon):
        _, reward, terminated, truncated, _ = envs.step(rng.integers(0, 4, total.size))
        alive = np.isnan(first)
        total += reward * alive
        done = (terminated | truncated) & alive
        first[done] = total[done]
    assert not np.isnan(first).any()
    for j, task in enumerate(tasks):
        x = first[j * reps : (j + 1) * reps]
        se = x.std(ddof=1) / np.sqrt(reps)
        assert abs(x.mean() - solve(task, horizon).random_value) < 4.5 * se


def test_bad_arguments_name_the_parameter():
    task = HAND_BOARDS["teleporter"][0]
    for bad in (0, -1, 1.5, True, 70000):
        with pytest.raises(ValueError, match="horizon"):
            solve(task, bad)
    with pytest.raises(TypeError, match="KrazyWorldTask"):
        solve(task.to_dict(), 10)
    crowded = board_task(["@" + "G" * 5] + ["G" * 6] * 5)  # 35 goals
    with pytest.raises(ValueError, match=str(MAX_FLAGS)):
        solve(crowded, 10)
