"""Random-agent scores per benchmark, measured by this harness. GENERATED: do not edit.

Regenerate with ``python -m krazy_gym.evaluation.calibrate`` (the uniform random agent,
seeds 0-4, every test task); ``tests/evaluation`` re-measures them in a slow test.
Benchmarks missing here (their env family was not available when calibrating) use 0.0.
"""

RANDOM_SCORES: dict[str, float] = {}
