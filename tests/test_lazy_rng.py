"""LazyGenerators gives exactly the generators that eager seeding would."""

import numpy as np
from gymnasium.utils import seeding

from krazy_gym.lazy_rng import LazyGenerators


def test_lazy_generator_equals_eager_seeding_and_reseed_restarts_the_stream():
    rngs = LazyGenerators(3)
    rngs.reseed([0, 2], [123, None, np.int64(7)])
    first = rngs[0].integers(0, 2**31 - 1, size=5)
    np.testing.assert_array_equal(first, seeding.np_random(123)[0].integers(0, 2**31 - 1, size=5))
    # the same generator keeps drawing (it is made once, not on every access)
    np.testing.assert_array_equal(
        rngs[0].random(3), _eager_after(123, 5).random(3)
    )
    np.testing.assert_array_equal(rngs[2].random(4), seeding.np_random(7)[0].random(4))
    kept = rngs[2]
    rngs.reseed([0, 2], [123, None, None])  # a new reset with the same seed restarts env 0;
    np.testing.assert_array_equal(rngs[0].integers(0, 2**31 - 1, size=5), first)
    assert rngs[2] is kept  # a None seed leaves env 2's generator as it was
    assert len(rngs) == 3


def test_unseeded_env_gets_an_independent_entropy_generator():
    rngs = LazyGenerators(2)
    assert isinstance(rngs[1], np.random.Generator)
    assert rngs[1] is rngs[1]


def _eager_after(seed: int, n: int) -> np.random.Generator:
    rng = seeding.np_random(seed)[0]
    rng.integers(0, 2**31 - 1, size=n)
    return rng
