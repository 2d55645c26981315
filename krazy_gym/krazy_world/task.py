"""Krazy World tasks: what defines one board's MDP, and the family that generates them.

A :class:`KrazyWorldTask` stores *everything* that defines its MDP as plain numbers and tuples
(board tiles, start cell, colour permutation, action displacements, teleporter pairs, energy,
death reward), so the same task is the same MDP on any machine. :class:`KrazyWorldFamily`
draws tasks from a configured distribution (the presets of ``DESIGN.md`` or any keyword
combination) and guarantees that at least one goal is reachable under the task's own dynamics
(ice, teleporters, key and lock, energy), checked by a breadth-first search over
``(cell, key state)`` that uses the rules engine's own move function.

This module is light: numpy only. The search is compiled by numba, imported on the first
call of :meth:`KrazyWorldFamily.generate`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from krazy_gym.tasks import Task, TaskFamily

# -- tile types ------------------------------------------------------------------------------
NORMAL, GOAL, ICE, DEATH, WALL, LOCK, KEY, TELEPORTER, ENERGY = range(9)
#: names of the tile types, indexed by type
TILE_NAMES: tuple[str, ...] = (
    "normal", "goal", "ice", "death", "wall", "lock", "key", "teleporter", "energy",
)  # fmt: skip
NUM_TILE_TYPES = len(TILE_NAMES)
#: one character per tile type, as stored in ``KrazyWorldTask.tiles`` and drawn by ``ansi``
TILE_CHARS = ".G~X#LkTE"
_CHAR_BYTES = np.frombuffer(TILE_CHARS.encode(), dtype=np.uint8)
_CHAR_TO_TYPE = np.full(256, 255, dtype=np.uint8)
_CHAR_TO_TYPE[_CHAR_BYTES] = np.arange(NUM_TILE_TYPES, dtype=np.uint8)
#: observation channel for cells off the board (local view) / the agent (global view)
EXTRA_CHANNEL = NUM_TILE_TYPES
NUM_CHANNELS = NUM_TILE_TYPES + 1

MIN_SIZE, MAX_SIZE = 3, 15
MAX_ENERGY = 254  # so that energy fits a uint8 index observation entry (nvec 255)

#: actions 0..3 under the identity dynamics: up, down, left, right (row, col displacements)
IDENTITY_MOVES: tuple[tuple[int, int], ...] = ((-1, 0), (1, 0), (0, -1), (0, 1))
_DIAGONAL_MOVES = ((-1, -1), (-1, 1), (1, -1), (1, 1))
_TWO_CELL_MOVES = ((-2, 0), (2, 0), (0, -2), (0, 2))
#: the displacement set the chess dynamics draws its four moves from
CHESS_MOVES: tuple[tuple[int, int], ...] = IDENTITY_MOVES + _DIAGONAL_MOVES + _TWO_CELL_MOVES
DYNAMICS: tuple[str, ...] = ("identity", "permute", "chess")

# -- presets ---------------------------------------------------------------------------------
#: the task-distribution options and their defaults (those of the Hard preset)
DEFAULT_CONFIG: dict[str, Any] = {
    "size": 10,
    "n_goals": 3,
    "death_frac": 0.08,
    "ice_frac": 0.05,
    "lock_wall": True,
    "teleporter_pairs": 1,
    "energy": 20,
    "energy_replenish": 8,
    "energy_frac": 0.05,
    "dynamics": "chess",
    "colour_permutation": True,
    "death_reward": 0.0,
}

PRESETS: dict[str, dict[str, Any]] = {
    "easy": {
        "size": 5, "n_goals": 3, "death_frac": 0.15, "ice_frac": 0.15, "lock_wall": False,
        "teleporter_pairs": 0, "energy": None, "energy_replenish": 0, "energy_frac": 0.0,
        "dynamics": "identity", "colour_permutation": True, "death_reward": 0.0,
    },
    "medium": {
        "size": 7, "n_goals": 2, "death_frac": 0.10, "ice_frac": 0.10, "lock_wall": False,
        "teleporter_pairs": 1, "energy": 12, "energy_replenish": 8, "energy_frac": 0.05,
        "dynamics": "permute", "colour_permutation": True, "death_reward": 0.0,
    },
    "hard": dict(DEFAULT_CONFIG),
}  # fmt: skip
#: episode horizon of each preset (the registered ``max_episode_steps``)
PRESET_HORIZONS: dict[str, int] = {"easy": 24, "medium": 50, "hard": 100}


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, (float, np.floating))) and math.isfinite(value)


def tile_count(frac: float, cells: int) -> int:
    """Number of tiles a fraction of the board's cells stands for (round half up)."""
    return int(math.floor(frac * cells + 0.5))


def validate_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Check a task-distribution configuration; return it complete, with defaults filled in.

    Raises:
        TypeError / ValueError: naming the parameter and its allowed values.
    """
    unknown = sorted(set(config) - set(DEFAULT_CONFIG))
    if unknown:
        raise TypeError(f"unknown Krazy World option(s) {unknown}; allowed: {sorted(DEFAULT_CONFIG)}")
    cfg = {**DEFAULT_CONFIG, **config}
    size = cfg["size"]
    if not _is_int(size):
        raise TypeError(f"size must be an int in [{MIN_SIZE}, {MAX_SIZE}], got {size!r}")
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"size must be in [{MIN_SIZE}, {MAX_SIZE}] (board at least 3x3), got {size}")
    for name in ("n_goals", "teleporter_pairs", "energy_replenish"):
        if not _is_int(cfg[name]) or cfg[name] < 0:
            raise ValueError(f"{name} must be an int >= 0, got {cfg[name]!r}")
    if cfg["n_goals"] < 1:
        raise ValueError(f"n_goals must be >= 1, got {cfg['n_goals']}")
    for name in ("death_frac", "ice_frac", "energy_frac"):
        if not _is_number(cfg[name]) or not 0.0 <= cfg[name] <= 1.0:
            raise ValueError(f"{name} must be a number in [0, 1], got {cfg[name]!r}")
    for name in ("lock_wall", "colour_permutation"):
        if not isinstance(cfg[name], (bool, np.bool_)):
            raise TypeError(f"{name} must be True or False, got {cfg[name]!r}")
    if cfg["energy"] is not None and (not _is_int(cfg["energy"]) or not 1 <= cfg["energy"] <= MAX_ENERGY):
        raise ValueError(f"energy must be None (unlimited) or an int in [1, {MAX_ENERGY}], got {cfg['energy']!r}")
    if cfg["energy"] is None and cfg["energy_frac"] > 0:
        raise ValueError("energy_frac must be 0 when energy is None (unlimited): energy tiles would do nothing")
    if cfg["dynamics"] not in DYNAMICS:
        raise ValueError(f"dynamics must be one of {list(DYNAMICS)}, got {cfg['dynamics']!r}")
    if not _is_number(cfg["death_reward"]):
        raise ValueError(f"death_reward must be a finite number, got {cfg['death_reward']!r}")
    if cfg["lock_wall"] and size < 3:
        raise ValueError("lock_wall needs size >= 3")
    cells = size * size
    wall_cells = size if cfg["lock_wall"] else 0
    special = (
        cfg["n_goals"]
        + tile_count(cfg["death_frac"], cells)
        + tile_count(cfg["ice_frac"], cells)
        + 2 * cfg["teleporter_pairs"]
        + tile_count(cfg["energy_frac"], cells)
        + (1 if cfg["lock_wall"] else 0)  # the key
    )
    free = cells - wall_cells - 1  # one normal cell for the start
    if special > free:
        raise ValueError(
            f"tiles do not fit on a {size}x{size} board: n_goals + death_frac/ice_frac/energy_frac "
            f"tiles + 2*teleporter_pairs (+ key) = {special} special tiles, but only {free} cells are "
            f"free (after the wall line and the start); lower the fractions or enlarge size"
        )
    cfg["death_reward"] = float(cfg["death_reward"])
    cfg["lock_wall"] = bool(cfg["lock_wall"])
    cfg["colour_permutation"] = bool(cfg["colour_permutation"])
    return cfg


@dataclasses.dataclass(frozen=True)
class KrazyWorldTask(Task):
    """One Krazy World board and its rules: everything that defines the MDP.

    Attributes:
        size: the board is ``size`` x ``size``.
        tiles: ``size`` strings (rows) of ``size`` tile characters, :data:`TILE_CHARS`:
            ``.`` normal, ``G`` goal, ``~`` ice, ``X`` death, ``#`` wall, ``L`` lock, ``k`` key,
            ``T`` teleporter, ``E`` energy.
        start: ``(row, col)`` of the start cell (a normal cell); fixed within the task.
        colours: ``colours[t]`` is the observation channel / palette colour of tile type ``t``
            (a permutation of ``0..8``): the agent must find out what each colour does.
        moves: the ``(drow, dcol)`` displacement of each of the four actions.
        teleporters: pairs ``((r1, c1), (r2, c2))``; entering one moves the agent to the other.
        energy: starting (and maximum) energy, or None for unlimited.
        energy_replenish: energy added by an energy tile (capped at ``energy``).
        death_reward: reward received on a death tile (the episode then terminates).
        dynamics: the label of the distribution ``moves`` came from (informational).
    """

    size: int = 0
    tiles: tuple = ()
    start: tuple = ()
    colours: tuple = ()
    moves: tuple = ()
    teleporters: tuple = ()
    energy: int | None = None
    energy_replenish: int = 0
    death_reward: float = 0.0
    dynamics: str = "identity"

    FAMILIES: ClassVar[tuple[str, ...]] = ("KrazyWorld",)

    def validate(self) -> None:
        size = self.size
        if not _is_int(size) or not MIN_SIZE <= size <= MAX_SIZE:
            raise ValueError(f"size must be an int in [{MIN_SIZE}, {MAX_SIZE}], got {size!r}")
        if (
            len(self.tiles) != size
            or any(not isinstance(row, str) or len(row) != size for row in self.tiles)
        ):
            raise ValueError(f"tiles must be {size} strings of {size} tile characters {TILE_CHARS!r}")
        text = "".join(self.tiles)
        if not set(text) <= set(TILE_CHARS):
            raise ValueError(f"tiles must use only the tile characters {TILE_CHARS!r} ({', '.join(TILE_NAMES)})")
        if text.count("G") < 1:
            raise ValueError("tiles must contain at least one goal")
        if text.count("k") > 1 or text.count("L") > 1:
            raise ValueError("tiles may contain at most one key and at most one lock")
        if len(self.start) != 2 or not all(_is_int(v) and 0 <= v < size for v in self.start):
            raise ValueError(f"start must be (row, col) on the board, got {self.start!r}")
        if self.tiles[self.start[0]][self.start[1]] != ".":
            raise ValueError(f"start {self.start} must be a normal cell")
        if sorted(self.colours) != list(range(NUM_TILE_TYPES)):
            raise ValueError(f"colours must be a permutation of 0..{NUM_TILE_TYPES - 1}, got {self.colours!r}")
        if len(self.moves) != 4:
            raise ValueError(f"moves must give 4 (drow, dcol) displacements, got {self.moves!r}")
        for move in self.moves:
            if len(move) != 2 or move not in CHESS_MOVES:
                raise ValueError(f"each move must be one of {list(CHESS_MOVES)}, got {move!r}")
        if len(set(self.moves)) != 4:
            raise ValueError(f"moves must be 4 distinct displacements, got {self.moves!r}")
        cells_in_pairs: list[tuple[int, int]] = []
        for pair in self.teleporters:
            if len(pair) != 2 or any(len(cell) != 2 for cell in pair):
                raise ValueError(f"teleporters must be pairs ((r1, c1), (r2, c2)), got {pair!r}")
            for r, c in pair:
                if not (0 <= r < size and 0 <= c < size) or self.tiles[r][c] != "T":
                    raise ValueError(f"teleporter cell {(r, c)} is not a teleporter tile on the board")
                cells_in_pairs.append((r, c))
        tele_cells = [divmod(k, size) for k, ch in enumerate(text) if ch == "T"]
        if sorted(cells_in_pairs) != sorted(tele_cells) or len(set(cells_in_pairs)) != len(cells_in_pairs):
            raise ValueError("every teleporter tile must belong to exactly one pair in teleporters")
        if self.energy is not None and (not _is_int(self.energy) or not 1 <= self.energy <= MAX_ENERGY):
            raise ValueError(f"energy must be None or an int in [1, {MAX_ENERGY}], got {self.energy!r}")
        if not _is_int(self.energy_replenish) or self.energy_replenish < 0:
            raise ValueError(f"energy_replenish must be an int >= 0, got {self.energy_replenish!r}")
        if not _is_number(self.death_reward):
            raise ValueError(f"death_reward must be a finite number, got {self.death_reward!r}")
        object.__setattr__(self, "death_reward", float(self.death_reward))
        if self.dynamics not in DYNAMICS:
            raise ValueError(f"dynamics must be one of {list(DYNAMICS)}, got {self.dynamics!r}")

    # -- convenient views ----------------------------------------------------------------------
    def tiles_array(self) -> np.ndarray:
        """The board as a ``(size, size)`` int8 array of tile types."""
        return tiles_from_text(self.tiles)

    def partner_array(self) -> np.ndarray:
        """Flat ``size*size`` int32 array: the partner cell of each teleporter, -1 elsewhere."""
        partner = np.full(self.size * self.size, -1, dtype=np.int32)
        for (r1, c1), (r2, c2) in self.teleporters:
            a, b = r1 * self.size + c1, r2 * self.size + c2
            partner[a], partner[b] = b, a
        return partner

    def tile_types_present(self) -> frozenset[int]:
        """The tile types on the board (the denominator of 'fraction of tile types visited')."""
        return frozenset(TILE_CHARS.index(ch) for ch in set("".join(self.tiles)))


class KrazyWorldFamily(TaskFamily):
    """The distribution of Krazy World boards for one configuration (see :data:`PRESETS`).

    Boards are built as in ``DESIGN.md``: with ``lock_wall`` a full row or column of walls
    with one lock splits the board; goals, death, ice, teleporter and energy tiles are placed
    on the free cells without replacement (counts = fraction x cells, rounded); the start is
    uniform over the remaining normal cells (every row and column included); the key goes on
    the start's side of the wall. A board is kept only if a goal is reachable from the start
    within the starting energy (refills not counted, so the guarantee is conservative) under
    the task's own moves, ice, teleporters, key and lock; otherwise it is drawn again.
    """

    name = "KrazyWorld"
    task_class = KrazyWorldTask
    max_attempts = 1000

    def __init__(self, **config: Any) -> None:
        super().__init__(**validate_config(config))

    def check_compatible(self, task: Task) -> None:
        size = self.config["size"]
        if task.size != size:  # type: ignore[attr-defined]
            raise ValueError(
                f"task board size {task.size} does not match this env's size={size} "  # type: ignore[attr-defined]
                "(make the env with the task's size)"
            )

    def generate(self, rng: np.random.Generator) -> dict[str, Any]:
        from krazy_gym.krazy_world.engine import goal_reachable

        cfg = self.config
        size = cfg["size"]
        for _ in range(self.max_attempts):
            params = self._draw(rng, cfg)
            if params is None:
                continue
            partner = np.full(size * size, -1, dtype=np.int32)
            for (r1, c1), (r2, c2) in params["teleporters"]:
                partner[r1 * size + c1], partner[r2 * size + c2] = r2 * size + c2, r1 * size + c1
            tiles = tiles_from_text(params["tiles"])
            if goal_reachable(size, tiles, partner, params["moves"], params["start"], cfg["energy"]):
                return params
        raise RuntimeError(
            f"no board with a reachable goal in {self.max_attempts} attempts for {cfg}; "
            "lower the death/ice fractions or raise energy"
        )

    @staticmethod
    def _draw(rng: np.random.Generator, cfg: Mapping[str, Any]) -> dict[str, Any] | None:
        """One candidate board (before the reachability check); None if it cannot hold a key."""
        size = cfg["size"]
        cells = size * size
        tiles = np.zeros(cells, dtype=np.int8)
        free = np.ones(cells, dtype=bool)
        side = None  # side[cell] = 0/1 for the two halves of the wall line, -1 on the line
        if cfg["lock_wall"]:
            horizontal = bool(rng.integers(2))
            line = int(rng.integers(1, size - 1))
            lock_at = int(rng.integers(size))
            rows, cols = np.divmod(np.arange(cells), size)
            coord = rows if horizontal else cols
            along = cols if horizontal else rows
            on_line = coord == line
            tiles[on_line] = WALL
            tiles[on_line & (along == lock_at)] = LOCK
            free[on_line] = False
            side = np.where(on_line, -1, (coord > line).astype(np.int8))
        counts = (
            (GOAL, cfg["n_goals"]),
            (DEATH, tile_count(cfg["death_frac"], cells)),
            (ICE, tile_count(cfg["ice_frac"], cells)),
            (TELEPORTER, 2 * cfg["teleporter_pairs"]),
            (ENERGY, tile_count(cfg["energy_frac"], cells)),
        )
        total = sum(n for _, n in counts)
        chosen = rng.choice(np.flatnonzero(free), size=total, replace=False)
        k = 0
        for tile, n in counts:
            tiles[chosen[k : k + n]] = tile
            k += n
        tele = chosen[total - counts[-1][1] - counts[-2][1] : total - counts[-1][1]]
        teleporters = tuple(
            ((int(a) // size, int(a) % size), (int(b) // size, int(b) % size))
            for a, b in zip(tele[0::2], tele[1::2])
        )
        normal = np.flatnonzero(tiles == NORMAL)
        start = int(rng.choice(normal))
        if side is not None:
            key_cells = normal[(side[normal] == side[start]) & (normal != start)]
            if key_cells.size == 0:
                return None
            tiles[int(rng.choice(key_cells))] = KEY
        colours = rng.permutation(NUM_TILE_TYPES) if cfg["colour_permutation"] else np.arange(NUM_TILE_TYPES)
        text = _CHAR_BYTES[tiles].tobytes().decode()
        return {
            "size": size,
            "tiles": tuple(text[r * size : (r + 1) * size] for r in range(size)),
            "start": (start // size, start % size),
            "colours": colours,
            "moves": draw_moves(rng, cfg["dynamics"]),
            "teleporters": teleporters,
            "energy": cfg["energy"],
            "energy_replenish": cfg["energy_replenish"],
            "death_reward": cfg["death_reward"],
            "dynamics": cfg["dynamics"],
        }


def tiles_from_text(rows: tuple[str, ...] | list[str]) -> np.ndarray:
    """Board rows of tile characters -> ``(size, size)`` int8 array of tile types."""
    codes = _CHAR_TO_TYPE[np.frombuffer("".join(rows).encode(), dtype=np.uint8)]
    return codes.reshape(len(rows), -1).astype(np.int8)


def tiles_to_text(tiles: np.ndarray) -> tuple[str, ...]:
    """``(size, size)`` array of tile types -> board rows of tile characters."""
    tiles = np.asarray(tiles)
    return tuple(_CHAR_BYTES[row.astype(np.intp)].tobytes().decode() for row in tiles)


def draw_moves(rng: np.random.Generator, dynamics: str) -> tuple[tuple[int, int], ...]:
    """The four action displacements under a dynamics mode.

    ``identity``: up, down, left, right. ``permute``: a non-identity permutation of those.
    ``chess``: four distinct displacements from :data:`CHESS_MOVES` (one-step, diagonal and
    two-cell moves), at least one of them diagonal or two-cell.
    """
    if dynamics == "identity":
        return IDENTITY_MOVES
    if dynamics == "permute":
        while True:
            order = rng.permutation(4)
            if not np.array_equal(order, np.arange(4)):
                return tuple(IDENTITY_MOVES[i] for i in order)
    while True:
        picks = rng.choice(len(CHESS_MOVES), size=4, replace=False)
        if np.any(picks >= 4):
            return tuple(CHESS_MOVES[i] for i in picks)
