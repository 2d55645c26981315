"""Check a results file before it may enter the leaderboard, and recompute its scores.

The leaderboard never accepts a number it cannot check. :func:`load_submission` runs every
check in a fixed order and stops at the first failure with a :class:`SubmissionError` that
names the check (``error.check``) and says how to fix the file:

1. ``file``: a regular file (opened without blocking: FIFOs, devices, directories refused);
2. ``size``: at most :data:`MAX_FILE_BYTES` (50 MB), checked *before* reading/parsing;
3. ``json``: UTF-8 JSON whose top level is an object, parsed strictly (no repeated key in
   any object, integers within 64 bits, numbers within float64, nesting at most 32 deep);
4. ``schema_version``: the version this installation reads;
5. ``returns``: only finite numbers in the raw return array (NaN/±inf named by index);
6. ``text``: every string is plain text: ``agent.name`` at most 120 characters,
   ``agent.factory`` at most 300, any other at most 1000, and none holds a control or format
   character (see :mod:`krazy_gym.evaluation.text`);
7. ``schema``: the published JSON schema (``krazy_gym/evaluation/results.schema.json``) and
   the file's internal consistency, via the harness's own ``validate_results``;
8. ``sha256``: the stated sha256 equals the sha256 of the canonical content (catches edits);
9. ``benchmark``: the benchmark is installed here;
10. ``benchmark.hash``: its hash equals the installed definition's (same tasks and protocol);
11. ``shape``: ``returns`` is seeds × test tasks × (explore + exploit episodes) for that
    benchmark and the file's episode counts match the benchmark's protocol;
12. ``seeds``: the seeds the benchmark prescribes, ``0..K-1`` (in any order) with ``K`` at
    least its ``min_seeds`` — nobody can keep their best seeds;
13. ``return_range``: every return lies in the benchmark's per-episode ``return_range``
    (named by seed, task and episode).

The seeds and their rows are then put in canonical (ascending) order, and the aggregates
recomputed from the raw returns with the harness's own
:func:`krazy_gym.evaluation.metrics.aggregate` (fixed bootstrap seed), so the stored scores do
not depend on anything the submitter computed or on how the file lists its seeds. Nothing
here touches the database.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from krazy_gym.evaluation.results import MAX_RESULTS_BYTES
from leaderboard.errors import SubmissionError
from leaderboard.store import NewSubmission

if TYPE_CHECKING:
    from krazy_gym.evaluation.benchmarks import Benchmark

__all__ = ["MAX_FILE_BYTES", "SubmissionError", "load_submission"]

#: Largest results file accepted (bytes, 50 MB). A Krazy World benchmark with 10 seeds is < 1 MB.
MAX_FILE_BYTES = MAX_RESULTS_BYTES

#: Seed of the bootstrap used when the leaderboard recomputes confidence intervals.
BOOTSTRAP_SEED = 0

#: A return may exceed its benchmark's declared range by this much times max(1, |bound|):
#: sums of float rewards round in the last bits.
RANGE_RTOL = 1e-9

_AS_WRITTEN = "submit the file exactly as `krazy-gym evaluate --out` wrote it"
_HINTS = {
    "file": "pass the path of a results file written by `krazy-gym evaluate --out`",
    "size": ("a results file from `krazy-gym evaluate` is far smaller — submit that file "
             "unmodified (no embedded logs or checkpoints)"),
    "json": _AS_WRITTEN,
}


def read_document(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Checks 1-3: the parsed document (strict JSON of a regular file within the size limit)."""
    from krazy_gym.evaluation.results import ResultsFileError, load_json_file

    try:
        return load_json_file(path, MAX_FILE_BYTES)
    except ResultsFileError as exc:
        raise SubmissionError(exc.check, f"{exc}; {_HINTS[exc.check]}") from None


def _first_non_finite(value: Any, index: tuple[int, ...] = ()) -> tuple[tuple[int, ...], Any] | None:
    """Index and value of the first non-finite or non-numeric leaf of a nested list."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = _first_non_finite(item, (*index, i))
            if found is not None:
                return found
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return index, value
    if not math.isfinite(value):
        return index, value
    return None


def check_schema_version(data: dict[str, Any]) -> None:
    """Check 4: the file's ``schema_version`` is the one this installation reads."""
    from krazy_gym.evaluation.results import SCHEMA_VERSION

    if "schema_version" not in data:
        raise SubmissionError(
            "schema_version",
            f"missing field 'schema_version' (this leaderboard reads version {SCHEMA_VERSION}); "
            "submit a file written by `krazy-gym evaluate`",
        )
    if data["schema_version"] != SCHEMA_VERSION:
        raise SubmissionError(
            "schema_version",
            f"schema_version is {data['schema_version']!r} but this leaderboard reads version "
            f"{SCHEMA_VERSION}; re-run `krazy-gym evaluate` with the installed krazy_gym to "
            "write a file in the current format",
        )


def check_finite_returns(data: dict[str, Any]) -> None:
    """Check 5: every leaf of ``returns`` is a finite number (names the first bad index)."""
    returns = data.get("returns")
    if not isinstance(returns, list):
        return  # missing or wrong type: the schema check names it
    try:
        found = _first_non_finite(returns)
    except RecursionError:
        raise SubmissionError(
            "returns", "returns nests lists too deeply; it must be seeds × tasks × episodes "
            "numbers — submit the file exactly as `krazy-gym evaluate` wrote it"
        ) from None
    if found is not None:
        index, value = found
        where = "returns" + "".join(f"[{i}]" for i in index)
        raise SubmissionError(
            "returns",
            f"{where} is {value!r}; every return must be a finite number — fix the agent or "
            "environment that produced NaN/inf and re-run the evaluation",
        )


def check_text(data: dict[str, Any]) -> None:
    """Check 6: every string (keys included) is plain text within its length cap."""
    from krazy_gym.evaluation.text import (
        MAX_FACTORY_CHARS,
        MAX_NAME_CHARS,
        MAX_STRING_CHARS,
        text_problem,
    )

    limits = {("agent", "name"): MAX_NAME_CHARS, ("agent", "factory"): MAX_FACTORY_CHARS}

    def field(path: tuple) -> str:
        out = ""
        for part in path:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
        return out or "<top level>"

    stack: list[tuple[tuple, Any]] = [((), data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            for key, child in value.items():
                problem = text_problem(key, MAX_STRING_CHARS)
                if problem is not None:
                    raise SubmissionError(
                        "text", f"a key in {field(path)} ({key[:40]!r}) {problem}; {_AS_WRITTEN}"
                    )
                stack.append(((*path, key), child))
        elif isinstance(value, list):
            stack.extend(((*path, i), v) for i, v in enumerate(value)
                         if type(v) is not float and type(v) is not int)  # noqa: E721
        elif isinstance(value, str):
            limit = limits.get(path, MAX_STRING_CHARS)
            problem = text_problem(value, limit)
            if problem is not None:
                fix = (
                    "give the agent a plain name (its `name` attribute) and re-run the evaluation"
                    if path == ("agent", "name") else _AS_WRITTEN
                )
                raise SubmissionError(
                    "text",
                    f"{field(path)} {problem}; every string in a results file must be plain "
                    f"text (printable, no control or format characters) — {fix}",
                )


def check_schema(data: dict[str, Any]) -> str:
    """The published schema, internal consistency and the content sha256; returns the sha256.

    :func:`krazy_gym.evaluation.results.validate_results` checks all three and names the field;
    its failure is classified here as ``sha256`` (edited content), ``shape`` (array shapes
    disagree with the file's own protocol) or ``schema`` (anything else), with a fix.
    """
    from krazy_gym.evaluation.results import ResultsError, content_sha256, validate_results

    try:
        validate_results(data)
    except ResultsError as exc:
        message = str(exc)
        if message.startswith("sha256"):
            raise SubmissionError(
                "sha256",
                f"{message}; the file was changed after `krazy-gym evaluate` wrote it — submit "
                "the unmodified file (or re-run the evaluation)",
            ) from None
        if message.startswith(("returns", "exploration_metrics")):
            raise SubmissionError(
                "shape", f"{message}; submit the complete, unmodified results of a full evaluation"
            ) from None
        raise SubmissionError(
            "schema",
            f"{message}; the file does not follow krazy_gym/evaluation/results.schema.json — "
            "submit it exactly as `krazy-gym evaluate` wrote it",
        ) from None
    return content_sha256(data)


def check_benchmark(data: dict[str, Any]) -> Benchmark:
    """Checks 9-10: the benchmark is installed and its hash equals the installed definition's."""
    from krazy_gym.evaluation.benchmarks import get_benchmark, list_benchmarks

    bench_info = data["benchmark"]
    name = bench_info.get("name")
    try:
        bench = get_benchmark(name)
    except (KeyError, ValueError, TypeError):
        installed = ", ".join(b.name for b in list_benchmarks())
        raise SubmissionError(
            "benchmark",
            f"benchmark.name {name!r} is not an installed benchmark (installed: {installed}); "
            "evaluate on one of those, or install the krazy_gym version that defines it",
        ) from None
    try:
        installed_hash = bench.hash  # builds the env family to list the test tasks
    except Exception as exc:  # noqa: BLE001 - e.g. the MuJoCo extra is not installed
        raise SubmissionError(
            "benchmark",
            f"cannot build the installed {name!r} benchmark to check its hash "
            f"({type(exc).__name__}: {exc}); install what its environment needs "
            "(e.g. pip install 'krazy_gym[mujoco]') and submit again",
        ) from exc
    if bench_info.get("hash") != installed_hash:
        raise SubmissionError(
            "benchmark.hash",
            f"benchmark.hash {bench_info.get('hash')!r} does not match the installed "
            f"{name!r} definition (hash {installed_hash!r}): the file was produced with other "
            "test tasks or protocol (another krazy_gym version?); re-run `krazy-gym evaluate "
            f"--benchmark {name}` with the installed krazy_gym",
        )
    return bench


def check_shape(data: dict[str, Any], bench: Benchmark) -> np.ndarray:
    """Check 11: seeds × test tasks × episodes of the *installed* benchmark; returns the array."""
    seeds = data["seeds"]
    explore, exploit = data["explore_episodes"], data["exploit_episodes"]
    if (explore, exploit) != (bench.explore_episodes, bench.exploit_episodes):
        raise SubmissionError(
            "shape",
            f"explore_episodes/exploit_episodes are {explore}/{exploit} but benchmark "
            f"{bench.name!r} prescribes {bench.explore_episodes}/{bench.exploit_episodes}; "
            "evaluate with the benchmark's protocol",
        )
    expected = (len(seeds), bench.num_test_tasks, bench.explore_episodes + bench.exploit_episodes)
    try:
        returns = np.array(data["returns"], dtype=np.float64)
    except ValueError:
        returns = None  # ragged
    if returns is None or returns.shape != expected:
        got = "ragged nested lists" if returns is None else f"shape {returns.shape}"
        raise SubmissionError(
            "shape",
            f"returns has {got}, expected {expected} = (len(seeds)={len(seeds)}, "
            f"test tasks={bench.num_test_tasks}, explore+exploit episodes="
            f"{bench.explore_episodes}+{bench.exploit_episodes}); submit the complete, "
            "unmodified results of a full evaluation",
        )
    if len(set(seeds)) != len(seeds):
        raise SubmissionError("seeds", f"seeds {seeds} contain repeats; use distinct seeds")
    return returns


def check_seeds(seeds: list[int], bench: Benchmark) -> None:
    """Check 12: the seeds are the prescribed ``0..K-1`` (any order), ``K >= min_seeds``."""
    k = len(seeds)
    run = f"re-run `krazy-gym evaluate --benchmark {bench.name} --seeds K` (it uses seeds 0..K-1)"
    if k < bench.min_seeds:
        raise SubmissionError(
            "seeds",
            f"the file has {k} seed(s) {seeds}; benchmark {bench.name!r} requires seeds "
            f"0..K-1 with K >= {bench.min_seeds} ({bench.rank_seeds} or more to be ranked); "
            f"{run} with K >= {bench.min_seeds}",
        )
    if sorted(seeds) != bench.prescribed_seeds(k):
        raise SubmissionError(
            "seeds",
            f"seeds {seeds} are not the seeds the protocol prescribes: a {k}-seed run on "
            f"{bench.name!r} must use seeds 0..{k - 1} (so that no one can keep their best "
            f"seeds); {run} with K = {k}",
        )


def check_return_range(returns: np.ndarray, seeds: list[int], bench: Benchmark) -> None:
    """Check 13: every return within the benchmark's declared per-episode ``return_range``."""
    if bench.return_range is None:
        return
    low, high = bench.return_range
    tol_low, tol_high = (RANGE_RTOL * max(1.0, abs(b)) for b in (low, high))
    bad = (returns < low - tol_low) | (returns > high + tol_high)
    if not bad.any():
        return
    s, t, e = (int(i) for i in np.argwhere(bad)[0])
    raise SubmissionError(
        "return_range",
        f"returns[{s}][{t}][{e}] = {float(returns[s, t, e])!r} (seed {seeds[s]}, test task {t}, "
        f"episode {e + 1} of {returns.shape[2]}) is outside [{low:g}, {high:g}], the "
        f"per-episode return range of benchmark {bench.name!r} ({bench.return_range_source}); "
        f"{int(bad.sum())} return(s) are out of range — fix the agent or environment that "
        "produced them and re-run the evaluation",
    )


def canonical_order(data: dict[str, Any], returns: np.ndarray) -> tuple[list[int], np.ndarray, Any]:
    """Seeds ascending, with their rows of ``returns`` and of the exploration metrics."""
    seeds = [int(x) for x in data["seeds"]]
    order = sorted(range(len(seeds)), key=seeds.__getitem__)
    metrics = data.get("exploration_metrics", {})
    if order == list(range(len(seeds))):
        return seeds, returns, metrics
    return ([seeds[i] for i in order], returns[order],
            {k: [v[i] for i in order] for k, v in metrics.items()})


def recompute_aggregates(returns: np.ndarray, bench: Benchmark) -> dict[str, Any]:
    """Every aggregate, from the raw returns, with the harness's metrics (fixed seed).

    The harness's :func:`~krazy_gym.evaluation.metrics.aggregate` (normalised IQM and mean
    with 95% stratified-bootstrap CIs, adaptation curves) plus ``normalised_scores``, the
    seeds × tasks matrix of normalised scores that the score-distribution plot shows.
    """
    from krazy_gym.evaluation.metrics import aggregate, normalised_scores

    out = aggregate(returns, bench, seed=BOOTSTRAP_SEED)
    out["normalised_scores"] = normalised_scores(returns, bench).tolist()
    return out


def headline(aggregates: dict[str, Any]) -> dict[str, float]:
    """The six numbers the ranking uses: normalised IQM and mean with their 95% CIs."""
    out: dict[str, float] = {}
    for stat in ("iqm", "mean"):
        entry = aggregates[f"normalised_{stat}"]
        out[stat] = float(entry["value"])
        out[f"{stat}_low"] = float(entry["ci_low"])
        out[f"{stat}_high"] = float(entry["ci_high"])
    bad = sorted(k for k, v in out.items() if not math.isfinite(v))
    if bad:
        raise SubmissionError(
            "returns",
            f"the returns give non-finite scores ({', '.join(bad)}): they are too large to "
            "aggregate; fix the agent or environment that produced them and re-run the evaluation",
        )
    return out


def _batch_size(data: dict[str, Any]) -> int | None:
    value = (data.get("run") or {}).get("batch_size")
    return None if value is None else int(value)  # (the schema allows 25.0 for 25)


def load_submission(path: str | os.PathLike[str], *, prescribed_seeds: bool = True) -> NewSubmission:
    """Run every check on a results file and build the row to store (nothing is written).

    ``prescribed_seeds=False`` skips check 12 only (``krazy-gym summary`` shows runs on any
    seeds; the leaderboard and ``krazy-gym validate`` never skip it).
    """
    path = Path(path)
    data = read_document(path)
    check_schema_version(data)
    check_finite_returns(data)
    check_text(data)
    sha = check_schema(data)
    bench = check_benchmark(data)
    returns = check_shape(data, bench)
    if prescribed_seeds:
        check_seeds(list(data["seeds"]), bench)
    check_return_range(returns, list(data["seeds"]), bench)
    seeds, returns, metrics = canonical_order(data, returns)
    aggregates = recompute_aggregates(returns, bench)
    return NewSubmission(
        benchmark_name=bench.name,
        benchmark_hash=bench.hash,
        agent_name=str(data["agent"]["name"]),
        agent_factory=str(data["agent"]["factory"]),
        sha256=sha,
        schema_version=int(data["schema_version"]),
        seeds=seeds,
        explore_episodes=int(data["explore_episodes"]),
        exploit_episodes=int(data["exploit_episodes"]),
        returns=returns,
        aggregates=aggregates,
        headline=headline(aggregates),
        exploration_metrics=metrics,
        timing=data.get("timing", {}),
        provenance=data.get("provenance", {}),
        results_created=str(data.get("created", "")),
        document=json.dumps(data, sort_keys=True, separators=(",", ":")),
        batch_size=_batch_size(data),
    )
