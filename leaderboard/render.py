"""Render the leaderboard as a static HTML page (no network, no CDN, no build step).

``render_site(db, out_dir)`` writes::

    out_dir/index.html                  one sortable table per benchmark
    out_dir/static/leaderboard.{js,css} ~60 lines of vanilla JS for sorting, a small stylesheet
    out_dir/plots/<benchmark>-iqm.png        normalised IQM and mean with 95% CIs (matplotlib)
    out_dir/plots/<benchmark>-adaptation.png mean return per episode of a task, per agent
    out_dir/plots/<benchmark>-scores.png     score distributions (rliable performance profiles)

Every file is written atomically (temporary file in the same directory, then ``os.replace``)
and ``index.html`` last, so a browser or ``serve`` never sees a page that points at a plot not
yet written; plots of benchmarks no longer on the page are removed afterwards.
Everything shown comes from the database (scores recomputed at submission), so rendering
needs neither the harness nor the benchmark definitions.
"""

from __future__ import annotations

import datetime as _dt
import html
import io
import os
import re
import tempfile
from importlib import resources
from pathlib import Path
from string import Template

import numpy as np

from leaderboard.store import Submission, list_submissions

STATIC_FILES = ("leaderboard.js", "leaderboard.css")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary sibling file and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def slug(name: str) -> str:
    """A file-name and HTML-id safe form of a benchmark name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "benchmark"


def group_by_benchmark(subs: list[Submission]) -> dict[str, list[Submission]]:
    """Submissions per benchmark, each list ranked best first (IQM, then mean, then id)."""
    groups: dict[str, list[Submission]] = {}
    for sub in subs:
        groups.setdefault(sub.benchmark_name, []).append(sub)
    for rows in groups.values():
        rows.sort(key=lambda s: (-s.iqm, -s.mean, s.id))
    return groups


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


def _plot_intervals(rows: list[Submission], title: str) -> bytes:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 1.4 + 0.5 * len(rows)))
    axes = fig.subplots(1, 2, sharey=True)
    labels = [f"#{i + 1} {s.agent_name}" for i, s in enumerate(rows)]
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
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _figure_png(fig)


def _plot_adaptation(rows: list[Submission], title: str) -> bytes:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.0))
    ax = fig.subplots()
    for i, sub in enumerate(rows):
        mean, low, high = adaptation_curve(sub)
        episodes = np.arange(1, mean.size + 1)
        (line,) = ax.plot(episodes, mean, marker="o", markersize=3, label=f"#{i + 1} {sub.agent_name}")
        ax.fill_between(episodes, low, high, color=line.get_color(), alpha=0.2)
    if rows and rows[0].explore_episodes:
        ax.axvline(rows[0].explore_episodes + 0.5, color="#777", linestyle="--", linewidth=1)
        ax.text(rows[0].explore_episodes + 0.6, ax.get_ylim()[1], " exploit", va="top",
                fontsize=8, color="#555")
    ax.set_xlabel("episode of the task")
    ax.set_ylabel("return (mean over tasks)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _figure_png(fig)


def _plot_score_distributions(rows: list[Submission], title: str) -> bytes:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.0))
    ax = fig.subplots()
    all_scores = [normalised_run_scores(s).ravel() for s in rows]
    lo = min(float(x.min()) for x in all_scores)
    hi = max(float(x.max()) for x in all_scores)
    pad = 0.05 * (hi - lo) if hi > lo else 0.5
    taus = np.linspace(lo - pad, hi + pad, 201)
    for i, (sub, scores) in enumerate(zip(rows, all_scores)):
        fraction = (scores[None, :] > taus[:, None]).mean(axis=1)
        ax.plot(taus, fraction, label=f"#{i + 1} {sub.agent_name}")
    ax.set_xlabel(r"normalised score $\tau$")
    ax.set_ylabel(r"fraction of runs with score $> \tau$")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _figure_png(fig)


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


def _row_html(rank: int, sub: Submission, lo: float, hi: float) -> str:
    e = html.escape
    verified = (
        '<span class="verified">yes</span>' if sub.verified else '<span class="unverified">no</span>'
    )
    cells = [
        f'<td class="num" data-value="{rank}">{rank}</td>',
        f'<td class="agent" data-value="{e(sub.agent_name)}">{e(sub.agent_name)}<br>'
        f"<code>{e(sub.agent_factory)}</code></td>",
        f'<td class="num" data-value="{sub.iqm!r}">{sub.iqm:.3f} '
        f"[{sub.iqm_low:.3f}, {sub.iqm_high:.3f}]</td>",
        f'<td data-value="{sub.iqm_low!r}">{_ci_svg(sub, lo, hi)}</td>',
        f'<td class="num" data-value="{sub.mean!r}">{sub.mean:.3f} '
        f"[{sub.mean_low:.3f}, {sub.mean_high:.3f}]</td>",
        f'<td class="num" data-value="{sub.num_seeds}">{sub.num_seeds}</td>',
        f'<td data-value="{int(sub.verified)}">{verified}</td>',
        f'<td data-value="{e(sub.submitted_at)}">{e(sub.submitted_at[:10])}</td>',
    ]
    return f'<tr data-submission="{sub.id}" data-agent="{e(sub.agent_name)}">' + "".join(cells) + "</tr>"


def _template(name: str) -> Template:
    return Template(resources.files("leaderboard").joinpath("templates", name).read_text("utf-8"))


def render_site(db: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> Path:
    """Render the page for database ``db`` into ``out_dir``; returns the path of index.html."""
    out = Path(out_dir)
    subs = list_submissions(db)
    groups = group_by_benchmark(subs)
    page_t, bench_t = _template("page.html"), _template("benchmark.html")

    for name in STATIC_FILES:
        data = resources.files("leaderboard").joinpath("static", name).read_bytes()
        atomic_write_bytes(out / "static" / name, data)

    sections, wanted_plots = [], set()
    for name, rows in sorted(groups.items()):
        base = slug(name)
        plots = {
            "iqm_png": (f"plots/{base}-iqm.png", _plot_intervals),
            "adaptation_png": (f"plots/{base}-adaptation.png", _plot_adaptation),
            "scores_png": (f"plots/{base}-scores.png", _plot_score_distributions),
        }
        for rel, plot in plots.values():
            atomic_write_bytes(out / rel, plot(rows, name))
            wanted_plots.add(rel)
        lo = min(s.iqm_low for s in rows)
        hi = max(s.iqm_high for s in rows)
        first = rows[0]
        sections.append(
            bench_t.substitute(
                anchor=f"bench-{html.escape(base)}",
                name=html.escape(name),
                hash=html.escape(first.benchmark_hash),
                num_tasks=first.returns.shape[1],
                explore=first.explore_episodes,
                exploit=first.exploit_episodes,
                rows="\n".join(_row_html(i + 1, s, lo, hi) for i, s in enumerate(rows)),
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

    plot_dir = out / "plots"
    if plot_dir.is_dir():
        for old in plot_dir.glob("*.png"):
            if f"plots/{old.name}" not in wanted_plots:
                old.unlink()
    return index
