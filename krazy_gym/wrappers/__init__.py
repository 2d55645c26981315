"""Wrappers for krazy_gym envs: RL² trials, flat encodings and the stable-baselines3 adapter.

* :class:`TrialWrapper` / :class:`TrialVectorWrapper` / :func:`make_trial_vec`: one
  (vector) env episode = one RL² trial of ``episodes_per_trial`` episodes of one task;
  :class:`TrialLayout` builds the same inputs outside a wrapper.
* :class:`SpaceEncoder`: flat float32 encodings (one-hot for discrete spaces).
* :func:`to_sb3`: a Gymnasium ``VectorEnv`` as a stable-baselines3 ``VecEnv`` (imports
  stable-baselines3 only when called).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from krazy_gym.wrappers.flatten import SpaceEncoder
from krazy_gym.wrappers.trial import TrialLayout, TrialVectorWrapper, TrialWrapper, make_trial_vec

if TYPE_CHECKING:
    from gymnasium.vector import VectorEnv

    from krazy_gym.wrappers.sb3 import SB3VecEnv

__all__ = ["SpaceEncoder", "TrialLayout", "TrialVectorWrapper", "TrialWrapper", "make_trial_vec", "to_sb3"]


def to_sb3(vec_env: VectorEnv, **kwargs: Any) -> SB3VecEnv:
    """Wrap a Gymnasium ``VectorEnv`` as a stable-baselines3 ``VecEnv``.

    See :class:`krazy_gym.wrappers.sb3.SB3VecEnv` (the keyword arguments go to it).
    """
    from krazy_gym.wrappers.sb3 import SB3VecEnv

    return SB3VecEnv(vec_env, **kwargs)
