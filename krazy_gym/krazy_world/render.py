"""Pictures of Krazy World, drawn with numpy: observation images, board images and text.

Two palettes are used:

* :data:`CHANNEL_PALETTE` colours observation *channels*. Under a task's colour permutation,
  tile type ``t`` shows as ``CHANNEL_PALETTE[task.colours[t]]`` in ``obs_mode="rgb"``
  observations, exactly as it lands in one-hot channel ``task.colours[t]``: the agent sees
  colours, not tile types.
* :data:`TILE_PALETTE` colours tile *types* and is used by ``render()`` and the gallery, so
  that a person looking at a board sees the rules (green goal, red death, light blue ice...).
"""

from __future__ import annotations

import numpy as np

from krazy_gym.krazy_world.task import NUM_TILE_TYPES, TILE_CHARS, KrazyWorldTask

#: colour of each tile type for people: normal, goal, ice, death, wall, lock, key, teleporter, energy
TILE_PALETTE = np.array(
    [
        (205, 205, 205),  # normal: light grey
        (60, 180, 75),  # goal: green
        (120, 210, 255),  # ice: light blue
        (220, 30, 60),  # death: red
        (70, 70, 70),  # wall: dark grey
        (145, 30, 180),  # lock: purple
        (255, 215, 0),  # key: yellow
        (240, 60, 230),  # teleporter: magenta
        (245, 130, 48),  # energy: orange
    ],
    dtype=np.uint8,
)
#: colour of each observation channel (0..8 tile colours, 9 = outside the board)
CHANNEL_PALETTE = np.concatenate([TILE_PALETTE, np.zeros((1, 3), dtype=np.uint8)])
AGENT_COLOUR = np.array((255, 255, 255), dtype=np.uint8)
OBS_CELL_PX = 12  # pixels per cell in rgb observations (3x3 window -> 36x36, plus a status strip)
STATUS_PX = 4


def rgb_obs_shape(size: int, local: bool) -> tuple[int, int, int]:
    """Shape of an ``obs_mode="rgb"`` observation: the cells, then a 4-pixel status strip."""
    cells = 3 if local else size
    return (cells * OBS_CELL_PX + STATUS_PX, cells * OBS_CELL_PX, 3)


def draw_rgb_obs(
    channels: np.ndarray, agent_cell: np.ndarray, energy_frac: np.ndarray, key: np.ndarray, out: np.ndarray
) -> np.ndarray:
    """Draw a batch of rgb observations into ``out`` (``[N, H, W, 3]`` uint8) and return it.

    Args:
        channels: ``[N, g, g]`` observation channel of every visible cell.
        agent_cell: ``[N]`` flat index of the agent's cell inside the ``g x g`` grid.
        energy_frac: ``[N]`` energy fraction (drawn as a white bar in the status strip).
        key: ``[N]`` key-held flag (a yellow square at the right of the status strip).
    """
    n, g, _ = channels.shape
    px = OBS_CELL_PX
    grid = CHANNEL_PALETTE[channels]  # [N, g, g, 3]
    out[:, : g * px] = np.repeat(np.repeat(grid, px, axis=1), px, axis=2)
    rows, cols = np.divmod(agent_cell.astype(np.intp), g)
    lo = px // 3
    for dy in range(lo, px - lo):
        for dx in range(lo, px - lo):
            out[np.arange(n), rows * px + dy, cols * px + dx] = AGENT_COLOUR
    strip = out[:, g * px :]
    strip[...] = 0
    width = g * px - STATUS_PX
    bar = np.rint(np.clip(energy_frac, 0.0, 1.0) * width).astype(np.intp)
    filled = np.arange(width)[None, :] < bar[:, None]  # [N, width]
    np.copyto(strip[:, :, :width], AGENT_COLOUR, where=filled[:, None, :, None])
    strip[key.astype(bool), :, width:] = TILE_PALETTE[6]
    return out


def board_image(
    task: KrazyWorldTask, board: np.ndarray | None = None, agent: int | None = None, cell_px: int = 24
) -> np.ndarray:
    """An ``[H, W, 3]`` uint8 picture of a board in :data:`TILE_PALETTE` colours.

    Args:
        task: the task (its tiles are drawn when ``board`` is None).
        board: flat current tiles (collected goals, keys... already normal), optional.
        agent: flat index of the agent's cell (None: the task's start).
        cell_px: pixels per cell.
    """
    size = task.size
    tiles = task.tiles_array().ravel() if board is None else np.asarray(board).ravel()
    if agent is None:
        agent = task.start[0] * size + task.start[1]
    image = TILE_PALETTE[tiles.reshape(size, size).astype(np.intp)]
    image = np.repeat(np.repeat(image, cell_px, axis=0), cell_px, axis=1)
    # thin grid lines so that neighbouring cells of one type stay distinguishable
    image[::cell_px, :] = image[::cell_px, :] // 2
    image[:, ::cell_px] = image[:, ::cell_px] // 2
    r, c = divmod(int(agent), size)
    lo, hi = cell_px // 4, cell_px - cell_px // 4
    image[r * cell_px + lo : r * cell_px + hi, c * cell_px + lo : c * cell_px + hi] = 0
    image[r * cell_px + lo + 1 : r * cell_px + hi - 1, c * cell_px + lo + 1 : c * cell_px + hi - 1] = AGENT_COLOUR
    # teleporter partners share a dot colour so pairs can be told apart
    for k, pair in enumerate(task.teleporters):
        shade = np.array([(40 * k) % 256, 0, 255 - (40 * k) % 256], dtype=np.uint8)
        for tr, tc in pair:
            if tiles[tr * size + tc] == 7:
                y, x = tr * cell_px + cell_px // 2, tc * cell_px + cell_px // 2
                image[y - 2 : y + 2, x - 2 : x + 2] = shade
    return image


def board_text(task: KrazyWorldTask, board: np.ndarray | None = None, agent: int | None = None) -> str:
    """The board as text: one character per tile (see :data:`TILE_CHARS`), ``@`` for the agent."""
    size = task.size
    tiles = task.tiles_array().ravel() if board is None else np.asarray(board).ravel()
    if agent is None:
        agent = task.start[0] * size + task.start[1]
    chars = [TILE_CHARS[int(t)] for t in tiles]
    chars[int(agent)] = "@"
    return "\n".join("".join(chars[r * size : (r + 1) * size]) for r in range(size)) + "\n"


assert len(TILE_CHARS) == NUM_TILE_TYPES == len(TILE_PALETTE)
