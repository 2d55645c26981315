"""Discounted returns, GAE and the linear feature baseline, on padded episode batches.

Episode batches are arrays shaped ``(..., T)`` (any leading dims: tasks, episodes) with a
``mask`` that is 1 on real steps and 0 after the episode ended. An episode's end is treated as
terminal (value 0 after the last step), as in rllab/ProMP: the linear baseline's time features
let it predict the shrinking return near the horizon.

The linear feature baseline (Duan et al. 2016, used by MAML and ProMP) predicts the return
from ``[o, o², t, t², t³, 1]`` with ``o`` clipped to ±10 and ``t = step / 100``, fitted by
ridge regression (coefficient 1e-5, raised ×10 while the solve is not finite). Here it is
fitted for every task at once (one batched solve).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def discounted_returns(rewards: np.ndarray, mask: np.ndarray, gamma: float) -> np.ndarray:
    """``R_t = Σ_{l ≥ 0} γ^l r_{t+l}`` within each episode (0 on padding)."""
    rewards = rewards * mask
    out = np.zeros_like(rewards)
    running = np.zeros(rewards.shape[:-1], dtype=rewards.dtype)
    for t in range(rewards.shape[-1] - 1, -1, -1):
        running = rewards[..., t] + gamma * running * mask[..., t]
        out[..., t] = running
    return out * mask


def gae(
    rewards: np.ndarray, values: np.ndarray, mask: np.ndarray, gamma: float, lam: float
) -> np.ndarray:
    """Generalised advantage estimates ``A_t = Σ_l (γλ)^l δ_{t+l}``, ``δ_t = r_t + γV_{t+1} − V_t``.

    ``V`` after the episode's last step is 0. With ``lam=1`` this is ``R_t − V_t``.
    """
    values = values * mask
    next_values = np.concatenate([values[..., 1:], np.zeros_like(values[..., :1])], axis=-1)
    next_values = next_values * np.concatenate([mask[..., 1:], np.zeros_like(mask[..., :1])], -1)
    deltas = (rewards + gamma * next_values - values) * mask
    adv = np.zeros_like(deltas)
    running = np.zeros(deltas.shape[:-1], dtype=deltas.dtype)
    for t in range(deltas.shape[-1] - 1, -1, -1):
        running = deltas[..., t] + gamma * lam * running
        adv[..., t] = running
    return adv * mask


def baseline_features(obs: np.ndarray, dtype: Any = None) -> np.ndarray:
    """rllab/ProMP features ``[o, o², t, t², t³, 1]`` for obs shaped ``(..., T, obs_dim)``.

    ``dtype``: of the features, the obs being cast to it first (default: the obs' float
    dtype, float64 for integer obs). Built in one array, without temporaries.
    """
    if dtype is None:
        floating = np.issubdtype(obs.dtype, np.floating)
        dtype = obs.dtype if floating else np.dtype(np.float64)
    *lead, steps, d = obs.shape
    out = np.empty((*lead, steps, 2 * d + 4), dtype=dtype)
    o = out[..., :d]
    np.copyto(o, obs, casting="unsafe")
    np.clip(o, -10.0, 10.0, out=o)
    np.multiply(o, o, out=out[..., d : 2 * d])
    t = np.arange(steps, dtype=dtype) / 100.0
    out[..., 2 * d] = t
    out[..., 2 * d + 1] = t * t
    out[..., 2 * d + 2] = t**3
    out[..., 2 * d + 3] = 1.0
    return out


class LinearFeatureBaseline:
    """Ridge regression of returns on :func:`baseline_features`, one fit per task.

    Args:
        reg_coeff: initial ridge coefficient (multiplied by 10, up to 5 times, while the
            solution is not finite).
    """

    def __init__(self, reg_coeff: float = 1e-5) -> None:
        self.reg_coeff = float(reg_coeff)
        self.coeffs: np.ndarray | None = None  # (K, F)

    @staticmethod
    def _masked_features(obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        feats = baseline_features(obs, np.float64)
        feats *= mask[..., None]
        return feats

    def fit(self, obs: np.ndarray, returns: np.ndarray, mask: np.ndarray) -> None:
        """Fit task k on ``obs[k]`` ``(E, T, d)``, ``returns[k]`` and ``mask[k]`` ``(E, T)``."""
        self._fit(self._masked_features(obs, mask), returns, mask)

    def fit_predict(self, obs: np.ndarray, returns: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """:meth:`fit`, then the predictions on the real steps (0 on padding), ``(K, E, T)``.

        The values of ``fit(obs, returns, mask); predict(obs) * mask``, with the features
        built once (the padded rows of the masked features predict 0).
        """
        feats = self._masked_features(obs, mask)
        self._fit(feats, returns, mask)
        return self._predict(feats) * mask

    def _fit(self, feats: np.ndarray, returns: np.ndarray, mask: np.ndarray) -> None:
        k = feats.shape[0]
        x = feats.reshape(k, -1, feats.shape[-1])
        y = (returns * mask).reshape(k, -1).astype(np.float64)
        xt = x.transpose(0, 2, 1)
        xtx = xt @ x  # batched BLAS (einsum would not use it)
        xty = (xt @ y[..., None])[..., 0]
        eye = np.eye(x.shape[-1])
        reg = self.reg_coeff
        for _ in range(5):
            try:
                coeffs = np.linalg.solve(xtx + reg * eye, xty[..., None])[..., 0]
            except np.linalg.LinAlgError:
                coeffs = np.full(xty.shape, np.nan)
            if np.all(np.isfinite(coeffs)):
                break
            reg *= 10
        self.coeffs = coeffs

    def predict(self, obs: np.ndarray) -> np.ndarray:
        """Predicted returns ``(K, E, T)``; zeros before the first fit."""
        if self.coeffs is None:
            return np.zeros(obs.shape[:-1])
        return self._predict(baseline_features(obs, np.float64))

    def _predict(self, feats: np.ndarray) -> np.ndarray:
        k, e, t, f = feats.shape
        return (feats.reshape(k, e * t, f) @ self.coeffs[..., None]).reshape(k, e, t)


def normalize_per_task(adv: np.ndarray, mask: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """Advantages with zero mean and unit std over each task's real steps (leading dim)."""
    axes = tuple(range(1, adv.ndim))
    n = np.maximum(mask.sum(axis=axes, keepdims=True), 1.0)
    mean = (adv * mask).sum(axis=axes, keepdims=True) / n
    var = (((adv - mean) * mask) ** 2).sum(axis=axes, keepdims=True) / n
    return (adv - mean) / (np.sqrt(var) + eps) * mask
