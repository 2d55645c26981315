"""Krazy World: the grid world whose rules change from task to task (Stadie et al. 2018).

Modules: :mod:`.task` (tiles, task, board generator, presets), :mod:`.engine` (the numba rules
engine, imported lazily), :mod:`.env` (single env), :mod:`.vector` (batched env),
:mod:`.render` (pictures and text), :mod:`.gallery` (PNG boards, GIF episodes).
Importing this package stays light (numpy only).
"""

from krazy_gym.krazy_world.task import (
    PRESET_HORIZONS,
    PRESETS,
    TILE_NAMES,
    KrazyWorldFamily,
    KrazyWorldTask,
)

__all__ = ["PRESETS", "PRESET_HORIZONS", "TILE_NAMES", "KrazyWorldFamily", "KrazyWorldTask"]
