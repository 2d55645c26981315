"""Flat ``float32`` encodings of Gymnasium spaces, for single values and for batches.

:class:`SpaceEncoder` turns a value of a space into a flat ``float32`` vector: ``Discrete`` and
``MultiDiscrete`` values become one-hot vectors (concatenated per component), ``Box`` and
``MultiBinary`` values are flattened as they are. Batches (the leading axis is the env) are
encoded without a Python loop for these spaces; any other space falls back to
``gymnasium.spaces.flatten`` per element.

    >>> from gymnasium import spaces
    >>> enc = SpaceEncoder(spaces.Discrete(3))
    >>> enc.encode(2)
    array([0., 0., 1.], dtype=float32)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces


class SpaceEncoder:
    """Flat float32 encoding of one space (see module docstring).

    Attributes:
        space: the encoded space.
        size: length of the encoding.
        low, high: float32 bounds of the encoding (for building a ``Box``).
    """

    def __init__(self, space: spaces.Space) -> None:
        self.space = space
        if isinstance(space, spaces.Discrete):
            self.size = int(space.n)
            self.low, self.high = np.zeros(self.size), np.ones(self.size)
        elif isinstance(space, spaces.MultiDiscrete):
            if space.nvec.ndim != 1:
                raise TypeError("only 1-D MultiDiscrete spaces can be encoded")
            self._offsets = np.concatenate([[0], np.cumsum(space.nvec)[:-1]]).astype(np.int64)
            self.size = int(space.nvec.sum())
            self.low, self.high = np.zeros(self.size), np.ones(self.size)
        elif isinstance(space, spaces.Box):
            self.size = int(np.prod(space.shape))
            self.low = space.low.astype(np.float64).reshape(-1)
            self.high = space.high.astype(np.float64).reshape(-1)
        elif isinstance(space, spaces.MultiBinary):
            self.size = int(np.prod(space.shape))
            self.low, self.high = np.zeros(self.size), np.ones(self.size)
        else:
            self.size = int(spaces.flatdim(space))
            flat = spaces.flatten_space(space)
            if not isinstance(flat, spaces.Box):
                raise TypeError(f"cannot encode a {type(space).__name__} space as a flat vector")
            self.low = flat.low.astype(np.float64)
            self.high = flat.high.astype(np.float64)
        # float32 bounds, with infinities replaced by the largest finite float32 so that the
        # Box built from them passes Gymnasium's env checker without "infinite bound" warnings.
        big = float(np.finfo(np.float32).max)
        self.low = np.nan_to_num(self.low, neginf=-big, posinf=big).astype(np.float32)
        self.high = np.nan_to_num(self.high, neginf=-big, posinf=big).astype(np.float32)

    def encode(self, value: Any) -> np.ndarray:
        """Encode one value of the space as a flat float32 vector of length :attr:`size`."""
        return self.encode_batch(np.asarray(value)[None] if self._batchable else [value])[0]

    @property
    def _batchable(self) -> bool:
        return isinstance(
            self.space, (spaces.Discrete, spaces.MultiDiscrete, spaces.Box, spaces.MultiBinary)
        )

    def encode_batch(self, values: Any) -> np.ndarray:
        """Encode a batch (leading axis = element) as an ``(n, size)`` float32 array."""
        space = self.space
        if isinstance(space, spaces.Discrete):
            idx = np.asarray(values, dtype=np.int64).reshape(-1) - int(space.start)
            out = np.zeros((idx.shape[0], self.size), dtype=np.float32)
            out[np.arange(idx.shape[0]), idx] = 1.0
            return out
        if isinstance(space, spaces.MultiDiscrete):
            idx = np.asarray(values, dtype=np.int64) - space.start
            idx = idx.reshape(idx.shape[0], -1) + self._offsets
            out = np.zeros((idx.shape[0], self.size), dtype=np.float32)
            np.put_along_axis(out, idx, 1.0, axis=1)
            return out
        if isinstance(space, (spaces.Box, spaces.MultiBinary)):
            arr = np.asarray(values, dtype=np.float32)
            return arr.reshape(arr.shape[0], self.size).copy()
        return np.stack([spaces.flatten(space, v).astype(np.float32) for v in values])

    def zeros(self, n: int | None = None) -> np.ndarray:
        """The all-zero encoding (one vector, or an ``(n, size)`` batch)."""
        shape = (self.size,) if n is None else (n, self.size)
        return np.zeros(shape, dtype=np.float32)
