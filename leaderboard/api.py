"""The leaderboard's Python API (what the CLI and ``krazy_gym/demo.py`` call).

    >>> from leaderboard import api
    >>> result = api.submit("results.json", db="board.db")      # doctest: +SKIP
    >>> print(api.show(db="board.db"))                          # doctest: +SKIP
    >>> api.render(db="board.db", out_dir="site")               # doctest: +SKIP
    >>> api.export(db="board.db", out="board.csv")              # doctest: +SKIP
    >>> print(api.seed_reference(db="board.db", create=True).summary())  # doctest: +SKIP

``db=None`` means :func:`default_db`: ``$KRAZY_LEADERBOARD_DB`` if set, else
``leaderboard/leaderboard.db`` next to this package (ignored by git).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from krazy_gym.evaluation.text import MAX_FACTORY_CHARS, plain_text
from leaderboard import store
from leaderboard.errors import SubmissionError

DB_ENV = "KRAZY_LEADERBOARD_DB"

#: Tolerances when ``--verify`` compares re-run task scores with the submitted ones.
VERIFY_RTOL = 1e-6
VERIFY_ATOL = 1e-8


def default_db() -> Path:
    """``$KRAZY_LEADERBOARD_DB`` if set, else ``leaderboard/leaderboard.db`` in the package."""
    env = os.environ.get(DB_ENV)
    return Path(env) if env else Path(__file__).with_name("leaderboard.db")


def _db(db: str | os.PathLike[str] | None) -> Path:
    return default_db() if db is None else Path(db)


@dataclasses.dataclass(frozen=True)
class SubmitResult:
    """What :func:`submit` stored."""

    id: int
    sha256: str
    benchmark: str
    agent: str
    iqm: float
    iqm_low: float
    iqm_high: float
    mean: float
    verified: bool
    verify_report: str | None
    num_seeds: int = 0
    rank_seeds: int = 0

    @property
    def ranked(self) -> bool:
        """Whether the row has enough seeds to be ranked (else it is listed unranked)."""
        return self.num_seeds >= self.rank_seeds

    def summary(self) -> str:
        text = (
            f"accepted as submission #{self.id}: {plain_text(self.agent)} on {self.benchmark}, "
            f"normalised IQM {self.iqm:.3f} [{self.iqm_low:.3f}, {self.iqm_high:.3f}], mean "
            f"{self.mean:.3f}"
        )
        if not self.ranked:
            text += (f"\nlisted unranked: {self.num_seeds} seeds, {self.benchmark} ranks runs "
                     f"with {self.rank_seeds} or more (seeds 0..{self.rank_seeds - 1})")
        if self.verify_report:
            text += f"\n{self.verify_report}"
        return text


def check_verify_factory(sub: store.NewSubmission, factory_spec: str) -> None:
    """``--verify`` must name the factory the file records: verified means *this* factory
    on *these* seeds produced *these* returns (:class:`SubmissionError` ``verify`` if not)."""
    if factory_spec != sub.agent_factory:
        raise SubmissionError(
            "verify",
            f"--verify {plain_text(factory_spec, MAX_FACTORY_CHARS)!r} is not the factory the "
            f"file records ({plain_text(sub.agent_factory, MAX_FACTORY_CHARS)!r}); verification "
            "re-runs the recorded factory on the prescribed seeds — pass --verify "
            f"{plain_text(sub.agent_factory, MAX_FACTORY_CHARS)} (or submit without --verify)",
        )


#: what :func:`verify_scores` compares: the per-task scores (``submit --verify``) or every
#: raw return, explore episodes included (``seed-reference``)
VERIFY_COMPARE = ("scores", "returns")


def verify_scores(
    sub: store.NewSubmission,
    factory_spec: str,
    compare: str = "scores",
    rerun: Mapping[str, Any] | None = None,
) -> tuple[bool, str]:
    """Re-run ``factory_spec`` through the harness on the submission's benchmark and seeds.

    The seeds are the submission's (the prescribed ``0..K-1``); the run uses the submitted
    file's batch size (``run.batch_size``) when it records one. ``rerun``: harness results of
    such a re-run made already in this process (the demo's own evaluation of a shipped
    checkpoint), compared instead of running again; it must be of the submission's benchmark,
    seeds and batch size, or the check fails.

    Returns ``(matches, report)``: whether the re-run agent has the submitted name and the
    re-run equals the submission within :data:`VERIFY_RTOL`/:data:`VERIFY_ATOL` — every seed ×
    task score (``compare="scores"``, what ``submit --verify`` checks), or every raw return of
    every episode (``compare="returns"``, what ``seed-reference`` checks: the shipped
    checkpoint reproduces the file, not only its score) — and a one-line report.
    """
    from krazy_gym.evaluation.benchmarks import get_benchmark
    from krazy_gym.evaluation.metrics import task_scores
    from krazy_gym.evaluation.runner import evaluate

    if compare not in VERIFY_COMPARE:
        raise ValueError(f"compare must be one of {VERIFY_COMPARE}, got {compare!r}")
    bench = get_benchmark(sub.benchmark_name)
    if rerun is None:
        # the batch size shapes an agent's random stream, so re-run with the submitted one
        rerun = evaluate(
            factory_spec, bench, seeds=list(sub.seeds), batch_size=sub.batch_size, progress=False
        )
    else:
        given = (rerun["benchmark"]["name"], list(rerun["seeds"]), rerun["run"].get("batch_size"))
        wanted = (sub.benchmark_name, list(sub.seeds), sub.batch_size)
        if (given[:2] != wanted[:2] or rerun["benchmark"].get("hash") != bench.hash
                or (sub.batch_size is not None and given[2] != sub.batch_size)):
            return False, (
                f"verification FAILED: the given re-run (benchmark, seeds, batch size) {given} "
                f"is not the submission's {wanted}; the row is stored unverified"
            )
    if rerun["agent"]["name"] != sub.agent_name:
        return False, (
            f"verification FAILED: the re-run agent of {factory_spec} is named "
            f"{plain_text(rerun['agent']['name'])!r}, the file says {plain_text(sub.agent_name)!r}; "
            "the row is stored unverified"
        )
    rerun_returns = np.asarray(rerun["returns"], dtype=np.float64)
    if rerun_returns.shape != sub.returns.shape:
        return False, (
            f"verification FAILED: the re-run of {factory_spec} gave returns of shape "
            f"{rerun_returns.shape}, the file has {sub.returns.shape}"
        )
    if compare == "scores":
        ours, theirs, what = task_scores(rerun_returns, bench), task_scores(sub.returns, bench), "task score"
    else:
        ours, theirs, what = rerun_returns, sub.returns, "return"
    diff = float(np.max(np.abs(ours - theirs)))
    if np.allclose(ours, theirs, rtol=VERIFY_RTOL, atol=VERIFY_ATOL):
        return True, f"verified: re-running {factory_spec} reproduced every {what} (max |diff| {diff:.3g})"
    mismatched = int(np.sum(~np.isclose(ours, theirs, rtol=VERIFY_RTOL, atol=VERIFY_ATOL)))
    return False, (
        f"verification FAILED: re-running {factory_spec} on seeds {list(sub.seeds)} changed "
        f"{mismatched} of {ours.size} {what}s (max |diff| {diff:.3g}); the row is stored "
        "unverified — check that the factory and seeds are the ones that produced the file"
    )


def submit(
    path: str | os.PathLike[str],
    db: str | os.PathLike[str] | None = None,
    verify: str | None = None,
    create: bool = False,
) -> SubmitResult:
    """Validate ``path``, recompute its aggregates and store it in one transaction.

    With ``verify="pkg.module:factory"`` — which must be the factory the file records — the
    agent is first re-run through the harness on the file's (prescribed) seeds and the row is
    marked verified only if the agent name and task scores match (a mismatch still stores the
    row, unverified, and the report says why). ``create=True`` allows starting a new
    database (and its directory); without it a missing ``db`` is an error.

    Raises:
        SubmissionError: the file failed a check (``error.check`` names it); the database is
            unchanged (and a database that did not exist is not created).
        store.StoreError: the database itself cannot be used (or is missing without
            ``create``).
    """
    db = _db(db)
    store.check_target(db, create)  # before any work: a mistyped --db fails fast
    sub = _load(path)
    if verify is not None:
        check_verify_factory(sub, verify)
    store.check_not_duplicate(db, sub)  # cheap, before a possibly long --verify
    report = None
    if verify is not None:
        try:
            ok, report = verify_scores(sub, verify)
        except Exception as exc:  # noqa: BLE001 - any failure of the re-run is reported
            raise SubmissionError(
                "verify",
                f"re-running {verify!r} failed ({type(exc).__name__}: {exc}); fix the factory "
                "spec or submit without --verify",
            ) from exc
        sub = dataclasses.replace(sub, verified=ok, verified_factory=verify)
    submitted_at = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    new_id = store.insert_submission(db, sub, submitted_at, create=create)
    h = sub.headline
    return SubmitResult(
        id=new_id, sha256=sub.sha256, benchmark=sub.benchmark_name, agent=sub.agent_name,
        iqm=h["iqm"], iqm_low=h["iqm_low"], iqm_high=h["iqm_high"], mean=h["mean"],
        verified=sub.verified, verify_report=report, num_seeds=len(sub.seeds),
        rank_seeds=rank_seeds(sub.benchmark_name),
    )


def seed_reference(
    db: str | os.PathLike[str] | None = None,
    reference: str | os.PathLike[str] | None = None,
    verify: bool = True,
    create: bool = False,
    progress: Any = None,
    only_verify: Any = None,
    reruns: Any = None,
):
    """Load the shipped reference rows (``reference/``, or the directory ``reference``) into
    ``db`` as reference rows, verified by re-running their checkpoints unless ``verify=False``
    (``only_verify``: just these rows; ``reruns``: re-runs made already, by row name);
    idempotent. Returns a :class:`leaderboard.reference.SeedReport`; see
    :func:`leaderboard.reference.seed_reference` for the checks and what is refused."""
    from leaderboard.reference import seed_reference as _seed

    return _seed(_db(db), reference, verify=verify, create=create, progress=progress,
                 only_verify=only_verify, reruns=reruns)


def rank_seeds(benchmark_name: str) -> int:
    """How many seeds a row of this benchmark needs to be ranked (see :mod:`leaderboard.render`)."""
    from leaderboard.render import rank_seeds as _rank_seeds

    return _rank_seeds(benchmark_name)


def _load(path: str | os.PathLike[str]) -> store.NewSubmission:
    from leaderboard.validate import load_submission

    return load_submission(path)


def submissions(db: str | os.PathLike[str] | None = None) -> list[store.Submission]:
    """Every stored submission, ranked within each benchmark."""
    return store.list_submissions(_db(db))


def show(db: str | os.PathLike[str] | None = None) -> str:
    """The ranking per benchmark as a terminal table (what ``show`` prints).

    Every string from the database goes through :func:`plain_text` (control characters shown
    as escapes, long names cut), whatever was stored. Unranked rows (fewer seeds than the
    benchmark ranks) have rank ``-``; a verified row shows the factory that was re-run; a
    reference row (loaded by ``seed-reference``) shows its kind (``random``, ``baseline``,
    ``third-party``, ``oracle``) in the ``reference`` column, other rows ``-``.
    """
    from leaderboard.render import group_by_benchmark, ranks

    groups = group_by_benchmark(store.list_submissions(_db(db)))
    if not groups:
        return "no submissions yet"
    header = ("rank", "agent", "IQM [95% CI]", "mean [95% CI]", "seeds", "reference", "verified",
              "date")
    blocks = []
    for name, rows in sorted(groups.items()):
        table = [header] + [
            (
                "-" if rank is None else str(rank),
                plain_text(s.agent_name),
                f"{s.iqm:.3f} [{s.iqm_low:.3f}, {s.iqm_high:.3f}]",
                f"{s.mean:.3f} [{s.mean_low:.3f}, {s.mean_high:.3f}]",
                str(s.num_seeds),
                plain_text(s.reference_kind) if s.is_reference else "-",
                f"yes ({plain_text(s.verified_factory, MAX_FACTORY_CHARS)})" if s.verified else "no",
                plain_text(s.submitted_at[:10]),
            )
            for rank, s in zip(ranks(rows), rows)
        ]
        widths = [max(len(r[i]) for r in table) for i in range(len(header))]
        unranked = sum(r is None for r in ranks(rows))
        note = f", {unranked} unranked (< {rank_seeds(name)} seeds)" if unranked else ""
        lines = [
            f"{plain_text(name)}  (benchmark hash {plain_text(rows[0].benchmark_hash[:12])}, "
            f"{len(rows)} submission(s){note}; normalised scores)"
        ]
        for i, r in enumerate(table):
            lines.append("  ".join(c.rjust(w) if j in (0, 4) else c.ljust(w)
                                   for j, (c, w) in enumerate(zip(r, widths))).rstrip())
            if i == 0:
                lines.append("  ".join("-" * w for w in widths))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def render(
    db: str | os.PathLike[str] | None = None,
    out_dir: str | os.PathLike[str] = "site",
    force: bool = False,
) -> Path:
    """Write the static page for ``db`` into ``out_dir``; returns the path of index.html.

    ``out_dir`` must be new, empty or a directory this function rendered before (it holds
    the marker file); ``force=True`` writes into any directory (still deleting only files a
    previous render wrote). See :func:`leaderboard.render.render_site`.
    """
    from leaderboard.render import render_site

    return render_site(_db(db), out_dir, force=force)


def export(
    db: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] = "leaderboard.csv",
    fmt: str | None = None,
) -> Path:
    """Export the ranking to CSV or JSON (``fmt`` defaults to ``out``'s extension)."""
    from leaderboard.export import export as _export

    return _export(_db(db), out, fmt)


def serve(directory: str | os.PathLike[str] = "site", port: int = 8000, host: str = "127.0.0.1") -> None:
    """Serve a rendered directory on localhost until Ctrl-C."""
    from leaderboard.serve import serve as _serve

    _serve(directory, port, host)


__all__: list[Any] = [
    "SubmissionError", "SubmitResult", "check_verify_factory", "default_db", "export",
    "rank_seeds", "render", "seed_reference", "serve", "show", "submissions", "submit",
    "verify_scores",
]
