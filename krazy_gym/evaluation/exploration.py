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

from collections.abc import Mapping
from typing import Any

import numpy as np

#: fallback number of Krazy World tile types (NORMAL, GOAL, ICE, DEATH, WALL, LOCK, KEY,
#: TELEPORTER, ENERGY); the denominator of the visited fraction is ``NUM_TILE_TYPES`` of
#: ``krazy_gym.krazy_world.task``
KRAZY_WORLD_TILE_TYPES = 9

KRAZY_WORLD_KEYS = ("goals", "deaths", "keys", "teleports", "tile_types_visited")


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
    """Collects per-episode metrics for one batch: ``values[name][row, episode]``."""

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

    def record(
        self,
        rows: np.ndarray,
        episodes: np.ndarray,
        final_infos: Mapping[str, Any] | None,
        lengths: np.ndarray,
        terminated: np.ndarray,
    ) -> None:
        """Record the episodes that just ended in ``rows`` (vectorised over rows)."""
        flat = self._flat  # writes through flat views of the (C-contiguous) value arrays
        at = rows * self._episodes + episodes
        flat["episode_length"][at] = lengths
        if self.kind == "krazy_world":
            fast = isinstance(final_infos, Mapping)
            for key in KRAZY_WORLD_KEYS:
                column = final_infos.get(key) if fast else None
                if isinstance(column, np.ndarray) and column.dtype.kind in "biuf":
                    # gymnasium layout; every finished row has a final info
                    flat[key][at] = column[rows]
                else:
                    flat[key][at] = info_column(final_infos, key, rows)
        elif self.kind == "maze":
            flat["success"][at] = np.asarray(terminated, dtype=np.float64)
            optimal = info_column(final_infos, "optimal_length", rows)
            safe = np.where(optimal > 0, optimal, 1.0)
            flat["path_length_ratio"][at] = np.where(optimal > 0, lengths / safe, 0.0)

    def finish(self) -> dict[str, np.ndarray]:
        """The recorded arrays, with derived metrics filled in."""
        v = self.values
        if self.kind == "krazy_world":
            v["tile_types_visited_fraction"] = v["tile_types_visited"] / self._tile_types
        return v
