"""Render the leaderboard as a static HTML page (no network, no CDN, no build step).

``render_site(db, out_dir)`` writes::

    out_dir/index.html                  one sortable table per benchmark
    out_dir/static/leaderboard.{js,css} ~60 lines of vanilla JS for sorting, a small stylesheet
    out_dir/plots/<benchmark>-iqm.png        normalised IQM and mean with 95% CIs (matplotlib)
    out_dir/plots/<benchmark>-adaptation.png mean return per episode of a task, per agent
    out_dir/plots/<benchmark>-scores.png     score distributions (rliable performance profiles)
    out_dir/plots/<benchmark>-reference.png  adaptation curves of the reference rows only
                                         (when the benchmark has any)
    out_dir/.krazy-leaderboard-site      marker: this directory is a rendered page (and which
                                         files the render wrote)

Outputs only where they belong: ``out_dir`` must be new, empty, or hold the marker of an
earlier render; any other directory is refused unless ``force=True``. Only the files listed
above are written, and the only files ever deleted are plots that an earlier render wrote
(listed in its marker) and that are no longer on the page.

Reference rows (loaded by ``seed-reference`` from the shipped ``reference/``) are marked in
the table (a "reference: <kind>" badge), labelled ``[reference]`` in the plots, and listed
per benchmark in a "Reference agents against random" table (IQM against the random reference
row's, and the position between random and the oracle when an oracle row is shipped).

Every file is written atomically (temporary file in the same directory, then ``os.replace``)
and ``index.html`` last, so a browser or ``serve`` never sees a page that points at a plot not
yet written. Everything shown comes from the database (scores recomputed at submission);
besides it rendering needs only each benchmark's ``rank_seeds`` rule (how many seeds a row
needs to be ranked), with a default for benchmarks not installed here. Strings from results
files are plain text everywhere: HTML-escaped with control characters made visible on the
page, and drawn without mathtext (and without TeX) in the plots.
"""

from __future__ import annotations

import datetime as _dt
import html
import io
import json
import os
import re
from importlib import resources
from pathlib import Path
from string import Template

import numpy as np

from krazy_gym.evaluation.text import MAX_FACTORY_CHARS, matplotlib_literal, plain_text
from leaderboard.store import Submission, list_submissions

STATIC_FILES = ("leaderboard.js", "leaderboard.css")
#: Name of the marker file that makes a directory a rendered leaderboard page.
MARKER = ".krazy-leaderboard-site"
_PLOT_FILE = re.compile(r"^plots/[A-Za-z0-9_.-]+\.png$")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary sibling file and ``os.replace`` (the
    directory is created if missing; an existing non-regular ``path`` is never replaced)."""
    from krazy_gym.evaluation.results import write_bytes_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, data)


def slug(name: str) -> str:
    """A file-name and HTML-id safe form of a benchmark name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "benchmark"


def rank_seeds(benchmark_name: str) -> int:
    """Seeds a row needs to be ranked: the installed benchmark's ``rank_seeds`` (the
    :class:`~krazy_gym.evaluation.benchmarks.Benchmark` default if it is not installed)."""
    from krazy_gym.evaluation.benchmarks import Benchmark, get_benchmark

    try:
        return get_benchmark(benchmark_name).rank_seeds
    except (KeyError, ValueError, TypeError):
        return Benchmark.__dataclass_fields__["rank_seeds"].default


def group_by_benchmark(subs: list[Submission]) -> dict[str, list[Submission]]:
    """Submissions per benchmark, in display order: the ranked rows (at least
    :func:`rank_seeds` seeds) best first (IQM, then mean, then id), then the unranked ones
    in the same order."""
    groups: dict[str, list[Submission]] = {}
    for sub in subs:
        groups.setdefault(sub.benchmark_name, []).append(sub)
    for name, rows in groups.items():
        need = rank_seeds(name)
        rows.sort(key=lambda s: (s.num_seeds < need, -s.iqm, -s.mean, s.id))
    return groups


def ranks(rows: list[Submission]) -> list[int | None]:
    """Rank of each row of one benchmark's :func:`group_by_benchmark` list (None: unranked)."""
    if not rows:
        return []
    need = rank_seeds(rows[0].benchmark_name)
    out: list[int | None] = []
    for s in rows:
        out.append(len(out) + 1 if s.num_seeds >= need else None)
    return out


def _label(rank: int | None, sub: Submission) -> str:
    """A plot label: rank and agent name (``[reference]`` for a shipped reference row), drawn
    literally (no mathtext)."""
    ref = " [reference]" if sub.is_reference else ""
    return (f"{'#' + str(rank) if rank is not None else '(unranked)'} "
            f"{matplotlib_literal(sub.agent_name)}{ref}")


#: line styles of the reference kinds in the adaptation plots (random and oracle are the
#: bounds the baselines are read against)
_KIND_STYLE = {"random": {"color": "#777777", "linestyle": "--"},
               "oracle": {"color": "#000000", "linestyle": ":"}}


def _without_tex(plot):
    """Run a plot function with ``text.usetex`` off whatever the user's matplotlibrc says:
    names must never reach a TeX parser (mathtext is escaped by :func:`_label`)."""
    import functools

    @functools.wraps(plot)
    def wrapper(rows: list[Submission], title: str, **options) -> bytes:
        import matplotlib

        with matplotlib.rc_context({"text.usetex": False}):
            return plot(rows, title, **options)

    return wrapper


def normalised_run_scores(sub: Submission) -> np.ndarray:
    """Normalised score of every run (seed × task): the stored, recomputed values."""
    return np.asarray(sub.aggregates["normalised_scores"], dtype=np.float64)


def adaptation_curve(sub: Submission) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean return per episode index and a 95% CI over seeds (normal approximation).

    Each seed's curve is first averaged over the test tasks; the band is mean ± 1.96 standard
    errors across seeds (zero width with one seed).
    """
    per_seed = sub.returns.mean(axis=1)  # seeds × episodes
    mean = per_seed.mean(axis=0)
    n = per_seed.shape[0]
    half = 1.96 * per_seed.std(axis=0, ddof=1) / np.sqrt(n) if n > 1 else np.zeros_like(mean)
    return mean, mean - half, mean + half


def _figure_png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return buf.getvalue()


@_without_tex
def _plot_intervals(rows: list[Submission], title: str) -> bytes:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 1.4 + 0.5 * len(rows)))
    axes = fig.subplots(1, 2, sharey=True)
    labels = [_label(r, s) for r, s in zip(ranks(rows), rows)]
    y = np.arange(len(rows))[::-1]
    for ax, stat in zip(axes, ("iqm", "mean")):
        vals = np.array([getattr(s, stat) for s in rows])
        low = np.array([getattr(s, f"{stat}_low") for s in rows])
        high = np.array([getattr(s, f"{stat}_high") for s in rows])
        ax.hlines(y, low, high, color="#3367d6", linewidth=6, alpha=0.45)
        ax.plot(vals, y, "|", color="#1a3f8f", markersize=14, markeredgewidth=2)
        ax.set_title("IQM" if stat == "iqm" else "Mean")
        ax.set_xlabel("normalised score")
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, labels)
    fig.suptitle(matplotlib_literal(title), fontsize=10)
    fig.tight_layout()
    return _figure_png(fig)


@_without_tex
def _plot_adaptation(rows: list[Submission], title: str, only_reference: bool = False) -> bytes:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.0))
    ax = fig.subplots()
    for rank, sub in zip(ranks(rows), rows):
        if only_reference and not sub.is_reference:
            continue
        mean, low, high = adaptation_curve(sub)
        episodes = np.arange(1, mean.size + 1)
        style = _KIND_STYLE.get(sub.reference_kind or "", {})
        (line,) = ax.plot(episodes, mean, marker="o", markersize=3, label=_label(rank, sub),
                          **style)
        ax.fill_between(episodes, low, high, color=line.get_color(), alpha=0.2)
    if rows and rows[0].explore_episodes:
        ax.axvline(rows[0].explore_episodes + 0.5, color="#777", linestyle="--", linewidth=1)
        ax.text(rows[0].explore_episodes + 0.6, ax.get_ylim()[1], " exploit", va="top",
                fontsize=8, color="#555")
    ax.set_xlabel("episode of the task")
    ax.set_ylabel("return (mean over tasks)")
    ax.set_title(matplotlib_literal(title), fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _figure_png(fig)


@_without_tex
def _plot_score_distributions(rows: list[Submission], title: str) -> bytes:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.0))
    ax = fig.subplots()
    all_scores = [normalised_run_scores(s).ravel() for s in rows]
    lo = min(float(x.min()) for x in all_scores)
    hi = max(float(x.max()) for x in all_scores)
    pad = 0.05 * (hi - lo) if hi > lo else 0.5
    taus = np.linspace(lo - pad, hi + pad, 201)
    for rank, sub, scores in zip(ranks(rows), rows, all_scores):
        fraction = (scores[None, :] > taus[:, None]).mean(axis=1)
        ax.plot(taus, fraction, label=_label(rank, sub))
    ax.set_xlabel(r"normalised score $\tau$")
    ax.set_ylabel(r"fraction of runs with score $> \tau$")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(matplotlib_literal(title), fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _figure_png(fig)


def _plot_reference_adaptation(rows: list[Submission], title: str) -> bytes:
    """The adaptation curves of the reference rows only: baselines against random (dashed)
    and the oracle (dotted)."""
    return _plot_adaptation(rows, f"{title}: reference agents", only_reference=True)


def versus_random(sub: Submission, random_row: Submission | None) -> str:
    """How a row's normalised IQM compares with the random agent's: ``above``/``below``
    (95% CIs disjoint) or ``overlaps``. Without a random reference row the calibrated random
    score is the benchmark's normalised 0."""
    low, high = (random_row.iqm_low, random_row.iqm_high) if random_row else (0.0, 0.0)
    if random_row is not None and sub.id == random_row.id:
        return "is random"
    if sub.iqm_low > high:
        return "above"
    if sub.iqm_high < low:
        return "below"
    return "overlaps"


def _reference_html(rows: list[Submission]) -> str:
    """Per benchmark: the reference rows (baselines, third-party) against random and oracle."""
    refs = [s for s in rows if s.is_reference]
    if not refs:
        return ""
    e = html.escape
    random_row = next((s for s in refs if s.reference_kind == "random"), None)
    oracle = next((s for s in refs if s.reference_kind == "oracle"), None)
    base = (f"the random reference row (IQM {random_row.iqm:.3f} [{random_row.iqm_low:.3f}, "
            f"{random_row.iqm_high:.3f}])" if random_row else
            "the calibrated random score (normalised 0; no random reference row loaded)")
    lines = []
    for s in sorted(refs, key=lambda s: -s.iqm):
        if oracle is not None and random_row is not None and oracle.mean != random_row.mean:
            frac = (s.mean - random_row.mean) / (oracle.mean - random_row.mean)
            of_oracle = f"{frac:.2f}"
        else:
            of_oracle = "&ndash;"
        lines.append(
            f'<tr data-reference="{e(s.reference_kind or "")}" data-reference-agent="{e(plain_text(s.agent_name))}">'
            f"<td>{e(plain_text(s.agent_name))}</td><td><code>{e(plain_text(s.reference_row or ''))}"
            f"</code></td><td>{e(plain_text(s.reference_kind or ''))}</td>"
            f'<td class="num">{s.iqm:.3f} [{s.iqm_low:.3f}, {s.iqm_high:.3f}]</td>'
            f'<td class="num">{s.mean:.3f}</td>'
            f"<td>{e(versus_random(s, random_row))}</td>"
            f'<td class="num">{of_oracle}</td>'
            f"<td>{'yes' if s.verified else 'no'}</td></tr>")
    oracle_note = ("; &ldquo;random &rarr; oracle&rdquo; is the normalised mean's position between "
                   "the random (0) and the oracle (1) reference rows" if oracle is not None else
                   "; no oracle reference row on this benchmark")
    return (
        '<div class="reference">\n<h3>Reference agents against random</h3>\n'
        f'<p class="note">Rows shipped in <code>reference/</code> (loaded by <code>python -m '
        f"leaderboard seed-reference</code>). &ldquo;vs random&rdquo; compares the IQM's 95% CI "
        f"with {base}: above/below when the intervals are disjoint{oracle_note}.</p>\n"
        '<table class="reference-table">\n<thead><tr><th>Agent</th><th>Row</th><th>Kind</th><th>IQM [95% CI]'
        "</th><th>Mean</th><th>vs random</th><th>random &rarr; oracle</th><th>Verified</th></tr>"
        "</thead>\n<tbody>\n" + "\n".join(lines) + "\n</tbody>\n</table>\n</div>"
    )


def _ci_svg(sub: Submission, lo: float, hi: float, width: int = 120) -> str:
    span = hi - lo if hi > lo else 1.0

    def x(v: float) -> float:
        return round(4 + (width - 8) * (v - lo) / span, 2)

    return (
        f'<svg class="ci" width="{width}" height="14" role="img" '
        f'aria-label="IQM {sub.iqm:.3f}, 95% CI {sub.iqm_low:.3f} to {sub.iqm_high:.3f}">'
        f'<line class="axis" x1="4" y1="7" x2="{width - 4}" y2="7"/>'
        f'<line class="ci" x1="{x(sub.iqm_low)}" y1="7" x2="{x(sub.iqm_high)}" y2="7"/>'
        f'<circle cx="{x(sub.iqm)}" cy="7" r="3"/></svg>'
    )


def _row_html(rank: int | None, sub: Submission, lo: float, hi: float) -> str:
    e = html.escape
    name = plain_text(sub.agent_name)
    factory = plain_text(sub.agent_factory, MAX_FACTORY_CHARS)
    if sub.verified:
        verified = (
            '<span class="verified">yes</span><br><code class="verified-factory">'
            f"{e(plain_text(sub.verified_factory, MAX_FACTORY_CHARS))}</code>"
        )
    else:
        verified = '<span class="unverified">no</span>'
    rank_cell = (
        f'<td class="num" data-value="{rank}">{rank}</td>' if rank is not None
        else '<td class="num unranked" data-value="1e9" title="too few seeds to be ranked">&ndash;</td>'
    )
    badge = ""
    if sub.is_reference:
        badge = (f' <span class="reference-badge" title="shipped reference row '
                 f'{e(plain_text(sub.reference_row or ""))}">reference: '
                 f"{e(plain_text(sub.reference_kind or ''))}</span>")
    cells = [
        rank_cell,
        f'<td class="agent" data-value="{e(name)}">{e(name)}{badge}<br>'
        f"<code>{e(factory)}</code></td>",
        f'<td class="num" data-value="{sub.iqm!r}">{sub.iqm:.3f} '
        f"[{sub.iqm_low:.3f}, {sub.iqm_high:.3f}]</td>",
        f'<td data-value="{sub.iqm_low!r}">{_ci_svg(sub, lo, hi)}</td>',
        f'<td class="num" data-value="{sub.mean!r}">{sub.mean:.3f} '
        f"[{sub.mean_low:.3f}, {sub.mean_high:.3f}]</td>",
        f'<td class="num" data-value="{sub.num_seeds}">{sub.num_seeds}</td>',
        f'<td data-value="{int(sub.verified)}">{verified}</td>',
        f'<td data-value="{e(sub.submitted_at)}">{e(sub.submitted_at[:10])}</td>',
    ]
    ref = (f' class="reference" data-reference="{e(plain_text(sub.reference_kind or ""))}"'
           if sub.is_reference else "")
    return (f'<tr data-submission="{sub.id}" data-agent="{e(name)}"{ref}>' + "".join(cells)
            + "</tr>")


def _template(name: str) -> Template:
    return Template(resources.files("leaderboard").joinpath("templates", name).read_text("utf-8"))


def _previous_render(out: Path, force: bool) -> list[str]:
    """Check that ``out`` may be rendered into; return the files the last render wrote there.

    Allowed: a missing directory (its parent must exist), an empty one, or one holding the
    :data:`MARKER` of an earlier render; anything else only with ``force``.
    """
    if os.path.islink(out):
        raise ValueError(f"--out {out} is a symbolic link; render into a real directory")
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is not a directory")
    if not out.exists():
        if not out.parent.is_dir():
            raise ValueError(f"--out {out}: directory {out.parent} does not exist")
        return []
    for name in ("index.html", "static", "plots", MARKER):  # never write through a link
        if os.path.islink(out / name):
            raise ValueError(f"--out {out}: {name} is a symbolic link; render writes only real "
                             "files and directories (even with --force)")
    marker = out / MARKER
    previous: list[str] | None = None
    if marker.is_file() and not marker.is_symlink():
        try:
            previous = [str(f) for f in json.loads(marker.read_text("utf-8"))["files"]]
        except (OSError, ValueError, KeyError, TypeError):
            previous = None
    if previous is not None or force or not any(out.iterdir()):
        return previous or []
    raise ValueError(
        f"--out {out} is not empty and holds no {MARKER} marker, so it is not a page rendered "
        "by `python -m leaderboard render`; render into a new or empty directory, or pass "
        "--force to write index.html, static/ and plots/ there (nothing else is changed)"
    )


def render_site(
    db: str | os.PathLike[str], out_dir: str | os.PathLike[str], *, force: bool = False
) -> Path:
    """Render the page for database ``db`` into ``out_dir``; returns the path of index.html.

    Raises ``ValueError`` (nothing written) if ``out_dir`` is neither new, empty nor an
    earlier render's directory and ``force`` is False (see the module docstring).
    """
    out = Path(out_dir)
    previous = _previous_render(out, force)
    subs = list_submissions(db)  # a missing database fails before anything is written
    groups = group_by_benchmark(subs)
    page_t, bench_t = _template("page.html"), _template("benchmark.html")
    out.mkdir(exist_ok=True)
    written = ["index.html"]

    for name in STATIC_FILES:
        data = resources.files("leaderboard").joinpath("static", name).read_bytes()
        atomic_write_bytes(out / "static" / name, data)
        written.append(f"static/{name}")

    sections = []
    for name, rows in sorted(groups.items()):
        base = slug(name)
        plots = {
            "iqm_png": (f"plots/{base}-iqm.png", _plot_intervals),
            "adaptation_png": (f"plots/{base}-adaptation.png", _plot_adaptation),
            "scores_png": (f"plots/{base}-scores.png", _plot_score_distributions),
        }
        has_reference = any(s.is_reference for s in rows)
        reference_figure = ""
        if has_reference:
            rel = f"plots/{base}-reference.png"
            atomic_write_bytes(out / rel, _plot_reference_adaptation(rows, name))
            written.append(rel)
            reference_figure = (
                f'<figure><img src="{rel}" alt="Reference agents on {html.escape(plain_text(name))}">'
                "<figcaption>Reference agents only: baselines against random (dashed) and the "
                "oracle (dotted, when shipped), mean return per episode, 95% CI over seeds."
                "</figcaption></figure>")
        for rel, plot in plots.values():
            atomic_write_bytes(out / rel, plot(rows, name))
            written.append(rel)
        lo = min(s.iqm_low for s in rows)
        hi = max(s.iqm_high for s in rows)
        first = rows[0]
        sections.append(
            bench_t.substitute(
                anchor=f"bench-{html.escape(base)}",
                name=html.escape(plain_text(name)),
                hash=html.escape(plain_text(first.benchmark_hash)),
                num_tasks=first.returns.shape[1],
                explore=first.explore_episodes,
                exploit=first.exploit_episodes,
                rows="\n".join(_row_html(r, s, lo, hi) for r, s in zip(ranks(rows), rows)),
                reference=_reference_html(rows),
                reference_figure=reference_figure,
                **{key: rel for key, (rel, _) in plots.items()},
            )
        )
    if not sections:
        sections.append('<p class="note">No submissions yet.</p>')
    generated = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    page = page_t.substitute(
        count=len(subs),
        num_benchmarks=len(groups),
        generated=generated,
        sections="\n".join(sections),
    )
    index = out / "index.html"
    atomic_write_bytes(index, page.encode("utf-8"))
    marker = {"written_by": "python -m leaderboard render", "files": sorted(written)}
    atomic_write_bytes(out / MARKER, (json.dumps(marker, indent=1) + "\n").encode("utf-8"))

    for rel in set(previous) - set(written):  # plots of benchmarks no longer on the page
        old = out / rel
        if _PLOT_FILE.match(rel) and old.is_file() and not old.is_symlink():
            old.unlink()
    return index
