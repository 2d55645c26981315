"""The shipped reference rows (``reference/``) and loading them into a leaderboard.

Layout of the reference directory (a source checkout's ``reference/``)::

    reference/manifest.json                        every row: how it is trained and evaluated,
                                                   and what was produced (or status "missing")
    reference/MANIFEST.md                          the same as tables (rendered from the JSON)
    reference/results/<Benchmark-vN>/<agent>.json  harness results files (the published schema)
    reference/checkpoints/<Benchmark-vN>/<agent>/  the small checkpoint they were evaluated from

``benchmarks/reference_suite.py`` trains and evaluates rows and writes all of it; this module
reads it. In a manifest row, ``{reference}`` in an evaluation setting stands for the reference
directory, ``{out}`` for the results file and ``{run}`` for the training run directory.

:func:`seed_reference` (``python -m leaderboard seed-reference``) loads every produced row:

1. **checks, for every row first**: the results file and the checkpoint are the ones the
   manifest records (sha256 of the results content and of the checkpoint file), the results
   file passes every check of ``submit`` (:func:`leaderboard.validate.load_submission`) and
   names the manifest's benchmark and agent factory. If any row fails, nothing is stored and
   every failure is reported (a :class:`ReferenceError` listing them);
2. **verifies** each row not yet stored verified (unless ``verify=False``): the recorded
   factory is re-run through the harness on the shipped checkpoint (the row's environment
   settings) and the row is marked verified only if the re-run reproduces *every raw return*
   (:func:`leaderboard.api.verify_scores` with ``compare="returns"``);
3. **stores** the new rows, flagged as reference rows (``reference_kind``), and marks verified
   the stored reference rows whose re-run now reproduced them, in one transaction
   (:func:`leaderboard.store.store_reference_rows`). A row already stored is not added again
   (running it twice adds nothing).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import os
from collections.abc import Callable, Collection, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from leaderboard import store
from leaderboard.errors import SubmissionError

#: Version of the manifest format this code reads.
MANIFEST_VERSION = 1
MANIFEST_NAME = "manifest.json"
#: Size budgets of the shipped files (bytes): every checkpoint file together, one row's
#: checkpoint directory, every results file together.
CHECKPOINTS_BUDGET_BYTES = 25_000_000
ROW_CHECKPOINT_BUDGET_BYTES = 5_000_000
RESULTS_BUDGET_BYTES = 25_000_000
#: Row kinds (stored as the database's ``reference_kind``).
KINDS = store.REFERENCE_KINDS
STATUSES = ("done", "missing")


class ReferenceError(ValueError):
    """The reference directory or its manifest cannot be used, or rows were refused."""


def default_reference_dir() -> Path:
    """``reference/`` of the source checkout this package runs from."""
    return Path(__file__).resolve().parents[1] / "reference"


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _relative(value: Any, field: str) -> str:
    """A manifest path: relative, POSIX, inside the reference directory."""
    if not isinstance(value, str) or not value:
        raise ReferenceError(f"manifest: {field} must be a non-empty relative path, got {value!r}")
    p = PurePosixPath(value)
    if p.is_absolute() or ".." in p.parts or "\\" in value:
        raise ReferenceError(f"manifest: {field} {value!r} must be a relative path inside the "
                             "reference directory (no '..', no absolute path)")
    return value


@dataclasses.dataclass(frozen=True)
class Row:
    """One manifest row (see ``reference/MANIFEST.md`` for the fields)."""

    name: str
    benchmark: str
    agent: str
    label: str
    kind: str
    results: str
    checkpoint: str | None
    train: dict[str, Any] | None
    evaluate: dict[str, Any] | None
    status: str
    produced: dict[str, Any] | None
    note: str = ""

    @classmethod
    def from_json(cls, data: Any, index: int) -> Row:
        where = f"manifest row {index}"
        if not isinstance(data, dict):
            raise ReferenceError(f"{where} must be an object, got {type(data).__name__}")
        for key in ("name", "benchmark", "agent", "label", "kind", "results", "status"):
            if not isinstance(data.get(key), str) or not data[key]:
                raise ReferenceError(f"{where}: {key!r} must be a non-empty string")
        name = data["name"]
        if data["kind"] not in KINDS:
            raise ReferenceError(f"{where} ({name}): kind must be one of {KINDS}, got {data['kind']!r}")
        if data["status"] not in STATUSES:
            raise ReferenceError(f"{where} ({name}): status must be one of {STATUSES}, got "
                                 f"{data['status']!r}")
        for key in ("train", "evaluate", "produced"):
            if data.get(key) is not None and not isinstance(data[key], dict):
                raise ReferenceError(f"{where} ({name}): {key!r} must be an object or null")
        checkpoint = data.get("checkpoint")
        row = cls(
            name=name, benchmark=data["benchmark"], agent=data["agent"], label=data["label"],
            kind=data["kind"], results=_relative(data["results"], f"{name}: results"),
            checkpoint=None if checkpoint is None else _relative(checkpoint, f"{name}: checkpoint"),
            train=data.get("train"), evaluate=data.get("evaluate"), status=data["status"],
            produced=data.get("produced"), note=str(data.get("note", "")),
        )
        if row.status == "done":
            if row.evaluate is None or row.produced is None:
                raise ReferenceError(f"{where} ({name}): a done row needs 'evaluate' and 'produced'")
            for key in ("results_sha256",) + (("checkpoint_sha256",) if checkpoint else ()):
                if not isinstance(row.produced.get(key), str):
                    raise ReferenceError(f"{where} ({name}): produced.{key} must be a string")
            if not isinstance(row.evaluate.get("factory"), str):
                raise ReferenceError(f"{where} ({name}): evaluate.factory must be a string")
            env = row.evaluate.get("env", {})
            if not isinstance(env, dict) or not all(
                    isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
                raise ReferenceError(f"{where} ({name}): evaluate.env must map names to strings")
        return row

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Manifest:
    """The parsed ``manifest.json`` and the directory it describes."""

    directory: Path
    rows: list[Row]
    data: dict[str, Any]

    def row(self, name: str) -> Row:
        for row in self.rows:
            if row.name == name:
                return row
        import difflib

        close = difflib.get_close_matches(name, [r.name for r in self.rows], n=3)
        hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise ReferenceError(f"no reference row {name!r} in {self.directory / MANIFEST_NAME}{hint}")

    def path(self, relative: str) -> Path:
        """A manifest path (relative to the reference directory) as a path on this machine."""
        return self.directory.joinpath(*PurePosixPath(relative).parts)


def load_manifest(reference_dir: str | os.PathLike[str] | None = None) -> Manifest:
    """Read and check ``<reference_dir>/manifest.json`` (default :func:`default_reference_dir`).

    Raises:
        ReferenceError: no such directory or manifest, not JSON, another manifest version,
            a malformed row (named), or two rows with the same name or results path.
    """
    directory = Path(reference_dir) if reference_dir is not None else default_reference_dir()
    path = directory / MANIFEST_NAME
    if not directory.is_dir():
        raise ReferenceError(f"--reference {directory}: no such directory (the reference/ "
                             "directory of a krazy_gym source checkout)")
    if not path.is_file():
        raise ReferenceError(f"{path}: no manifest (write one with `python "
                             "benchmarks/reference_suite.py --write-manifest`)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReferenceError(f"{path} is not a readable JSON manifest: {exc}") from exc
    if not isinstance(data, dict) or data.get("manifest_version") != MANIFEST_VERSION:
        got = data.get("manifest_version") if isinstance(data, dict) else None
        raise ReferenceError(f"{path}: manifest_version is {got!r}, this code reads "
                             f"{MANIFEST_VERSION}")
    raw_rows = data.get("rows")
    if not isinstance(raw_rows, list):
        raise ReferenceError(f"{path}: 'rows' must be a list")
    rows = [Row.from_json(r, i) for i, r in enumerate(raw_rows)]
    for field in ("name", "results"):
        seen: set[str] = set()
        for row in rows:
            value = getattr(row, field)
            if value in seen:
                raise ReferenceError(f"{path}: two rows have {field} {value!r}")
            seen.add(value)
    return Manifest(directory=directory.resolve(), rows=rows, data=data)


def expand(value: str, *, reference: str | os.PathLike[str], out: str | os.PathLike[str] = "",
           run: str | os.PathLike[str] = "") -> str:
    """Substitute the manifest placeholders ``{reference}``, ``{out}`` and ``{run}``."""
    return (value.replace("{reference}", str(reference)).replace("{out}", str(out))
            .replace("{run}", str(run)))


def evaluation_env(manifest: Manifest, row: Row) -> dict[str, str]:
    """The environment settings of a row's evaluation, with this machine's paths."""
    env = (row.evaluate or {}).get("env", {})
    return {k: expand(v, reference=manifest.directory) for k, v in env.items()}


def verify_row(
    manifest: Manifest, row: Row, sub: store.NewSubmission, rerun: Mapping[str, Any] | None = None
) -> tuple[bool, str]:
    """Re-run the row's recorded factory on its shipped checkpoint (the row's evaluation
    environment) and compare every raw return with the file's; ``(ok, report)``. A re-run
    that raises is reported as not verified (with the error), never as verified. ``rerun``:
    the results of such a re-run made already (see :func:`seed_reference`)."""
    from krazy_gym.evaluation.agents import agent_environment
    from leaderboard.api import verify_scores

    try:
        with agent_environment(evaluation_env(manifest, row)):
            return verify_scores(sub, sub.agent_factory, compare="returns", rerun=rerun)
    except Exception as exc:  # noqa: BLE001 - any failure of the re-run is reported
        return False, (f"verification FAILED: re-running {sub.agent_factory} raised "
                       f"{type(exc).__name__}: {exc}")


def check_row(manifest: Manifest, row: Row) -> store.NewSubmission:
    """Every check of a produced row's files (step 1 of :func:`seed_reference`); the row to
    store. Raises :class:`ReferenceError` saying what is wrong and how to fix it."""
    from leaderboard.validate import load_submission

    fix = f"re-produce it (python benchmarks/reference_suite.py --row {row.name}) or restore the shipped file"
    results = manifest.path(row.results)
    if not results.is_file():
        raise ReferenceError(f"{row.name}: results file {results} is missing; {fix}")
    produced = row.produced or {}
    if row.checkpoint is not None:
        ckpt = manifest.path(row.checkpoint)
        if not ckpt.is_file():
            raise ReferenceError(f"{row.name}: checkpoint {ckpt} is missing; {fix}")
        digest = file_sha256(ckpt)
        if digest != produced.get("checkpoint_sha256"):
            raise ReferenceError(
                f"{row.name}: checkpoint {ckpt} has sha256 {digest[:16]}…, the manifest records "
                f"{str(produced.get('checkpoint_sha256'))[:16]}…: it is not the checkpoint the "
                f"results were evaluated from; {fix}")
    try:
        sub = load_submission(results)
    except SubmissionError as exc:
        raise ReferenceError(f"{row.name}: {results} {exc}") from None
    if sub.sha256 != produced.get("results_sha256"):
        raise ReferenceError(
            f"{row.name}: {results} holds results with sha256 {sub.sha256[:16]}…, the manifest "
            f"records {str(produced.get('results_sha256'))[:16]}…: it is not the shipped file; {fix}")
    from krazy_gym.evaluation.benchmarks import get_benchmark

    if get_benchmark(row.benchmark).name != sub.benchmark_name:
        raise ReferenceError(f"{row.name}: {results} is a {sub.benchmark_name} run, the manifest "
                             f"row is on {row.benchmark}; {fix}")
    if sub.agent_factory != row.evaluate["factory"]:
        raise ReferenceError(f"{row.name}: {results} records factory {sub.agent_factory!r}, the "
                             f"manifest {row.evaluate['factory']!r}; {fix}")
    return dataclasses.replace(sub, reference_kind=row.kind, reference_row=row.name)


@dataclasses.dataclass
class RowOutcome:
    """What :func:`seed_reference` did with one row."""

    row: str
    action: str  # "added", "present", "present-not-reference", "skipped", "missing"
    message: str
    id: int | None = None
    verified: bool | None = None
    unverified_after_verify: bool = False  # verification was asked for and failed


@dataclasses.dataclass
class SeedReport:
    """The outcome of :func:`seed_reference`, one :class:`RowOutcome` per manifest row."""

    directory: Path
    outcomes: list[RowOutcome]

    @property
    def added(self) -> int:
        return sum(o.action == "added" for o in self.outcomes)

    @property
    def unverified(self) -> list[RowOutcome]:
        """Rows whose verification was asked for and did not reproduce them."""
        return [o for o in self.outcomes if o.unverified_after_verify]

    def summary(self) -> str:
        from krazy_gym.evaluation.text import plain_text

        done = [o for o in self.outcomes if o.action != "missing"]
        missing = [o for o in self.outcomes if o.action == "missing"]
        lines = [f"reference rows from {self.directory}: {len(self.outcomes)} in the manifest, "
                 f"{len(done)} produced, {len(missing)} not produced yet; {self.added} added"]
        width = max((len(o.row) for o in done), default=0)
        lines += [f"  {o.row.ljust(width)}  {plain_text(o.message, None)}" for o in done]
        if missing:
            lines.append(f"not produced yet (see {self.directory / 'MANIFEST.md'}; `python "
                         "benchmarks/reference_suite.py --list` shows the time estimates): "
                         + ", ".join(o.row for o in missing))
        return "\n".join(lines)


def seed_reference(
    db: str | os.PathLike[str],
    reference_dir: str | os.PathLike[str] | None = None,
    *,
    verify: bool = True,
    create: bool = False,
    progress: Callable[[str], None] | None = None,
    only_verify: Collection[str] | None = None,
    reruns: Mapping[str, Mapping[str, Any]] | None = None,
) -> SeedReport:
    """Load every produced reference row into ``db`` (see the module docstring).

    ``verify=False`` stores new rows unverified without re-running anything (fast). With
    ``verify`` a row whose re-run does not reproduce its returns is stored unverified and
    listed in :attr:`SeedReport.unverified`. ``progress`` gets one line per row re-run.
    ``only_verify``: the names of the rows to verify (the others are stored unverified, and a
    later ``seed-reference`` verifies them); None verifies every row. ``reruns``: row name ->
    harness results of a re-run of that row made already in this process (the row's factory on
    its shipped checkpoint, the row's seeds and batch size: ``make demo``'s own evaluation),
    compared instead of running the row again.

    Raises:
        ReferenceError: the manifest cannot be read, or a produced row failed a check
            (every failure listed; nothing stored).
        store.StoreError: the database cannot be used (or is missing without ``create``).
    """
    manifest = load_manifest(reference_dir)
    db = Path(db)
    store.check_target(db, create)
    outcomes: dict[str, RowOutcome] = {}
    subs: dict[str, store.NewSubmission] = {}
    failures = []
    from krazy_gym.evaluation.benchmarks import get_benchmark

    for row in manifest.rows:
        if row.status != "done":
            outcomes[row.name] = RowOutcome(row.name, "missing", "not produced yet")
            continue
        try:
            get_benchmark(row.benchmark).hash  # noqa: B018 - builds the family (e.g. MuJoCo)
        except (KeyError, ValueError) as exc:  # not installed here (another version)
            failures.append(f"{row.name}: benchmark {row.benchmark!r} is not installed: {exc}")
            continue
        except Exception as exc:  # noqa: BLE001 - an extra (mujoco) missing on this machine
            outcomes[row.name] = RowOutcome(
                row.name, "skipped", f"skipped: benchmark {row.benchmark} cannot be built here "
                f"({type(exc).__name__}: {exc}); install its extra to load this row")
            continue
        try:
            subs[row.name] = check_row(manifest, row)
        except ReferenceError as exc:
            failures.append(str(exc))
    if failures:
        raise ReferenceError(
            f"{len(failures)} reference row(s) refused, nothing stored:\n  " + "\n  ".join(failures))

    inserts: list[store.NewSubmission] = []
    mark: list[tuple[int, str]] = []
    for name, sub in subs.items():
        row = manifest.row(name)
        stored = store.lookup_run(db, sub)
        if stored is not None and not stored.is_reference:
            outcomes[name] = RowOutcome(
                name, "present-not-reference",
                f"already stored as submission #{stored.id} by `submit` (not a reference row); "
                "left as it is", id=stored.id, verified=stored.verified)
            continue
        if stored is not None and (stored.verified or not verify):
            state = "verified" if stored.verified else "unverified"
            outcomes[name] = RowOutcome(name, "present", f"already stored as reference row "
                                        f"#{stored.id} ({state}): nothing added",
                                        id=stored.id, verified=stored.verified)
            continue
        ok, report = False, "not verified (--no-verify)"
        this_verify = verify and (only_verify is None or name in only_verify)
        if verify and not this_verify:
            report = "not verified here (run seed-reference again to verify it)"
        if this_verify:
            rerun = (reruns or {}).get(name)
            if progress is not None and rerun is None:
                what = "on the shipped checkpoint " if row.checkpoint is not None else ""
                progress(f"verifying {name}: re-running {sub.agent_factory} {what}...")
            ok, report = verify_row(manifest, row, sub, rerun=rerun)
        if stored is not None:  # a reference row stored unverified earlier
            if ok:
                mark.append((stored.id, sub.agent_factory))
                message = f"already stored as reference row #{stored.id}; now {report}"
            else:
                message = f"already stored as reference row #{stored.id} (unverified); {report}"
            outcomes[name] = RowOutcome(name, "present", message, id=stored.id, verified=ok,
                                        unverified_after_verify=this_verify and not ok)
            continue
        inserts.append(dataclasses.replace(sub, verified=ok,
                                           verified_factory=sub.agent_factory if ok else None))
        outcomes[name] = RowOutcome(name, "added", report, verified=ok,
                                    unverified_after_verify=this_verify and not ok)

    if inserts or mark:
        submitted_at = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        stored_rows = store.store_reference_rows(db, inserts, submitted_at, mark_verified=mark,
                                                 create=create)
        for sub, result in zip(inserts, stored_rows):
            outcome = outcomes[sub.reference_row]
            if result.added:
                outcome.id = result.id
                outcome.message = f"added as #{result.id}, {outcome.message}"
            else:  # stored meanwhile by another process
                outcome.action, outcome.id = "present", result.id
                outcome.message = f"stored meanwhile as #{result.id}: nothing added"
    return SeedReport(manifest.directory, [outcomes[r.name] for r in manifest.rows])


__all__ = [
    "CHECKPOINTS_BUDGET_BYTES", "KINDS", "MANIFEST_VERSION", "Manifest", "RESULTS_BUDGET_BYTES",
    "ROW_CHECKPOINT_BUDGET_BYTES", "ReferenceError", "Row", "RowOutcome", "SeedReport",
    "check_row", "default_reference_dir", "evaluation_env", "expand", "file_sha256",
    "load_manifest", "seed_reference", "verify_row",
]
