"""The SQLite store behind the leaderboard: one table of validated submissions.

Why SQLite: one file, transactional, safe for several writers on one machine, and in the
standard library. The discipline that keeps the file intact:

* **Readers never create or change anything.** ``show``/``render``/``export`` open the file
  read-only (``mode=ro`` URI); a missing database is an error, not a new empty file.
* **A new database only on request, and only whole.** A missing ``--db`` (file or directory)
  is an error unless ``create`` (``submit --create``); a new database is built in a
  temporary file next to it and hard-linked into place once its first row is committed, so
  a refused first submission leaves no file, and concurrent creators never clobber each
  other (the loser of the link joins the winner's file).
* **One write transaction per submission.** :func:`insert_submission` runs ``BEGIN IMMEDIATE``
  (takes the write lock up front, so two submitters never both read "not a duplicate" and then
  race), creates the schema when the file is new, checks for a duplicate, inserts the row and
  commits. Any exception rolls back; a process killed before ``COMMIT`` leaves only a rollback
  journal that SQLite replays on the next open, so the database is exactly as it was.
* **Rollback-journal mode** (SQLite's default, not WAL): WAL would rewrite the header of the
  database file on first open, so a rejected submission could change the file's bytes.
* **Waiting, not failing, on contention:** ``busy_timeout`` plus a bounded retry around
  ``BEGIN IMMEDIATE`` lets many processes submit at once.

Columns hold what the leaderboard needs to rank and audit a submission: the benchmark (name
and hash), the agent (name and factory), the sha256 of the canonical results content and the
:func:`run_key` of the raw run (both ``UNIQUE``: the same file, or the same returns re-sealed
with other metadata or spelled otherwise, can be stored once), provenance, the raw returns array (float64
little-endian bytes plus its shape), the aggregates *recomputed here* from that array, the
verified flag, the submission time (UTC, ISO 8601) and, for the rows ``seed-reference`` loads
from the shipped ``reference/`` directory, the reference kind (``random``, ``baseline``,
``third-party``, ``oracle``) and the manifest row's name (NULL for every other submission).

**Layout versions** (``PRAGMA user_version``): 1 = without the two reference columns; 2 = this
layout. Readers read both (a version-1 row is not a reference row); the first write into a
version-1 database adds the columns (``ALTER TABLE ... ADD COLUMN``, existing rows get NULL)
and sets version 2 *inside its own transaction*, so a rejected submission leaves even an old
database byte for byte unchanged. A database of a newer version is refused.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from leaderboard.errors import SubmissionError

#: Version of the table layout below (stored in ``PRAGMA user_version``).
STORE_VERSION = 2
#: Older layouts this code reads, and migrates on its first write (see the module docstring).
READABLE_VERSIONS = (1, 2)
#: What a reference row is (``reference_kind``): the uniform random agent, one of our
#: baselines, a third-party agent (e.g. sb3-contrib), or a privileged oracle.
REFERENCE_KINDS = ("random", "baseline", "third-party", "oracle")

#: Milliseconds a connection waits for another writer's lock before ``database is locked``.
BUSY_TIMEOUT_MS = 60_000

#: Test hook: when this environment variable names a file path, :func:`insert_submission`
#: creates that file after writing the row and then waits *inside* the open transaction until
#: the process is killed. The crash-safety test SIGKILLs the process at exactly that point.
PAUSE_HOOK_ENV = "KRAZY_LEADERBOARD_TEST_PAUSE_IN_TRANSACTION"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS submissions (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    benchmark_name      TEXT    NOT NULL,
    benchmark_hash      TEXT    NOT NULL,
    agent_name          TEXT    NOT NULL,
    agent_factory       TEXT    NOT NULL,
    sha256              TEXT    NOT NULL UNIQUE,
    run_key             TEXT    NOT NULL UNIQUE,
    schema_version      INTEGER NOT NULL,
    seeds               TEXT    NOT NULL,
    explore_episodes    INTEGER NOT NULL,
    exploit_episodes    INTEGER NOT NULL,
    returns             BLOB    NOT NULL,
    returns_shape       TEXT    NOT NULL,
    iqm                 REAL    NOT NULL,
    iqm_low             REAL    NOT NULL,
    iqm_high            REAL    NOT NULL,
    mean                REAL    NOT NULL,
    mean_low            REAL    NOT NULL,
    mean_high           REAL    NOT NULL,
    aggregates          TEXT    NOT NULL,
    exploration_metrics TEXT    NOT NULL,
    timing              TEXT    NOT NULL,
    provenance          TEXT    NOT NULL,
    results_created     TEXT    NOT NULL,
    document            TEXT    NOT NULL,
    verified            INTEGER NOT NULL DEFAULT 0 CHECK (verified IN (0, 1)),
    verified_factory    TEXT,
    submitted_at        TEXT    NOT NULL,
    reference_kind      TEXT {kind_check},
    reference_row       TEXT
);
CREATE INDEX IF NOT EXISTS submissions_by_benchmark ON submissions (benchmark_name, iqm DESC);
"""
_KIND_CHECK = ("CHECK (reference_kind IS NULL OR reference_kind IN ("
               + ", ".join(f"'{k}'" for k in REFERENCE_KINDS) + "))")
_SCHEMA = _SCHEMA.replace("{kind_check}", _KIND_CHECK)
#: Version 1 -> 2: the reference columns (existing rows: NULL, i.e. not reference rows).
_MIGRATE_V1 = (
    f"ALTER TABLE submissions ADD COLUMN reference_kind TEXT {_KIND_CHECK}",
    "ALTER TABLE submissions ADD COLUMN reference_row TEXT",
)


class StoreError(RuntimeError):
    """The database cannot be used (missing, another layout, corrupt)."""


class DuplicateSubmissionError(SubmissionError):
    """These results (same content sha256, or same run key) are already in the database."""

    def __init__(self, sha256: str, existing_id: int, agent: str, submitted_at: str) -> None:
        self.existing_id = existing_id
        super().__init__(
            "duplicate",
            f"these results (sha256 {sha256[:16]}…) or the same raw returns on the same "
            f"benchmark and seeds are already stored as submission #{existing_id} (agent "
            f"{agent!r}, submitted {submitted_at}); a run can be submitted once — evaluate "
            "again (other seeds or another agent) for a new entry",
        )


def run_key(benchmark_hash: str, seeds: list[int], returns: np.ndarray) -> str:
    """sha256 of what a run *measured*: benchmark hash, seeds and the raw returns, canonically.

    Canonical: the seeds in ascending order with their rows of ``returns``, every return as
    a float64 with ``-0.0`` made ``0.0`` (so ``1``, ``1.0``, ``1e0`` and ``-0.0``/``0``
    spell the same number). Two files with the same run key hold the same run, whatever
    their metadata (agent name, creation time, timing) or spelling says, so the second one
    is a duplicate.
    """
    seeds = [int(s) for s in seeds]
    order = sorted(range(len(seeds)), key=seeds.__getitem__)
    canonical = np.asarray(returns, dtype=np.float64)[order] + 0.0  # -0.0 + 0.0 == +0.0
    h = hashlib.sha256()
    h.update(json.dumps([benchmark_hash, sorted(seeds), list(canonical.shape)]).encode())
    h.update(np.ascontiguousarray(canonical, dtype="<f8").tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class Submission:
    """One stored submission, as read back from the database."""

    id: int
    benchmark_name: str
    benchmark_hash: str
    agent_name: str
    agent_factory: str
    sha256: str
    seeds: list[int]
    explore_episodes: int
    exploit_episodes: int
    returns: np.ndarray
    iqm: float
    iqm_low: float
    iqm_high: float
    mean: float
    mean_low: float
    mean_high: float
    aggregates: dict[str, Any]
    exploration_metrics: Any
    timing: Any
    provenance: dict[str, Any]
    results_created: str
    verified: bool
    verified_factory: str | None
    submitted_at: str
    reference_kind: str | None = None  # one of REFERENCE_KINDS for a shipped reference row
    reference_row: str | None = None  # its manifest row name, e.g. "Bandit-v1/rl2"

    @property
    def num_seeds(self) -> int:
        return len(self.seeds)

    @property
    def is_reference(self) -> bool:
        """Whether ``seed-reference`` loaded this row from the shipped ``reference/``."""
        return self.reference_kind is not None


@dataclass(frozen=True)
class NewSubmission:
    """Everything :func:`insert_submission` writes (built by :mod:`leaderboard.validate`)."""

    benchmark_name: str
    benchmark_hash: str
    agent_name: str
    agent_factory: str
    sha256: str
    schema_version: int
    seeds: list[int]
    explore_episodes: int
    exploit_episodes: int
    returns: np.ndarray
    aggregates: dict[str, Any]
    headline: dict[str, float]  # iqm, iqm_low, iqm_high, mean, mean_low, mean_high
    exploration_metrics: Any
    timing: Any
    provenance: dict[str, Any]
    results_created: str
    document: str
    verified: bool = False
    verified_factory: str | None = None
    batch_size: int | None = None  # the run's batch size (``--verify`` re-runs with it)
    reference_kind: str | None = None  # set only by seed-reference (REFERENCE_KINDS)
    reference_row: str | None = None


def _database_errors(func):
    """Report SQLite's own failures (not a database, disk full, ...) as :class:`StoreError`."""

    @functools.wraps(func)
    def wrapper(path, *args, **kwargs):
        try:
            return func(path, *args, **kwargs)
        except sqlite3.IntegrityError as exc:  # a value the table refuses: the data, not the file
            raise SubmissionError(
                "values", f"a value of this submission cannot be stored ({exc}); fix the results "
                "file (or report a leaderboard bug if `python -m leaderboard submit` accepted it)"
            ) from exc
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path}: {exc} (is --db an intact leaderboard database?)") from exc

    return wrapper


def _connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    if readonly:
        if not path.is_file():
            raise StoreError(
                f"no leaderboard database at {path}; submit a results file first "
                f"(`python -m leaderboard submit results.json --db {path}`)"
            )
        if Path(f"{path}-journal").exists():
            # A writer died mid-transaction and left a hot journal. A read-only connection
            # cannot replay it (SQLITE_READONLY_ROLLBACK), so let a read-write connection
            # roll the database back to its last committed state first.
            with contextlib.closing(sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000)) as rw:
                rw.execute("SELECT count(*) FROM sqlite_master").fetchone()
        uri = f"file:{quote(path.resolve().as_posix())}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    else:
        conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.row_factory = sqlite3.Row
    return conn


def _layout_version(conn: sqlite3.Connection, path: Path) -> int | None:
    """The database's layout version (one of :data:`READABLE_VERSIONS`); None when empty."""
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} is not a leaderboard database: {exc}") from exc
    if "submissions" not in tables:
        if tables - {"sqlite_sequence"}:
            raise StoreError(f"{path} is an SQLite database of something else (tables {sorted(tables)})")
        return None
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version not in READABLE_VERSIONS:
        raise StoreError(
            f"{path} has leaderboard store version {version}, this code reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))}; use a matching krazy_gym version or a "
            "new --db"
        )
    return int(version)


def _check_layout(conn: sqlite3.Connection, path: Path) -> bool:
    """True when the leaderboard table exists in a readable layout; False for an empty database."""
    return _layout_version(conn, path) is not None


def _prepare_for_write(conn: sqlite3.Connection, path: Path) -> None:
    """Inside a write transaction: create the schema in an empty file, or migrate an older
    layout to :data:`STORE_VERSION` (rolled back with the transaction if it fails)."""
    version = _layout_version(conn, path)
    if version is None:
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
    elif version == 1:
        for statement in _MIGRATE_V1:
            conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {STORE_VERSION}")


def _begin_immediate(conn: sqlite3.Connection, attempts: int = 20) -> None:
    """``BEGIN IMMEDIATE`` with retries on top of busy_timeout (lock storms under load)."""
    for attempt in range(attempts):
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if attempt == attempts - 1:
                raise StoreError(f"the database stayed locked by another writer: {exc}") from exc
            time.sleep(0.05 * (attempt + 1))


def _pause_for_crash_test() -> None:
    marker = os.environ.get(PAUSE_HOOK_ENV)
    if not marker:
        return
    Path(marker).write_text(str(os.getpid()))
    while True:  # the test kills the process here, inside the open transaction
        time.sleep(0.05)


@_database_errors
def check_not_duplicate(path: str | os.PathLike[str], sub: NewSubmission) -> None:
    """Raise :class:`DuplicateSubmissionError` if ``sub`` is stored (read-only look-up).

    An early, cheap check (e.g. before a long ``--verify`` run); :func:`insert_submission`
    checks again inside its write transaction, which is what makes duplicates impossible.
    """
    path = Path(path)
    if not path.is_file():
        return
    with contextlib.closing(_connect(path, readonly=True)) as conn:
        if not _check_layout(conn, path):
            return
        row = _find_duplicate(conn, sub)
    if row is not None:
        raise DuplicateSubmissionError(sub.sha256, int(row[0]), row[1], row[2])


@_database_errors
def lookup_run(path: str | os.PathLike[str], sub: NewSubmission) -> Submission | None:
    """The stored row holding the same run as ``sub`` (sha256 or :func:`run_key`), or None
    (also when the database does not exist yet). Read-only."""
    path = Path(path)
    if not path.is_file():
        return None
    with _reader(path) as conn:
        if conn is None:
            return None
        dup = _find_duplicate(conn, sub)
        row = None if dup is None else conn.execute(
            "SELECT * FROM submissions WHERE id = ?", (int(dup["id"]),)).fetchone()
    return None if row is None else _row_to_submission(row)


def _find_duplicate(conn: sqlite3.Connection, sub: NewSubmission) -> sqlite3.Row | None:
    key = run_key(sub.benchmark_hash, sub.seeds, sub.returns)
    return conn.execute(
        "SELECT id, agent_name, submitted_at FROM submissions WHERE sha256 = ? OR run_key = ?"
        " ORDER BY id LIMIT 1",
        (sub.sha256, key),
    ).fetchone()


def check_target(path: str | os.PathLike[str], create: bool = False) -> None:
    """Raise :class:`StoreError` unless ``path`` can take a submission: an existing file, or,
    with ``create``, a new path (its directory is made if missing). A mistyped ``--db``
    therefore never starts a new leaderboard (or a directory tree) silently."""
    path = Path(path)
    if path.is_dir():
        raise StoreError(f"--db {path} is a directory; pass the path of the database file")
    if path.exists():
        if not path.is_file():
            raise StoreError(f"--db {path} is not a regular file (a FIFO or device?); pass the "
                             "path of the database file")
        return
    if not create:
        where = "" if path.parent.is_dir() else f" (and directory {path.parent} does not exist)"
        raise StoreError(
            f"no leaderboard database at {path}{where}; to start a new leaderboard there pass "
            "--create (api: create=True)"
        )
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise StoreError(f"cannot create {path}: {parent} is not a directory")


@_database_errors
def insert_submission(
    path: str | os.PathLike[str], sub: NewSubmission, submitted_at: str, *, create: bool = False
) -> int:
    """Store one submission in a single ``BEGIN IMMEDIATE`` transaction; return its id.

    Raises :class:`DuplicateSubmissionError` (nothing written) when a row with the same sha256
    or :func:`run_key` exists. Any failure rolls the transaction back. A new database (only
    with ``create``; see :func:`check_target`) is built in a temporary file next to ``path``
    and linked into place only once its first row is committed, so a failed first
    submission leaves no file behind, and two processes creating the same database at once
    both land (the second inserts into the first's file).
    """
    path = Path(path)
    check_target(path, create)
    returns = np.ascontiguousarray(sub.returns, dtype="<f8")

    def work(conn: sqlite3.Connection) -> int:
        dup = _find_duplicate(conn, sub)
        if dup is not None:
            raise DuplicateSubmissionError(
                sub.sha256, int(dup["id"]), dup["agent_name"], dup["submitted_at"]
            )
        new_id = _insert_row(conn, sub, returns, submitted_at)
        _pause_for_crash_test()
        return new_id

    return _write(path, work)


@dataclass(frozen=True)
class StoredRow:
    """What :func:`store_reference_rows` did with one submission."""

    id: int
    added: bool  # False: the same run was already stored (as row ``id``)
    existing_reference_kind: str | None = None  # of the stored row when ``added`` is False


@_database_errors
def store_reference_rows(
    path: str | os.PathLike[str],
    subs: list[NewSubmission],
    submitted_at: str,
    *,
    mark_verified: list[tuple[int, str]] = (),
    create: bool = False,
) -> list[StoredRow]:
    """Insert several rows and mark stored rows verified, all in **one** transaction.

    For ``seed-reference``: each of ``subs`` is inserted unless the same run (sha256 or
    :func:`run_key`) is already stored, in which case nothing is written for it and its
    :class:`StoredRow` names the existing row (idempotence). ``mark_verified`` holds ``(id,
    factory)`` pairs of stored reference rows whose re-run reproduced them: their
    ``verified``/``verified_factory`` are set (a row is never marked unverified). A failure
    rolls everything back; a new database (``create``) is linked into place only once the
    transaction committed, as for :func:`insert_submission`.
    """
    path = Path(path)
    check_target(path, create)
    arrays = [np.ascontiguousarray(s.returns, dtype="<f8") for s in subs]

    def work(conn: sqlite3.Connection) -> list[StoredRow]:
        out = []
        for sub, returns in zip(subs, arrays):
            dup = _find_duplicate(conn, sub)
            if dup is not None:
                kind = conn.execute("SELECT reference_kind FROM submissions WHERE id = ?",
                                    (int(dup["id"]),)).fetchone()[0]
                out.append(StoredRow(int(dup["id"]), False, kind))
            else:
                out.append(StoredRow(_insert_row(conn, sub, returns, submitted_at), True))
        for row_id, factory in mark_verified:
            cur = conn.execute(
                "UPDATE submissions SET verified = 1, verified_factory = ? WHERE id = ? AND "
                "reference_kind IS NOT NULL", (factory, int(row_id)))
            if cur.rowcount != 1:
                raise StoreError(f"{path}: no reference row #{row_id} to mark verified")
        return out

    return _write(path, work)


def _write(path: Path, work):
    """Run ``work(conn)`` in one write transaction on ``path`` (a new database when missing:
    built in a temporary file and hard-linked into place after the commit)."""
    if path.exists():
        return _transaction(path, work)
    import secrets

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        result = _transaction(tmp, work)
        try:
            os.link(tmp, path)  # atomic, and never replaces a database created meanwhile
        except FileExistsError:  # another process created it first: join that database
            return _transaction(path, work)
        except OSError:  # no hard links on this file system: create in place
            return _transaction(path, work)
        return result
    finally:
        for leftover in (tmp, Path(f"{tmp}-journal")):
            try:
                leftover.unlink()
            except FileNotFoundError:
                pass


def _transaction(path: Path, work):
    with contextlib.closing(_connect(path, readonly=False)) as conn:
        _begin_immediate(conn)
        try:
            _prepare_for_write(conn, path)
            result = work(conn)
            conn.execute("COMMIT")
            return result
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise


def _insert_row(conn: sqlite3.Connection, sub: NewSubmission, returns: np.ndarray,
                submitted_at: str) -> int:
    """The INSERT of one row (inside the caller's write transaction); returns its id."""
    if sub.reference_kind is not None and sub.reference_kind not in REFERENCE_KINDS:
        raise ValueError(f"reference_kind must be one of {REFERENCE_KINDS} or None, got "
                         f"{sub.reference_kind!r}")
    h = sub.headline
    cur = conn.execute(
        """INSERT INTO submissions (
            benchmark_name, benchmark_hash, agent_name, agent_factory, sha256, run_key,
            schema_version, seeds, explore_episodes, exploit_episodes, returns,
            returns_shape, iqm, iqm_low, iqm_high, mean, mean_low, mean_high,
            aggregates, exploration_metrics, timing, provenance, results_created,
            document, verified, verified_factory, submitted_at, reference_kind,
            reference_row
        ) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
                  ?, ?, ?)""",
        (
            sub.benchmark_name,
            sub.benchmark_hash,
            sub.agent_name,
            sub.agent_factory,
            sub.sha256,
            run_key(sub.benchmark_hash, sub.seeds, returns),
            sub.schema_version,
            json.dumps(list(sub.seeds)),
            sub.explore_episodes,
            sub.exploit_episodes,
            returns.tobytes(),
            json.dumps(list(returns.shape)),
            h["iqm"],
            h["iqm_low"],
            h["iqm_high"],
            h["mean"],
            h["mean_low"],
            h["mean_high"],
            json.dumps(sub.aggregates, sort_keys=True),
            json.dumps(sub.exploration_metrics, sort_keys=True),
            json.dumps(sub.timing, sort_keys=True),
            json.dumps(sub.provenance, sort_keys=True),
            sub.results_created,
            sub.document,
            int(sub.verified),
            sub.verified_factory,
            submitted_at,
            sub.reference_kind,
            sub.reference_row,
        ),
    )
    return int(cur.lastrowid)


def _row_to_submission(row: sqlite3.Row) -> Submission:
    shape = tuple(json.loads(row["returns_shape"]))
    returns = np.frombuffer(row["returns"], dtype="<f8").reshape(shape).astype(np.float64)
    return Submission(
        id=int(row["id"]),
        benchmark_name=row["benchmark_name"],
        benchmark_hash=row["benchmark_hash"],
        agent_name=row["agent_name"],
        agent_factory=row["agent_factory"],
        sha256=row["sha256"],
        seeds=json.loads(row["seeds"]),
        explore_episodes=int(row["explore_episodes"]),
        exploit_episodes=int(row["exploit_episodes"]),
        returns=returns,
        iqm=float(row["iqm"]),
        iqm_low=float(row["iqm_low"]),
        iqm_high=float(row["iqm_high"]),
        mean=float(row["mean"]),
        mean_low=float(row["mean_low"]),
        mean_high=float(row["mean_high"]),
        aggregates=json.loads(row["aggregates"]),
        exploration_metrics=json.loads(row["exploration_metrics"]),
        timing=json.loads(row["timing"]),
        provenance=json.loads(row["provenance"]),
        results_created=row["results_created"],
        verified=bool(row["verified"]),
        verified_factory=row["verified_factory"],
        submitted_at=row["submitted_at"],
        # a version-1 database has no such columns: none of its rows is a reference row
        reference_kind=row["reference_kind"] if "reference_kind" in row.keys() else None,
        reference_row=row["reference_row"] if "reference_row" in row.keys() else None,
    )


@contextlib.contextmanager
def _reader(path: str | os.PathLike[str]) -> Iterator[sqlite3.Connection | None]:
    path = Path(path)
    with contextlib.closing(_connect(path, readonly=True)) as conn:
        yield conn if _check_layout(conn, path) else None


@_database_errors
def list_submissions(path: str | os.PathLike[str]) -> list[Submission]:
    """Every submission, ranked: by benchmark name, then normalised IQM (best first), then id."""
    with _reader(path) as conn:
        if conn is None:
            return []
        rows = conn.execute(
            "SELECT * FROM submissions ORDER BY benchmark_name, iqm DESC, mean DESC, id"
        ).fetchall()
    return [_row_to_submission(r) for r in rows]


@_database_errors
def get_document(path: str | os.PathLike[str], submission_id: int) -> dict[str, Any]:
    """The results document exactly as submitted (for export and audits)."""
    with _reader(path) as conn:
        row = None if conn is None else conn.execute(
            "SELECT document FROM submissions WHERE id = ?", (submission_id,)
        ).fetchone()
    if row is None:
        raise KeyError(f"no submission with id {submission_id} in {path}")
    return json.loads(row["document"])


@_database_errors
def integrity_check(path: str | os.PathLike[str]) -> str:
    """``PRAGMA integrity_check`` of the database ("ok" when intact)."""
    with contextlib.closing(_connect(Path(path), readonly=True)) as conn:
        return "\n".join(r[0] for r in conn.execute("PRAGMA integrity_check"))
