"""Per-env random generators that are made only when an env first draws from one.

The native vector envs (Krazy World, mazes) give each sub-env its own
``np.random.Generator``, seeded from that env's last ``reset`` seed, as
``gymnasium.vector.SyncVectorEnv`` would. Most resets pass explicit tasks, so most envs never
draw. Making 800 generators on every seeded reset cost more than the reset itself (7 ms of a
7.3 ms reset). :class:`LazyGenerators` stores the seed and builds the generator on first use. The
result is the same generator, bit for bit, that an eager ``seeding.np_random(seed)`` would have
given.

    >>> rngs = LazyGenerators(2)
    >>> rngs.reseed([0], [123, None])  # what reset(seed=[123, None]) does for env 0
    >>> x = rngs[0].integers(10)       # the generator is made here, from seed 123
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from gymnasium.utils import seeding


class LazyGenerators:
    """``n`` per-env generators, each made on first access from its env's last seed.

    Args:
        n: number of envs. Before any :meth:`reseed`, env ``i``'s generator is seeded from
            OS entropy on first use (``seeding.np_random(None)``).
    """

    def __init__(self, n: int) -> None:
        self._rngs: list[np.random.Generator | None] = [None] * n
        self._seeds: list[int | None] = [None] * n

    def __len__(self) -> int:
        return len(self._rngs)

    def reseed(self, ids: Iterable[int], seeds: Sequence[int | None]) -> None:
        """Envs ``ids`` were reset with ``seeds[i]`` (one entry per env; ``None`` keeps an
        env's generator as it is): their next draws come from fresh generators."""
        rngs, pending = self._rngs, self._seeds
        for i in ids:
            seed = seeds[i]
            if seed is not None:
                rngs[i] = None
                pending[i] = int(seed)

    def __getitem__(self, i: int) -> np.random.Generator:
        """Env ``i``'s generator, made now if this is its first use since the last reseed."""
        rng = self._rngs[i]
        if rng is None:
            rng = self._rngs[i] = seeding.np_random(self._seeds[i])[0]
            self._seeds[i] = None
        return rng
