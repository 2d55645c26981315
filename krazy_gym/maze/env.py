"""``MazeEnv`` (``KrazyGym/Maze-v0``): one perfect maze per task; find the unobserved goal.

    >>> import gymnasium as gym, krazy_gym
    >>> env = gym.make("KrazyGym/Maze-v0")                 # 10 x 10 cells, horizon 200
    >>> env = gym.make("KrazyGym/Maze-v0", size=6, view="global", min_distance=8)
    >>> obs, info = env.reset(seed=0)
    >>> obs, reward, terminated, truncated, info = env.step(1)   # move right
    >>> info["optimal_length"]                                    # BFS moves start -> goal

The rules are the kernels in :mod:`krazy_gym.maze.engine` (run here with a batch of one);
mazes, starts and goals come from :mod:`krazy_gym.maze.task`.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from krazy_gym.maze import render as maze_render
from krazy_gym.maze.generator import grid_size
from krazy_gym.maze.task import MazeFamily, MazeTask, check_size, default_horizon
from krazy_gym.tasks import TaskEnvMixin

VIEWS: tuple[str, ...] = ("local", "global")
RENDER_MODES: tuple[str, ...] = ("rgb_array", "human", "ansi")
NUM_ACTIONS = 4
ACTION_NAMES: tuple[str, ...] = ("up", "right", "down", "left")
DEFAULT_WALL_PENALTY = 0.001

_engine: Any = None


def load_engine() -> Any:
    """Import the numba kernels (compiling them or loading the cache) on first use."""
    global _engine
    if _engine is None:
        from krazy_gym.maze import engine

        _engine = engine
    return _engine


@dataclass(frozen=True)
class MazeConfig:
    """Checked options shared by :class:`MazeEnv` and the vector env."""

    size: int
    min_distance: int | None
    view: str
    horizon: int
    wall_penalty: float
    render_mode: str | None

    @property
    def grid(self) -> int:
        return grid_size(self.size)

    @property
    def view_code(self) -> int:
        return VIEWS.index(self.view)

    @property
    def step_cost(self) -> float:
        return 1.0 / self.horizon


def make_config(
    size: int = 10,
    min_distance: int | None = None,
    view: str = "local",
    horizon: int | None = None,
    wall_penalty: float = DEFAULT_WALL_PENALTY,
    render_mode: str | None = None,
) -> MazeConfig:
    """Check every option; errors name the parameter and its allowed values."""
    size = check_size(size)
    MazeFamily(size, min_distance)  # checks min_distance against the size
    if view not in VIEWS:
        raise ValueError(f"view must be one of {list(VIEWS)}, got {view!r}")
    if horizon is None:
        horizon = default_horizon(size)
    if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1:
        raise ValueError(f"horizon must be None or an int >= 1, got {horizon!r}")
    if (
        isinstance(wall_penalty, bool)
        or not isinstance(wall_penalty, (int, float))
        or not math.isfinite(wall_penalty)
        or wall_penalty < 0
    ):
        raise ValueError(f"wall_penalty must be a finite number >= 0, got {wall_penalty!r}")
    if render_mode is not None and render_mode not in RENDER_MODES:
        raise ValueError(
            f"render_mode must be one of {list(RENDER_MODES)} or None, got {render_mode!r}"
        )
    return MazeConfig(size, min_distance, view, int(horizon), float(wall_penalty), render_mode)


def make_observation_space(config: MazeConfig) -> spaces.Box:
    """Local: 9 wall flags (3x3 patch); global: ``G*G`` wall flags + ``G*G`` agent one-hot."""
    n = load_engine().obs_size(config.grid, config.view_code)
    return spaces.Box(0.0, 1.0, shape=(n,), dtype=np.float32)


def check_action(action: Any) -> int:
    """``action`` as an int in ``[0, 4)``, or an error naming the action space."""
    try:
        a = operator.index(action)
    except TypeError:
        raise TypeError(f"action must be an int in [0, 4) (Discrete(4)), got {action!r}") from None
    if not 0 <= a < NUM_ACTIONS:
        raise ValueError(f"action must be in [0, 4) (Discrete(4): up, right, down, left), got {a}")
    return a


class MazeEnv(TaskEnvMixin, gym.Env):
    """A perfect maze whose goal is not observed (the agent must search and remember).

    One episode is one attempt in the current task's maze, always from the task's start cell.

    * Actions: ``Discrete(4)``: 0 up, 1 right, 2 down, 3 left (one cell).
    * Observation (``float32``): ``view="local"`` (default) the 3x3 grid patch around the agent
      (9 wall flags, row-major; the agent sits in the middle, so the four edge-centres say
      which moves are open); ``view="global"`` the whole ``(2m+1)²`` wall grid followed by an
      agent one-hot channel of the same size. The goal is never observed.
    * Reward: ``-1/H`` every step, ``-wall_penalty`` more when the move bumps into a wall (the
      agent stays), ``+1`` on reaching the goal, which terminates. An optimal episode returns
      ``1 - L/H`` (``L = info["optimal_length"]``).
    * Horizon ``H``: the env truncates itself after ``horizon`` steps (the registered id adds no
      ``TimeLimit``); default ``2 m²`` (:func:`~krazy_gym.maze.task.default_horizon`).
    * ``info``: ``optimal_length`` (BFS moves from start to goal) and ``steps``.

    Args:
        size: cells per side m >= 2 (default 10).
        min_distance: the goal is at least this many moves from the start, in
            ``[1, 2(m-1)]`` (default m).
        view: ``"local"`` or ``"global"``.
        horizon: episode length H (default ``2 m²``).
        wall_penalty: extra cost of bumping into a wall (default 0.001).
        render_mode: ``"rgb_array"``, ``"human"`` (pygame, imported on first use) or ``"ansi"``.
    """

    metadata = {"render_modes": list(RENDER_MODES), "render_fps": 8}

    def __init__(
        self,
        size: int = 10,
        min_distance: int | None = None,
        view: str = "local",
        horizon: int | None = None,
        wall_penalty: float = DEFAULT_WALL_PENALTY,
        render_mode: str | None = None,
    ) -> None:
        self.config = make_config(size, min_distance, view, horizon, wall_penalty, render_mode)
        self.task_family = MazeFamily(self.config.size, min_distance)
        self.render_mode = render_mode
        self.horizon = self.config.horizon
        self.observation_space = make_observation_space(self.config)
        self.action_space = spaces.Discrete(NUM_ACTIONS)
        eng = load_engine()
        cfg, g = self.config, self.config.grid
        self._codes = np.zeros((1, cfg.size * cfg.size), dtype=np.uint8)
        self._walls = np.ones((1, g * g), dtype=np.uint8)
        self._start = np.zeros(1, dtype=np.int32)
        self._goal = np.zeros(1, dtype=np.int32)
        self._pos = np.zeros(1, dtype=np.int32)
        self._t = np.zeros(1, dtype=np.int32)
        self._obs = np.zeros((1, self.observation_space.shape[0]), dtype=np.float32)
        self._actions = np.zeros(1, dtype=np.int64)
        self._rewards = np.zeros(1, dtype=np.float64)
        self._terminated = np.zeros(1, dtype=np.bool_)
        self._truncated = np.zeros(1, dtype=np.bool_)
        self._all = np.ones(1, dtype=np.bool_)
        kconfig = eng.kernel_config(cfg.size, cfg.view_code, cfg.horizon, False)
        costs = np.array([cfg.step_cost, cfg.wall_penalty], dtype=np.float64)
        self._step_args = (
            self._actions, self._codes, self._walls, self._start, self._goal, self._pos, self._t, kconfig,
            costs, self._obs, self._rewards, self._terminated, self._truncated, self._obs, self._t,
        )  # fmt: skip
        self._reset_args = (self._all, self._codes, self._walls, self._start, self._pos, self._t,
                            kconfig, self._obs)
        self._bind_kernels()
        self._optimal_length = 0
        self._window = None
        self._clock = None

    def _bind_kernels(self) -> None:
        eng = load_engine()
        self._step_kernel = eng.fast_entry(eng.step_batch, *self._step_args)
        self._reset_kernel = eng.fast_entry(eng.reset_batch, *self._reset_args)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_window"] = state["_clock"] = None  # a pygame window does not pickle
        del state["_step_kernel"], state["_reset_kernel"]  # nor do compiled entry points
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._bind_kernels()

    # -- tasks -----------------------------------------------------------------------------------
    def _apply_task(self, task: MazeTask) -> None:
        codes, walls, start, goal = load_engine().pack_task(task)
        self._codes[0] = codes
        self._walls[0] = walls
        self._start[0] = start
        self._goal[0] = goal
        self._optimal_length = int(task.optimal_length)

    # -- gymnasium API ---------------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._reset_task(options)
        self._reset_kernel(*self._reset_args)
        if self.render_mode == "human":
            self.render()
        return self._obs[0].copy(), {"optimal_length": self._optimal_length, "steps": 0}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._task is None:
            raise RuntimeError("call reset() before step()")
        self._actions[0] = check_action(action)
        self._step_kernel(*self._step_args)
        if self.render_mode == "human":
            self.render()
        info = {"optimal_length": self._optimal_length, "steps": int(self._t[0])}
        return (
            self._obs[0].copy(),
            float(self._rewards[0]),
            bool(self._terminated[0]),
            bool(self._truncated[0]),
            info,
        )

    # -- views of the running episode ------------------------------------------------------------
    @property
    def agent_cell(self) -> tuple[int, int]:
        """``(row, col)`` cell of the agent."""
        return divmod(int(self._pos[0]), self.config.size)

    # -- rendering -------------------------------------------------------------------------------
    def render(self) -> np.ndarray | str | None:
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass one to the constructor")
            return None
        if self._task is None:
            raise RuntimeError("call reset() before render()")
        g = self.config.grid
        walls = self._walls[0].reshape(g, g)
        to_grid = load_engine().cell_to_grid
        m = self.config.size
        args = (walls, to_grid(self._start[0], m), to_grid(self._goal[0], m),
                to_grid(self._pos[0], m))
        if self.render_mode == "ansi":
            return maze_render.maze_text(*args)
        image = maze_render.maze_image(*args)
        if self.render_mode == "rgb_array":
            return image
        maze_render.show_human(self, image, self.metadata["render_fps"])
        return None

    def close(self) -> None:
        maze_render.close_human(self)
        super().close()
