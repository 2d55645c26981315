"""``KrazyWorldEnv``: the single Krazy World environment (a batch of one on the compiled engine).

    >>> import gymnasium as gym, krazy_gym
    >>> env = gym.make("KrazyGym/KrazyWorld-Hard-v0")                  # preset, horizon 100
    >>> env = gym.make("KrazyGym/KrazyWorld-v0", size=6, dynamics="permute", view="global")
    >>> obs, info = env.reset(seed=0)
    >>> obs, reward, terminated, truncated, info = env.step(env.action_space.sample())

The rules are in :mod:`krazy_gym.krazy_world.engine`; the task distribution and presets in
:mod:`krazy_gym.krazy_world.task`.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from krazy_gym.krazy_world import render as kw_render
from krazy_gym.krazy_world.task import (
    MAX_ENERGY,
    NUM_CHANNELS,
    NUM_TILE_TYPES,
    PRESETS,
    KrazyWorldFamily,
    KrazyWorldTask,
    validate_config,
)
from krazy_gym.tasks import TaskEnvMixin

VIEWS: tuple[str, ...] = ("local", "global")
OBS_MODES: tuple[str, ...] = ("onehot", "index", "rgb")
RENDER_MODES: tuple[str, ...] = ("rgb_array", "human", "ansi")
NUM_ACTIONS = 4

_engine: Any = None


def load_engine() -> Any:
    """Import the numba engine (compiling or loading the cached kernels) on first use."""
    global _engine
    if _engine is None:
        from krazy_gym.krazy_world import engine

        _engine = engine
    return _engine


@dataclass(frozen=True)
class EnvConfig:
    """Checked options of a Krazy World env: the task distribution and the observation."""

    task_config: dict[str, Any]
    view: str
    obs_mode: str
    render_mode: str | None

    @property
    def size(self) -> int:
        return self.task_config["size"]

    @property
    def view_code(self) -> int:
        return VIEWS.index(self.view)

    @property
    def kernel_mode(self) -> int:
        """The engine's observation mode: one-hot, or channel indices (rgb is drawn from them)."""
        return 0 if self.obs_mode == "onehot" else 1


def make_config(
    preset: str | None, view: str, obs_mode: str, render_mode: str | None, options: Mapping[str, Any]
) -> EnvConfig:
    """Check every option; errors name the parameter and its allowed values.

    ``preset`` fills the task-distribution options; explicit ``options`` override it.
    """
    if preset is not None and preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)} or None, got {preset!r}")
    if view not in VIEWS:
        raise ValueError(f"view must be one of {list(VIEWS)}, got {view!r}")
    if obs_mode not in OBS_MODES:
        raise ValueError(f"obs_mode must be one of {list(OBS_MODES)}, got {obs_mode!r}")
    if render_mode is not None and render_mode not in RENDER_MODES:
        raise ValueError(f"render_mode must be one of {list(RENDER_MODES)} or None, got {render_mode!r}")
    base = dict(PRESETS[preset]) if preset is not None else {}
    task_config = validate_config({**base, **options})
    return EnvConfig(task_config, view, obs_mode, render_mode)


def make_spaces(config: EnvConfig) -> tuple[spaces.Space, spaces.Discrete]:
    """The observation and action spaces of one env."""
    size = config.size
    local = config.view == "local"
    if config.obs_mode == "rgb":
        obs_space: spaces.Space = spaces.Box(0, 255, kw_render.rgb_obs_shape(size, local), np.uint8)
    elif config.obs_mode == "onehot":
        cells = 9 if local else size * size
        obs_space = spaces.Box(0.0, 1.0, (cells * NUM_CHANNELS + 2,), np.float32)
    else:
        # colour channel per visible cell (local adds the outside channel), [agent cell,] energy, key
        if local:
            nvec = [NUM_CHANNELS] * 9 + [MAX_ENERGY + 1, 2]
        else:
            nvec = [NUM_TILE_TYPES] * (size * size) + [size * size, MAX_ENERGY + 1, 2]
        obs_space = spaces.MultiDiscrete(np.array(nvec), dtype=np.uint8)
    return obs_space, spaces.Discrete(NUM_ACTIONS)


def check_action(action: Any) -> int:
    """``action`` as an int in ``[0, 4)``, or a TypeError/ValueError naming the action space."""
    try:
        a = operator.index(action)
    except TypeError:
        raise TypeError(
            f"action must be an int in [0, {NUM_ACTIONS}) (Discrete({NUM_ACTIONS})), got {action!r}"
        ) from None
    if not 0 <= a < NUM_ACTIONS:
        raise ValueError(f"action must be in [0, {NUM_ACTIONS}) (Discrete({NUM_ACTIONS})), got {a}")
    return a


def rgb_from_index(index_obs: np.ndarray, size: int, local: bool, energy_cap: np.ndarray, out: np.ndarray):
    """Draw rgb observations (``[N, H, W, 3]``) from the engine's index observations ``[N, D]``."""
    g = 3 if local else size
    cells = g * g
    channels = index_obs[:, :cells].reshape(-1, g, g)
    if local:
        agent = np.full(len(index_obs), 4)
        tail = cells
    else:
        agent = index_obs[:, cells].astype(np.intp)
        tail = cells + 1
    limited = energy_cap > 0
    energy = index_obs[:, tail].astype(np.float64)
    frac = np.where(limited, energy / np.maximum(energy_cap, 1), 1.0)
    return kw_render.draw_rgb_obs(channels, agent, frac, index_obs[:, tail + 1], out)


class KrazyWorldEnv(TaskEnvMixin, gym.Env):
    """Krazy World (Stadie et al. 2018, Appendix A) as a Gymnasium meta-env.

    One episode is one episode of the current task; ``reset()`` keeps the task (see
    :mod:`krazy_gym.tasks`). Actions: ``Discrete(4)``, mapped to displacements by the task's
    dynamics. Rewards: +1 per goal (once per episode), ``death_reward`` on death.

    Args:
        preset: ``"easy"``, ``"medium"`` or ``"hard"`` (task-distribution defaults; keywords
            below override them). None: the Hard values, overridable one by one.
        view: ``"local"`` (3x3 window, off-board cells in their own channel) or ``"global"``
            (whole board plus an agent channel).
        obs_mode: ``"onehot"`` (flat float32: the visible cells one-hot over 10 channels, then
            energy fraction and key flag), ``"index"`` (uint8 channel indices, then [agent cell,]
            energy units (254 = unlimited) and key flag) or ``"rgb"`` (uint8 image, 12 pixels per
            cell plus a 4-pixel energy/key strip).
        render_mode: ``"rgb_array"``, ``"human"`` (pygame window) or ``"ansi"``.
        **options: task-distribution options: ``size``, ``n_goals``, ``death_frac``, ``ice_frac``,
            ``lock_wall``, ``teleporter_pairs``, ``energy`` (None = unlimited),
            ``energy_replenish``, ``energy_frac``, ``dynamics`` (``identity``/``permute``/``chess``),
            ``colour_permutation``, ``death_reward``.

    ``info`` after every reset and step (this episode's counters): ``goals``, ``deaths``,
    ``tile_types_visited`` (distinct tile types stood on), ``keys``, ``teleports``.
    """

    metadata = {"render_modes": list(RENDER_MODES), "render_fps": 6}

    def __init__(
        self,
        preset: str | None = None,
        view: str = "local",
        obs_mode: str = "onehot",
        render_mode: str | None = None,
        **options: Any,
    ) -> None:
        self.config = make_config(preset, view, obs_mode, render_mode, options)
        self.preset = preset
        self.render_mode = render_mode
        self.observation_space, self.action_space = make_spaces(self.config)
        self.task_family = KrazyWorldFamily(**self.config.task_config)
        eng = load_engine()
        size = self.config.size
        cells = (size + 2) ** 2  # the engine's boards are padded with an OUTSIDE border
        obs_len = eng.obs_size(size, self.config.view_code, self.config.kernel_mode)
        obs_dtype = np.float32 if self.config.kernel_mode == 0 else np.uint8
        self._params = np.zeros((1, eng.HEADER), dtype=np.int32)
        self._layout = np.zeros((1, 2 * cells), dtype=np.int16)
        self._death_reward = np.zeros(1, dtype=np.float64)
        self._board = np.zeros((1, cells), dtype=np.uint8)
        self._state = np.zeros((1, eng.STATE_SIZE), dtype=np.int32)
        self._obs = np.zeros((1, obs_len), dtype=obs_dtype)
        codes = (size, self.config.view_code, self.config.kernel_mode)
        # the arguments of the engine's single-env kernels (the step kernel's action goes last)
        self._step_args = (self._params, self._layout, self._board, self._state, self._death_reward, self._obs, *codes)
        self._reset_args = (self._params, self._layout, self._board, self._state, self._obs, *codes)
        self._bind_kernels()
        self._rgb = obs_mode == "rgb"
        self._window = None
        self._clock = None

    def _bind_kernels(self) -> None:
        eng = load_engine()
        self._obs_row = self._obs[0]  # a view: rebuilt after unpickling, which would copy it
        self._step_kernel = eng.fast_entry(eng.step_single, *self._step_args, 0)
        self._reset_kernel = eng.fast_entry(eng.reset_single, *self._reset_args)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_window"] = state["_clock"] = None  # a pygame window does not pickle
        del state["_step_kernel"], state["_reset_kernel"]  # compiled entry points do not either
        del state["_obs_row"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._bind_kernels()

    # -- tasks -----------------------------------------------------------------------------------
    def _apply_task(self, task: KrazyWorldTask) -> None:
        row, layout, death_reward = load_engine().pack_task(task)
        self._params[0] = row
        self._layout[0] = layout
        self._death_reward[0] = death_reward

    # -- gymnasium API -----------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self._reset_task(options)
        goals, deaths, n_visited, keys, teleports = self._reset_kernel(*self._reset_args)
        if self.render_mode == "human":
            self.render()
        info = {"goals": goals, "deaths": deaths, "tile_types_visited": n_visited, "keys": keys, "teleports": teleports}
        return self._observation(), info

    def step(self, action: Any):
        if self._task is None:
            raise RuntimeError("call reset() before step()")
        if type(action) is not int or not 0 <= action < NUM_ACTIONS:
            action = check_action(action)  # raises, or converts (numpy integers, bools)
        reward, terminated, goals, deaths, n_visited, keys, teleports = self._step_kernel(*self._step_args, action)
        if self.render_mode == "human":
            self.render()
        return (
            self._obs_row.copy() if not self._rgb else self._observation(),
            reward,
            terminated,
            False,
            {"goals": goals, "deaths": deaths, "tile_types_visited": n_visited, "keys": keys, "teleports": teleports},
        )

    def _observation(self) -> np.ndarray:
        if self._rgb:
            shape = self.observation_space.shape
            out = np.empty((1, *shape), dtype=np.uint8)
            cap = np.maximum(self._params[:, 1], 0)
            return rgb_from_index(self._obs, self.config.size, self.config.view == "local", cap, out)[0]
        return self._obs_row.copy()

    # -- views of the running episode ------------------------------------------------------------
    @property
    def agent_cell(self) -> tuple[int, int]:
        """``(row, col)`` of the agent."""
        return _engine.unpadded(self.config.size, self._state[0, 0])

    @property
    def energy(self) -> int | None:
        """Energy left (None when unlimited)."""
        return None if self._params[0, 1] < 0 else int(self._state[0, 1])

    @property
    def has_key(self) -> bool:
        return bool(self._state[0, 2])

    def board(self) -> np.ndarray:
        """The current tiles, ``(size, size)`` (collected goals, keys, refills, opened lock are normal)."""
        return _engine.unpad_board(self.config.size, self._board[0]).copy()

    # -- rendering ---------------------------------------------------------------------------------
    def render(self) -> np.ndarray | str | None:
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode to the constructor")
            return None
        if self._task is None:
            raise RuntimeError("call reset() before render()")
        size = self.config.size
        r, c = self.agent_cell
        board = _engine.unpad_board(size, self._board[0])
        if self.render_mode == "ansi":
            return kw_render.board_text(self._task, board, r * size + c)
        image = kw_render.board_image(self._task, board, r * size + c)
        if self.render_mode == "rgb_array":
            return image
        self._render_human(image)
        return None

    def _render_human(self, image: np.ndarray) -> None:
        import pygame  # lazily: only render_mode="human" needs it

        if self._window is None:
            pygame.init()
            pygame.display.init()
            self._window = pygame.display.set_mode((image.shape[1], image.shape[0]))
            pygame.display.set_caption("Krazy World")
            self._clock = pygame.time.Clock()
        surface = pygame.surfarray.make_surface(np.transpose(image, (1, 0, 2)))
        self._window.blit(surface, (0, 0))
        pygame.event.pump()
        pygame.display.flip()
        self._clock.tick(self.metadata["render_fps"])

    def close(self) -> None:
        if self._window is not None:
            import pygame

            pygame.display.quit()
            pygame.quit()
            self._window = None
        super().close()
