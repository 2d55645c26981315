"""Check a results file before it may enter the leaderboard, and recompute its scores.

The leaderboard never accepts a number it cannot check. :func:`load_submission` runs every
check in a fixed order and stops at the first failure with a :class:`SubmissionError` that
names the check (``error.check``) and says how to fix the file:

1. ``size``: at most :data:`MAX_FILE_BYTES` (50 MB), checked *before* reading/parsing;
2. ``json``: well-formed UTF-8 JSON whose top level is an object;
3. ``schema_version``: the version this installation reads;
4. ``returns``: only finite numbers in the raw return array (NaN/±inf named by index);
5. ``schema``: the published JSON schema (``krazy_gym/evaluation/results.schema.json``) and
   the file's internal consistency, via the harness's own ``validate_results``;
6. ``sha256``: the stated sha256 equals the sha256 of the canonical content (catches edits);
7. ``benchmark``: the benchmark is installed here;
8. ``benchmark.hash``: its hash equals the installed definition's (same tasks and protocol);
9. ``shape``: ``returns`` is seeds × test tasks × (explore + exploit episodes) for that
   benchmark and the file's episode counts match the benchmark's protocol.

Aggregates are then recomputed from the raw returns with the harness's own
:func:`krazy_gym.evaluation.metrics.aggregate` (fixed bootstrap seed), so the stored scores do
not depend on anything the submitter computed. Nothing here touches the database.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from leaderboard.errors import SubmissionError
from leaderboard.store import NewSubmission

if TYPE_CHECKING:
    from krazy_gym.evaluation.benchmarks import Benchmark

__all__ = ["MAX_FILE_BYTES", "SubmissionError", "load_submission"]

#: Largest results file accepted (bytes, 50 MB). A Krazy World benchmark with 10 seeds is < 1 MB.
MAX_FILE_BYTES = 50_000_000

#: Seed of the bootstrap used when the leaderboard recomputes confidence intervals.
BOOTSTRAP_SEED = 0


def _read_limited(path: Path) -> bytes:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise SubmissionError("file", f"{path} does not exist; pass the path of a results file "
                                      "written by `krazy-gym evaluate --out`") from None
    if not path.is_file():
        raise SubmissionError("file", f"{path} is not a regular file")
    if size > MAX_FILE_BYTES:
        raise SubmissionError(
            "size",
            f"{path} is {size:,} bytes, the limit is {MAX_FILE_BYTES:,} bytes (50 MB); "
            "a results file from `krazy-gym evaluate` is far smaller — submit that file "
            "unmodified (no embedded logs or checkpoints)",
        )
    with open(path, "rb") as fh:
        raw = fh.read(MAX_FILE_BYTES + 1)  # the file may have grown since stat()
    if len(raw) > MAX_FILE_BYTES:
        raise SubmissionError(
            "size", f"{path} grew past the limit of {MAX_FILE_BYTES:,} bytes (50 MB) while being read"
        )
    return raw


def _parse(raw: bytes, path: Path) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SubmissionError("json", f"{path} is not UTF-8 text ({exc}); submit the JSON file "
                                      "written by `krazy-gym evaluate --out`") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SubmissionError(
            "json",
            f"{path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}; "
            "submit the file exactly as `krazy-gym evaluate --out` wrote it",
        ) from None
    except RecursionError:
        raise SubmissionError(
            "json", f"{path} nests JSON too deeply to be a results file; submit the file "
            "exactly as `krazy-gym evaluate --out` wrote it"
        ) from None
    if not isinstance(data, dict):
        raise SubmissionError("json", f"the top level of {path} must be a JSON object, "
                                      f"got {type(data).__name__}")
    return data


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
    """Check 3: the file's ``schema_version`` is the one this installation reads."""
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
    """Check 4: every leaf of ``returns`` is a finite number (names the first bad index)."""
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
    """Checks 7-8: the benchmark is installed and its hash equals the installed definition's."""
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
    """Check 9: seeds × test tasks × episodes of the *installed* benchmark; returns the array."""
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
    return out


def load_submission(path: str | os.PathLike[str]) -> NewSubmission:
    """Run every check on a results file and build the row to store (nothing is written)."""
    path = Path(path)
    raw = _read_limited(path)
    data = _parse(raw, path)
    check_schema_version(data)
    check_finite_returns(data)
    sha = check_schema(data)
    bench = check_benchmark(data)
    returns = check_shape(data, bench)
    aggregates = recompute_aggregates(returns, bench)
    return NewSubmission(
        benchmark_name=bench.name,
        benchmark_hash=bench.hash,
        agent_name=str(data["agent"]["name"]),
        agent_factory=str(data["agent"]["factory"]),
        sha256=sha,
        schema_version=int(data["schema_version"]),
        seeds=[int(s) for s in data["seeds"]],
        explore_episodes=int(data["explore_episodes"]),
        exploit_episodes=int(data["exploit_episodes"]),
        returns=returns,
        aggregates=aggregates,
        headline=headline(aggregates),
        exploration_metrics=data.get("exploration_metrics", {}),
        timing=data.get("timing", {}),
        provenance=data.get("provenance", {}),
        results_created=str(data.get("created", "")),
        document=json.dumps(data, sort_keys=True, separators=(",", ":")),
    )
