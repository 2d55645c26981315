"""A Gymnasium ``VectorEnv`` as a stable-baselines3 ``VecEnv`` (this module imports SB3).

Use it through :func:`krazy_gym.wrappers.to_sb3`, which imports this module only when called::

    import gymnasium as gym
    from stable_baselines3 import PPO
    import krazy_gym
    from krazy_gym.wrappers import to_sb3

    venv = to_sb3(gym.make_vec("KrazyGym/Maze-v0", num_envs=8))      # native vector env
    PPO("MlpPolicy", venv, n_steps=64, seed=0).learn(2_000)

The inner vector env must autoreset in ``SAME_STEP`` mode, which is what SB3 expects (the
observation returned at a done step is the first of the next episode, the last one is in
``info["terminal_observation"]``). krazy_gym's native vector envs do; for other ids use
``gym.make_vec(id, n, vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP})``, or
:func:`krazy_gym.wrappers.make_trial_vec` for RL² trials (``sb3_contrib.RecurrentPPO``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from stable_baselines3.common.vec_env.base_vec_env import (
    VecEnv,
    VecEnvIndices,
    VecEnvObs,
    VecEnvStepReturn,
)


def vector_info_to_list(info: dict[str, Any], num_envs: int) -> list[dict[str, Any]]:
    """Split a Gymnasium vector ``info`` dict (arrays + ``_key`` masks) into per-env dicts."""
    out: list[dict[str, Any]] = [{} for _ in range(num_envs)]
    for key, value in info.items():
        if key.startswith("_") and key[1:] in info:
            continue
        mask = info.get(f"_{key}")
        if isinstance(value, dict):
            parts = vector_info_to_list(value, num_envs)
            for i in range(num_envs):
                if mask is None or mask[i]:
                    out[i][key] = parts[i]
            continue
        for i in range(num_envs):
            if mask is None or mask[i]:
                try:
                    out[i][key] = value[i]
                except (TypeError, IndexError, KeyError):
                    out[i][key] = value
    return out


class SB3VecEnv(VecEnv):
    """stable-baselines3 ``VecEnv`` over a Gymnasium ``VectorEnv`` with SAME_STEP autoreset.

    * ``reset()`` uses the seeds from ``seed()`` and the options from ``set_options()`` once,
      as SB3's own vector envs do (per-env ``{"task": t}`` options are gathered into one
      ``options={"task": [...]}``, the form krazy_gym's vector envs take).
    * ``step_wait()`` returns ``dones = terminated | truncated``; every done env's info has
      ``"terminal_observation"`` and ``"TimeLimit.truncated"`` (truncated and not terminated).
    * every done env's info also has ``"episode": {"r": return, "l": length, "t": seconds
      since the adapter was made}``, the statistics of SB3's ``Monitor``/``VecMonitor``
      (return summed in float32 as ``VecMonitor`` does), so SB3 logs ``ep_rew_mean`` and
      ``ep_len_mean`` without a monitor; wrapping in ``VecMonitor`` is still fine (it
      replaces them with equal values; each episode is counted once). For a trial env an
      episode is a trial.
    * ``get_attr``/``set_attr``/``env_method`` go through the vector env's
      ``get_attr``/``set_attr``/``call``.
    """

    def __init__(self, vec_env: VectorEnv) -> None:
        if not isinstance(vec_env, VectorEnv):
            raise TypeError(f"to_sb3 needs a gymnasium VectorEnv, got {type(vec_env).__name__}")
        mode = vec_env.metadata.get("autoreset_mode")
        if mode is not None and AutoresetMode(mode) != AutoresetMode.SAME_STEP:
            raise ValueError(
                "to_sb3 needs a vector env with autoreset_mode=SAME_STEP, got "
                f"{AutoresetMode(mode)}; e.g. gym.make_vec(id, n, vector_kwargs="
                '{"autoreset_mode": gymnasium.vector.AutoresetMode.SAME_STEP})'
            )
        self.vec_env = vec_env
        # gymnasium's VectorWrapper does not forward get_attr/set_attr/call: use the base env
        self._attr_env = vec_env if hasattr(vec_env, "get_attr") else vec_env.unwrapped
        self.render_mode = getattr(vec_env, "render_mode", None)
        super().__init__(
            vec_env.num_envs, vec_env.single_observation_space, vec_env.single_action_space
        )
        self._actions: np.ndarray | None = None
        self._t_start = time.time()
        self._episode_returns = np.zeros(self.num_envs, dtype=np.float32)
        self._episode_lengths = np.zeros(self.num_envs, dtype=np.int64)

    def reset(self) -> VecEnvObs:
        seeds = list(self._seeds)
        seed: list[int | None] | None = None if all(s is None for s in seeds) else seeds
        options: dict[str, Any] | None = None
        if any(self._options):
            if all("task" in o for o in self._options):
                options = {"task": [o["task"] for o in self._options]}
                rest = {k: v for k, v in self._options[0].items() if k != "task"}
                options.update(rest)
            else:
                options = dict(self._options[0])
        obs, info = self.vec_env.reset(seed=seed, options=options)
        self._episode_returns[:] = 0.0
        self._episode_lengths[:] = 0
        self.reset_infos = vector_info_to_list(info, self.num_envs)
        self._reset_seeds()
        self._reset_options()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        obs, rewards, terminated, truncated, info = self.vec_env.step(self._actions)
        terminated = np.asarray(terminated, dtype=bool)
        truncated = np.asarray(truncated, dtype=bool)
        final_obs = info.get("final_obs")
        final_mask = info.get("_final_obs")
        final_info = info.get("final_info")
        plain = {k: v for k, v in info.items() if k not in ("final_obs", "_final_obs",
                                                            "final_info", "_final_info")}
        infos = vector_info_to_list(plain, self.num_envs)
        final_infos = (
            vector_info_to_list(final_info, self.num_envs) if isinstance(final_info, dict) else None
        )
        dones = terminated | truncated
        rewards = np.asarray(rewards, dtype=np.float32)
        self._episode_returns += rewards
        self._episode_lengths += 1
        ended = np.flatnonzero(dones)
        now = round(time.time() - self._t_start, 6) if len(ended) else 0.0
        for i in ended:
            if final_infos is not None:
                infos[i] = {**infos[i], **final_infos[i]}
            if final_obs is not None and (final_mask is None or final_mask[i]):
                infos[i]["terminal_observation"] = final_obs[i]
            infos[i]["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
            infos[i]["episode"] = {
                "r": float(self._episode_returns[i]),
                "l": int(self._episode_lengths[i]),
                "t": now,
            }
        self._episode_returns[ended] = 0.0
        self._episode_lengths[ended] = 0
        return obs, rewards, dones, infos

    def close(self) -> None:
        self.vec_env.close()

    def get_images(self) -> Sequence[np.ndarray | None]:
        frames = self.vec_env.render()
        return list(frames) if frames is not None else [None] * self.num_envs

    # -- attribute access ----------------------------------------------------------------------
    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        if attr_name == "render_mode":  # the vector env's own (SB3 asks for it per env)
            return [getattr(self.vec_env, "render_mode", None)] * len(self._get_indices(indices))
        values = list(self._attr_env.get_attr(attr_name))
        return [values[i] for i in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        values = list(self._attr_env.get_attr(attr_name))
        for i in self._get_indices(indices):
            values[i] = value
        self._attr_env.set_attr(attr_name, values)

    def env_method(
        self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **method_kwargs: Any
    ) -> list[Any]:
        results = list(self._attr_env.call(method_name, *method_args, **method_kwargs))
        return [results[i] for i in self._get_indices(indices)]

    def env_is_wrapped(
        self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None
    ) -> list[bool]:
        envs = getattr(self.vec_env.unwrapped, "envs", None)
        result = []
        for i in self._get_indices(indices):
            env = envs[i] if envs is not None else None
            wrapped = False
            while isinstance(env, gym.Wrapper):
                if isinstance(env, wrapper_class):
                    wrapped = True
                    break
                env = env.env
            result.append(wrapped)
        return result
