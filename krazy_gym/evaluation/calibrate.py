"""Measure every benchmark's random score with this harness and store it in code.

    python -m krazy_gym.evaluation.calibrate                 # all benchmarks whose env exists
    python -m krazy_gym.evaluation.calibrate Bandit Maze     # some
    python -m krazy_gym.evaluation.calibrate --check         # compare, write nothing (exit 1
                                                             # if a constant is stale)

For each benchmark whose env can be made here it first stores the test tasks
(``tasks-<name>-v<version>.json``, see :meth:`Benchmark.tasks`), then measures the random score.

The random score is the mean raw score (mean exploit return) of the uniform random agent
(``krazy_gym.evaluation.agents:random_agent``) over :data:`CALIBRATION_SEEDS` and every test
task. It is written to ``_random_scores.py`` (generated module, atomically replaced). Since the
random score is a normalisation constant, it is part of the benchmark hash: recalibrating a
benchmark whose env changed must come with a benchmark version bump.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from krazy_gym.atomic_io import write_text_atomic

CALIBRATION_SEEDS = 5
# ``--check`` tolerances (relative, and absolute for scores near 0). The non-MuJoCo envs compute
# the same bits on every machine (tests/golden.py checks it), so their scores may differ only by
# the rounding of the final mean. MuJoCo's random scores are reproducible only on one machine:
# contacts amplify a last-bit difference (another CPU's rounding, or a body multiplier changed
# by one ULP) into different episodes, and a 5-seed random-agent mean then moves by its sampling
# noise (HopperParams: 20.9 -> 19.6 when its multipliers changed in the last bit), so they are
# checked to 10% or 2.0 absolute: a coarse check for stale constants, nothing more.
CHECK_TOLERANCE = 1e-12
MUJOCO_CHECK_TOLERANCE = 0.1
MUJOCO_CHECK_ABS_TOLERANCE = 2.0
RANDOM_AGENT = "krazy_gym.evaluation.agents:random_agent"
SCORES_PATH = Path(__file__).with_name("_random_scores.py")


def measure_random_score(name: str, seeds: int = CALIBRATION_SEEDS, workers: int = 1) -> float:
    """The random agent's mean raw score on benchmark ``name`` (deterministic)."""
    from krazy_gym.evaluation.benchmarks import get_benchmark
    from krazy_gym.evaluation.metrics import task_scores
    from krazy_gym.evaluation.runner import evaluate

    bench = get_benchmark(name)
    if bench.vectorization == "async":
        # same rows, seeds and batches, so the same results (tests check async == sync); one
        # process avoids the pipe round trips that dominate on a small, busy machine
        bench = dataclasses.replace(bench, vectorization="sync")
    results = evaluate(
        RANDOM_AGENT, bench, seeds=seeds, workers=workers, progress=False, aggregates=False
    )
    return float(task_scores(results["returns"], bench).mean())


def check_tolerance(name: str) -> float:
    """The ``--check`` tolerance of benchmark ``name`` (see :data:`CHECK_TOLERANCE`)."""
    from krazy_gym.evaluation.benchmarks import get_benchmark
    from krazy_gym.registration import MUJOCO_IDS

    return MUJOCO_CHECK_TOLERANCE if get_benchmark(name).env_id in MUJOCO_IDS else CHECK_TOLERANCE


def check_abs_tolerance(name: str) -> float:
    """The ``--check`` absolute tolerance of benchmark ``name``."""
    from krazy_gym.evaluation.benchmarks import get_benchmark
    from krazy_gym.registration import MUJOCO_IDS

    return MUJOCO_CHECK_ABS_TOLERANCE if get_benchmark(name).env_id in MUJOCO_IDS else CHECK_TOLERANCE


def available(name: str) -> str | None:
    """None if the benchmark's env can be made here, else the reason it cannot."""
    from krazy_gym.evaluation.benchmarks import get_benchmark

    try:
        env = get_benchmark(name).make_env()
    except Exception as exc:  # noqa: BLE001 - any failure means "not available"
        return f"{type(exc).__name__}: {exc}"
    env.close()
    return None


def _stored_scores() -> dict[str, float]:
    """The scores in ``_random_scores.py`` as it is on disk now (not as imported)."""
    import ast

    tree = ast.parse(SCORES_PATH.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "RANDOM_SCORES":
            return dict(ast.literal_eval(node.value))
    return {}


def update_scores(new: dict[str, float]) -> dict[str, float]:
    """Merge ``new`` into ``_random_scores.py`` under a file lock (several calibrations may run
    at once, one per family) and return the merged scores."""
    import fcntl

    with open(Path(tempfile.gettempdir()) / "krazy_gym_random_scores.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        merged = {**_stored_scores(), **new}
        write_scores(merged)
    return merged


def write_scores(scores: dict[str, float]) -> None:
    """Atomically rewrite ``_random_scores.py`` with ``scores``."""
    lines = [
        '"""Random-agent scores per benchmark, measured by this harness. GENERATED: do not edit.',
        "",
        "Regenerate with ``python -m krazy_gym.evaluation.calibrate`` (the uniform random agent,",
        f"seeds 0-{CALIBRATION_SEEDS - 1}, every test task); ``tests/evaluation`` re-measures them in a slow test.",
        "Benchmarks missing here (their env family was not available when calibrating) use 0.0.",
        '"""',
        "",
        "RANDOM_SCORES: dict[str, float] = {",
        *[f"    {k!r}: {v!r}," for k, v in sorted(scores.items())],
        "}",
        "",
    ]
    write_text_atomic(SCORES_PATH, "\n".join(lines))


def main(argv: Sequence[str] | None = None) -> int:
    from krazy_gym.evaluation._random_scores import RANDOM_SCORES
    from krazy_gym.evaluation.benchmarks import get_benchmark, list_benchmarks

    parser = argparse.ArgumentParser(prog="python -m krazy_gym.evaluation.calibrate")
    parser.add_argument("names", nargs="*", help="benchmarks (default: all available)")
    parser.add_argument("--check", action="store_true", help="compare only, write nothing")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    try:
        names = [get_benchmark(n).name for n in args.names] or [b.name for b in list_benchmarks()]
    except (KeyError, ValueError) as exc:
        print(f"calibrate: error: {exc}", file=sys.stderr)
        return 2
    mismatched = 0
    for name in names:
        reason = available(name)
        if reason is not None:
            print(f"{name:16s} skipped ({reason.splitlines()[0][:100]})")
            continue
        bench = get_benchmark(name)
        if not bench.store_tasks:
            pass
        elif not args.check:
            path = bench.write_stored_tasks()
            print(f"{name:16s} test tasks stored in {path.name}")
        elif bench.load_stored_tasks() != bench.generate_tasks():
            print(f"{name:16s} stored test tasks differ from freshly generated ones")
            mismatched += 1
        value = measure_random_score(name, workers=args.workers)
        stored = RANDOM_SCORES.get(name)
        tol = check_tolerance(name)
        atol = check_abs_tolerance(name)
        same = stored is not None and math.isclose(stored, value, rel_tol=tol, abs_tol=atol)
        mismatched += not same
        verdict = ", same" if stored == value else ", same within tolerance" if same else ""
        print(f"{name:16s} random score {value!r} (stored {stored!r}{verdict})", flush=True)
        if not args.check:
            update_scores({name: value})  # after every benchmark: a long run keeps its results
    if args.check:
        return 1 if mismatched else 0
    print(f"wrote {SCORES_PATH}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
