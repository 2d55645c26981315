"""Exploration metrics recorded at the end of every episode.

Each benchmark names a ``metric_kind``; its extractor turns the info of an episode's last step
(Gymnasium's ``final_info`` under same-step autoreset) into a few numbers per episode:

* ``generic`` (every benchmark): ``episode_length``.
* ``krazy_world``: ``goals`` (goals collected), ``deaths`` (1 if the episode ended on a death
  tile), ``keys``, ``teleports`` and ``tile_types_visited`` as reported by the env, plus
  ``tile_types_visited_fraction`` — the paper's "fraction of tile types visited" (distinct
  tile types stood on / number of tile types).
* ``maze``: ``success`` (1 if the goal was reached) and ``path_length_ratio`` (episode length /
  ``info["optimal_length"]``; ≥ 1 on success).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np

#: fallback number of Krazy World tile types (NORMAL, GOAL, ICE, DEATH, WALL, LOCK, KEY,
#: TELEPORTER, ENERGY); the denominator of the visited fraction is ``NUM_TILE_TYPES`` of
#: ``krazy_gym.krazy_world.task``
KRAZY_WORLD_TILE_TYPES = 9

KRAZY_WORLD_KEYS = ("goals", "deaths", "keys", "teleports", "tile_types_visited")


@functools.cache
def _num_tile_types() -> int:
    try:
        from krazy_gym.krazy_world.task import NUM_TILE_TYPES
    except ImportError:  # pragma: no cover - the family is part of the package
        return KRAZY_WORLD_TILE_TYPES
    return int(NUM_TILE_TYPES)


def _number(value: Any) -> float | None:
    if value is None:
        return None
    arr = np.asarray(value)
    if arr.ndim == 0 and arr.dtype.kind in "biuf":
        return float(arr)
    return None


def info_column(infos: Mapping[str, Any] | None, key: str, rows: np.ndarray) -> np.ndarray:
    """``final_info[key]`` for ``rows`` as float64 (0 where the env reported nothing)."""
    out = np.zeros(len(rows), dtype=np.float64)
    if infos is None:
        return out
    if isinstance(infos, Mapping):
        if key not in infos:
            return out
        values = np.asarray(infos[key])
        if values.dtype == object:
            picked = [_number(values[r]) for r in rows]
            vals = np.array([0.0 if v is None else v for v in picked])
        else:
            vals = values[rows].astype(np.float64)
        mask = infos.get(f"_{key}")
        return vals if mask is None else np.where(np.asarray(mask)[rows], vals, 0.0)
    for j, r in enumerate(rows):  # a sequence of per-row dicts
        item = infos[r]
        num = _number(item.get(key)) if isinstance(item, Mapping) else None
        out[j] = 0.0 if num is None else num
    return out


class MetricRecorder:
    """Collects per-episode metrics for one batch: ``values[name][row, episode]``.

    The runner hands over the episodes that ended in bulk (:meth:`record_events`), with the
    info values the env reported at their last step already read (:meth:`info_keys`,
    :meth:`read_infos`), so nothing here runs per env step.
    """

    def __init__(self, kind: str, num_rows: int, num_episodes: int) -> None:
        self.kind = kind
        self.names = ["episode_length"]
        if kind == "krazy_world":
            self.names += [*KRAZY_WORLD_KEYS, "tile_types_visited_fraction"]
            self._tile_types = _num_tile_types()
        elif kind == "maze":
            self.names += ["success", "path_length_ratio"]
        self.values = {n: np.zeros((num_rows, num_episodes)) for n in self.names}
        self._flat = {n: v.reshape(-1) for n, v in self.values.items()}
        self._episodes = num_episodes
        self._shape = (num_rows,)

    @property
    def info_keys(self) -> tuple[str, ...]:
        """The ``final_info`` keys read at the end of every episode."""
        if self.kind == "krazy_world":
            return KRAZY_WORLD_KEYS
        if self.kind == "maze":
            return ("optimal_length",)
        return ()

    @property
    def needs_terminated(self) -> bool:
        """Whether :meth:`record_events` needs the ``terminated`` flag of each episode end."""
        return self.kind == "maze"

    def read_infos(self, out: np.ndarray, final_infos: Any, rows: np.ndarray) -> None:
        """Write ``final_infos[key]`` of ``rows`` into ``out[k, rows]`` for each of
        :attr:`info_keys` (``out`` is ``[len(info_keys), num_rows]``; other rows are left as
        they are: only the rows that just finished an episode are read later)."""
        if self.kind == "krazy_world":
            fast = isinstance(final_infos, Mapping)
            shape = self._shape
            for k, key in enumerate(KRAZY_WORLD_KEYS):
                column = final_infos.get(key) if fast else None
                if type(column) is np.ndarray and column.shape == shape and column.dtype.kind in "biuf":
                    out[k] = column  # native vector envs: a whole row is cheaper than picking rows
                elif isinstance(column, np.ndarray) and column.dtype.kind in "biuf":
                    # gymnasium layout; every finished row has a final info
                    out[k, rows] = column[rows]
                else:
                    out[k, rows] = info_column(final_infos, key, rows)
        elif self.kind == "maze":
            out[0, rows] = info_column(final_infos, "optimal_length", rows)

    def record_events(
        self,
        rows: np.ndarray,
        episodes: np.ndarray,
        lengths: np.ndarray,
        infos: np.ndarray | None,
        terminated: np.ndarray | None,
    ) -> None:
        """Record episodes that ended: episode ``episodes[i]`` of row ``rows[i]`` lasted
        ``lengths[i]`` steps; ``infos[i, k]`` is its ``info_keys[k]`` at the last step and
        ``terminated[i]`` whether it ended by termination (see :attr:`needs_terminated`)."""
        flat = self._flat  # writes through flat views of the (C-contiguous) value arrays
        at = rows * self._episodes + episodes
        flat["episode_length"][at] = lengths
        if self.kind == "krazy_world":
            for k, key in enumerate(KRAZY_WORLD_KEYS):
                flat[key][at] = infos[:, k]
        elif self.kind == "maze":
            flat["success"][at] = np.asarray(terminated, dtype=np.float64)
            optimal = infos[:, 0]
            safe = np.where(optimal > 0, optimal, 1.0)
            flat["path_length_ratio"][at] = np.where(optimal > 0, lengths / safe, 0.0)

    def finish(self) -> dict[str, np.ndarray]:
        """The recorded arrays, with derived metrics filled in."""
        v = self.values
        if self.kind == "krazy_world":
            v["tile_types_visited_fraction"] = v["tile_types_visited"] / self._tile_types
        return v
