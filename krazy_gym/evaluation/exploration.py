"""Exploration metrics recorded at the end of every episode.

Each benchmark names a ``metric_kind``; its extractor turns the info of an episode's last step
(Gymnasium's ``final_info`` under same-step autoreset) into a few numbers per episode:

* ``generic`` (every benchmark): ``episode_length``.
* ``krazy_world``: ``goals`` (goals collected), ``deaths`` (1 if the episode ended on a death
  tile), ``keys``, ``teleports`` and ``tile_types_visited`` as reported by the env, plus
  ``tile_types_visited_fraction`` — the paper's "fraction of tile types visited".
* ``maze``: ``success`` (1 if the goal was reached) and ``path_length_ratio`` (episode length /
  ``info["optimal_length"]``; ≥ 1 on success).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

#: number of Krazy World tile types (NORMAL, GOAL, ICE, DEATH, WALL, LOCK, KEY, TELEPORTER,
#: ENERGY): the denominator of the visited fraction when the env reports a count
KRAZY_WORLD_TILE_TYPES = 9

KRAZY_WORLD_KEYS = ("goals", "deaths", "keys", "teleports", "tile_types_visited")


def info_value(infos: Mapping[str, Any], key: str, row: int) -> Any:
    """``infos[key][row]`` of a vector-env info dict (None if the row has no such entry)."""
    if key not in infos:
        return None
    mask = infos.get(f"_{key}")
    if mask is not None and not bool(np.asarray(mask)[row]):
        return None
    return infos[key][row]


def final_info(infos: Mapping[str, Any], row: int) -> dict[str, Any]:
    """The info of ``row``'s last step when its episode just ended (same-step autoreset).

    Handles Gymnasium's layout (``infos["final_info"]`` a dict of per-row arrays with
    ``_key`` masks) and a per-row sequence of dicts.
    """
    fi = infos.get("final_info")
    if fi is None:
        return {}
    if isinstance(fi, Mapping):
        out = {}
        for key in fi:
            if key.startswith("_"):
                continue
            value = info_value(fi, key, row)
            if value is not None:
                out[key] = value
        return out
    item = fi[row]
    return dict(item) if isinstance(item, Mapping) else {}


def _number(value: Any) -> float | None:
    if value is None:
        return None
    arr = np.asarray(value)
    if arr.ndim == 0 and arr.dtype.kind in "biuf":
        return float(arr)
    return None


class MetricRecorder:
    """Collects per-episode metrics for one batch: ``values[name][row][episode]``."""

    def __init__(self, kind: str, num_rows: int, num_episodes: int) -> None:
        self.kind = kind
        self.names = ["episode_length"]
        if kind == "krazy_world":
            self.names += [*KRAZY_WORLD_KEYS, "tile_types_visited_fraction"]
        elif kind == "maze":
            self.names += ["success", "path_length_ratio"]
        self.values = {n: np.zeros((num_rows, num_episodes)) for n in self.names}

    def record(
        self, row: int, episode: int, info: Mapping[str, Any], length: int, terminated: bool
    ) -> None:
        v = self.values
        v["episode_length"][row, episode] = length
        if self.kind == "krazy_world":
            for key in KRAZY_WORLD_KEYS:
                num = _number(info.get(key))
                if num is None and key == "tile_types_visited" and key in info:
                    num = float(np.count_nonzero(np.asarray(info[key])))
                v[key][row, episode] = 0.0 if num is None else num
            raw = info.get("tile_types_visited")
            if raw is not None and np.asarray(raw).ndim == 1:
                total = np.asarray(raw).size
            else:
                total = int(info.get("num_tile_types", KRAZY_WORLD_TILE_TYPES))
            v["tile_types_visited_fraction"][row, episode] = v["tile_types_visited"][row, episode] / total
        elif self.kind == "maze":
            v["success"][row, episode] = 1.0 if terminated else 0.0
            optimal = _number(info.get("optimal_length"))
            v["path_length_ratio"][row, episode] = length / optimal if optimal else 0.0
