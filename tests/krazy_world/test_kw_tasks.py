"""Krazy World task generation: disjoint splits, reachable goals, board structure, determinism."""

from __future__ import annotations

import json
import subprocess
import sys

import numba
import numpy as np
import pytest

from krazy_gym.krazy_world.env import KrazyWorldEnv
from krazy_gym.krazy_world.task import (
    CHESS_MOVES,
    IDENTITY_MOVES,
    PRESETS,
    KrazyWorldFamily,
    KrazyWorldTask,
    tile_count,
)
from krazy_gym.tasks import Task, check_tasks_disjoint

N_TRAIN, N_TEST = 10_000, 1_000


@pytest.fixture(scope="module")
def hard_tasks() -> tuple[list[KrazyWorldTask], list[KrazyWorldTask]]:
    family = KrazyWorldFamily(**PRESETS["hard"])
    return family.sample_tasks(N_TRAIN, split="train", seed=0), family.sample_tasks(N_TEST, split="test")


def test_train_and_test_tasks_are_disjoint(hard_tasks):
    train, test = hard_tasks
    assert len(train) == N_TRAIN and len(test) == N_TEST
    check_tasks_disjoint(train, test)
    assert len({t.content_key() for t in test}) == N_TEST
    # and the boards themselves differ (not only split/index)
    test_boards = {t.tiles for t in test}
    assert sum(t.tiles in test_boards for t in train) == 0


# -- an independent reachability search (not the generator's) -------------------------------
# Re-implements the movement rules from the README's table, for (row, col, key state) with key
# state 0 = key on the board, 1 = key held, 2 = lock opened; energy tiles are ignored (refills
# never counted) and a goal must be reached within the starting energy.
_N, _G, _I, _D, _W, _L, _K, _T, _E = range(9)


@numba.njit(cache=True)
def _tile(tiles, r, c, k):
    t = tiles[r, c]
    if t == _K and k >= 1:
        return _N
    if t == _L and k == 2:
        return _N
    if t == _E:
        return _N
    return t


@numba.njit(cache=True)
def _inside(size, r, c):
    return 0 <= r < size and 0 <= c < size


@numba.njit(cache=True)
def _act(tiles, partner_r, partner_c, r, c, k, dr, dc):
    """(r, c, k, outcome) after one action; outcome 0 alive, 1 goal, 2 dead."""
    size = tiles.shape[0]
    sr, sc = np.sign(dr), np.sign(dc)
    moved = False
    for _ in range(max(abs(dr), abs(dc))):
        nr, nc = r + sr, c + sc
        if not _inside(size, nr, nc):
            break
        t = _tile(tiles, nr, nc, k)
        if t == _W or (t == _L and k != 1):
            break
        if t == _L:
            k = 2
        r, c, moved = nr, nc, True
    if not moved:
        return r, c, k, 0
    while True:
        t = _tile(tiles, r, c, k)
        if t == _I:
            nr, nc = r + sr, c + sc
            if not _inside(size, nr, nc):
                return r, c, k, 0
            nt = _tile(tiles, nr, nc, k)
            if nt == _W or (nt == _L and k != 1):
                return r, c, k, 0
            if nt == _L:
                k = 2
            r, c = nr, nc
            continue
        if t == _G:
            return r, c, k, 1
        if t == _D:
            return r, c, k, 2
        if t == _T:
            return partner_r[r, c], partner_c[r, c], k, 0
        if t == _K:
            return r, c, 1, 0
        return r, c, k, 0


@numba.njit(cache=True)
def _shortest_goal_path(tiles, partner_r, partner_c, sr, sc, moves, energy):
    """Actions of a shortest path to a goal (empty if none within ``energy`` actions)."""
    size = tiles.shape[0]
    n = size * size * 3
    parent = np.full(n, -1, np.int64)
    via = np.full(n, -1, np.int64)
    depth = np.full(n, -1, np.int64)
    queue = np.empty(n, np.int64)
    s0 = (sr * size + sc) * 3
    depth[s0] = 0
    queue[0] = s0
    head, tail = 0, 1
    while head < tail:
        s = queue[head]
        head += 1
        if energy > 0 and depth[s] >= energy:
            continue
        cell, k = s // 3, s % 3
        for a in range(4):
            r, c, nk, outcome = _act(tiles, partner_r, partner_c, cell // size, cell % size, k, moves[a, 0], moves[a, 1])
            if outcome == 2:
                continue
            if outcome == 1:
                path = [a]
                while s != s0:
                    path.append(via[s])
                    s = parent[s]
                return np.array(path[::-1])
            ns = (r * size + c) * 3 + nk
            if depth[ns] < 0:
                depth[ns], parent[ns], via[ns] = depth[s] + 1, s, a
                queue[tail] = ns
                tail += 1
    return np.empty(0, np.int64)


def _goal_path(task: KrazyWorldTask) -> np.ndarray:
    size = task.size
    pr, pc = np.zeros((size, size), np.int64), np.zeros((size, size), np.int64)
    for (r1, c1), (r2, c2) in task.teleporters:
        pr[r1, c1], pc[r1, c1], pr[r2, c2], pc[r2, c2] = r2, c2, r1, c1
    moves = np.array(task.moves, dtype=np.int64)
    return _shortest_goal_path(
        task.tiles_array().astype(np.int64), pr, pc, task.start[0], task.start[1], moves,
        -1 if task.energy is None else task.energy,
    )  # fmt: skip


def test_every_hard_board_has_a_reachable_goal(hard_tasks):
    """An independent BFS finds a path to a goal; replayed in the env, it collects the goal."""
    train, _ = hard_tasks
    env = KrazyWorldEnv(preset="hard")
    unreachable = []
    for task in train:
        path = _goal_path(task)
        if len(path) == 0:
            unreachable.append(task.index)
            continue
        env.reset(options={"task": task})
        total = 0.0
        for i, action in enumerate(path):
            _, reward, terminated, _, _ = env.step(int(action))
            total += reward
            assert not terminated or i == len(path) - 1, f"task {task.index}: episode ended early"
        assert total == 1.0, f"task {task.index}: the path {path} did not collect a goal in the env"
    assert unreachable == [], f"{len(unreachable)} Hard boards without a reachable goal"


def test_the_independent_search_detects_unreachable_goals():
    """The checker itself can fail: a goal behind a wall, or behind a lock without a key."""
    from kw_boards import board_task

    assert len(_goal_path(board_task(["@.#G", "..#.", "..#.", "..#."]))) == 0
    assert len(_goal_path(board_task(["@.LG", "###.", "....", "...."]))) == 0
    assert len(_goal_path(board_task(["@kLG", "###.", "....", "...."]))) == 3
    assert len(_goal_path(board_task(["@..G", "....", "....", "...."], energy=2))) == 0


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_board_structure_follows_the_configuration(preset):
    cfg = PRESETS[preset]
    tasks = KrazyWorldFamily(**cfg).sample_tasks(300, seed=1)
    size = cfg["size"]
    cells = size * size
    starts_rows, starts_cols = set(), set()
    for task in tasks:
        tiles = task.tiles_array()
        counts = np.bincount(tiles.ravel(), minlength=9)
        assert counts[1] == cfg["n_goals"]
        assert counts[3] == tile_count(cfg["death_frac"], cells)
        assert counts[2] == tile_count(cfg["ice_frac"], cells)
        assert counts[7] == 2 * cfg["teleporter_pairs"] == 2 * len(task.teleporters)
        assert counts[8] == tile_count(cfg["energy_frac"], cells)
        assert tiles[task.start] == 0
        starts_rows.add(task.start[0])
        starts_cols.add(task.start[1])
        assert sorted(task.colours) == list(range(9))
        assert task.energy == cfg["energy"]
        if cfg["lock_wall"]:
            assert counts[5] == 1 and counts[6] == 1 and counts[4] == size - 1
            lock = np.argwhere(tiles == 5)[0]
            key = np.argwhere(tiles == 6)[0]
            full_rows = [r for r in range(size) if np.all((tiles[r] == 4) | (tiles[r] == 5))]
            full_cols = [c for c in range(size) if np.all((tiles[:, c] == 4) | (tiles[:, c] == 5))]
            axis = 0 if full_rows else 1
            line = (full_rows or full_cols)[0]
            assert lock[axis] == line
            # the key is on the start's side of the wall
            assert (key[axis] < line) == (task.start[axis] < line)
        else:
            assert counts[4] == counts[5] == counts[6] == 0
        if cfg["dynamics"] == "identity":
            assert task.moves == IDENTITY_MOVES
        elif cfg["dynamics"] == "permute":
            assert sorted(task.moves) == sorted(IDENTITY_MOVES) and task.moves != IDENTITY_MOVES
        else:
            assert set(task.moves) <= set(CHESS_MOVES) and len(set(task.moves)) == 4
            assert any(m not in IDENTITY_MOVES for m in task.moves)
    # the start is uniform over normal cells: every row and column occurs
    assert starts_rows == set(range(size)) and starts_cols == set(range(size))
    # colour permutations really vary
    assert len({t.colours for t in tasks}) > 100


def test_chess_dynamics_uses_diagonal_and_two_cell_moves():
    tasks = KrazyWorldFamily(**PRESETS["hard"]).sample_tasks(200, seed=2)
    moves = {m for t in tasks for m in t.moves}
    assert {(1, 1), (-1, -1), (2, 0), (0, -2)} <= moves


def test_task_board_is_the_same_in_another_process():
    family = KrazyWorldFamily(**PRESETS["hard"])
    here = [t.to_dict() for t in family.sample_tasks(5, split="test") + family.sample_tasks(5, seed=9)]
    code = (
        "import json; from krazy_gym.krazy_world.task import KrazyWorldFamily, PRESETS;"
        "f = KrazyWorldFamily(**PRESETS['hard']);"
        "print(json.dumps([t.to_dict() for t in f.sample_tasks(5, split='test') + f.sample_tasks(5, seed=9)]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == json.loads(json.dumps(here))


def test_tasks_round_trip_through_json():
    for task in KrazyWorldFamily(**PRESETS["medium"]).sample_tasks(20, seed=4):
        again = Task.from_dict(json.loads(json.dumps(task.to_dict())))
        assert again == task and isinstance(again, KrazyWorldTask)


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"size": 2}, ValueError, r"size must be in \[3, 15\]"),
        ({"size": 4.0}, TypeError, "size must be an int"),
        ({"death_frac": 0.9}, ValueError, "tiles do not fit"),
        ({"size": 3, "n_goals": 3, "death_frac": 0.5}, ValueError, "tiles do not fit"),
        ({"dynamics": "knight"}, ValueError, r"dynamics must be one of \['identity', 'permute', 'chess'\]"),
        ({"energy": 0}, ValueError, "energy must be None"),
        ({"energy": None}, ValueError, "energy_frac must be 0"),
        ({"colour": True}, TypeError, "unknown Krazy World option"),
        ({"lock_wall": 1}, TypeError, "lock_wall must be True or False"),
        ({"n_goals": 0}, ValueError, "n_goals must be >= 1"),
    ],
)
def test_bad_configurations_name_the_parameter(options, error, match):
    with pytest.raises(error, match=match):
        KrazyWorldFamily(**options)


def test_bad_tasks_name_the_field():
    task = KrazyWorldFamily(**PRESETS["easy"]).sample_tasks(1)[0]
    base = task.to_dict()
    for change, match in [
        ({"colours": [0] * 9}, "colours must be a permutation"),
        ({"moves": [[0, 1]] * 4}, "moves must be 4 distinct"),
        ({"moves": [[0, 3], [1, 0], [0, -1], [-1, 0]]}, "each move must be one of"),
        ({"start": [9, 9]}, "start must be"),
        ({"tiles": ["....."] * 5}, "at least one goal"),
        ({"tiles": ["....."] * 4 + ["..Q.G"]}, "only the tile characters"),
        ({"teleporters": [[[0, 0], [0, 1]]]}, "not a teleporter"),
        ({"energy": 300}, "energy must be None"),
    ]:
        with pytest.raises(ValueError, match=match):
            KrazyWorldTask.from_dict({**base, **change})
