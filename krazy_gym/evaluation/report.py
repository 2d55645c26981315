"""Human-readable views of results: the summary table, the benchmark list, the adaptation plot.

    >>> from krazy_gym.evaluation import evaluate, summary_table
    >>> print(summary_table(evaluate("krazy_gym.evaluation.agents:random_agent",
    ...                              "KrazyWorld-Easy", seeds=2)))   # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from krazy_gym.evaluation.text import matplotlib_literal, plain_text


def _fmt(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for j, r in enumerate(rows):
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def summary_table(results: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> str:
    """A plain-text table of one or more results dicts (one row each).

    Columns: benchmark, agent, seeds, raw mean score, normalised IQM and mean with their 95%
    bootstrap CIs, the adaptation curve (mean return per episode index), wall time. Aggregates
    are recomputed from ``returns`` when the dict has none. Krazy World results get a line
    with their oracle fraction (:func:`krazy_gym.evaluation.metrics.oracle_fraction`).
    """
    from krazy_gym.evaluation.metrics import aggregate

    many = [results] if isinstance(results, Mapping) else list(results)
    rows = [["benchmark", "agent", "seeds", "score", "norm. IQM [95% CI]", "norm. mean [95% CI]",
             "return per episode", "time"]]
    metric_lines = []
    for res in many:
        agg = res.get("aggregates") or aggregate(res["returns"], res["benchmark"]["name"])
        iqm, mean = agg["normalised_iqm"], agg["normalised_mean"]
        curve = " ".join(f"{v:.2f}" for v in agg["adaptation_curve"])
        n_explore = res["explore_episodes"]
        if n_explore:
            parts = curve.split(" ")
            curve = " ".join(parts[:n_explore]) + " | " + " ".join(parts[n_explore:])
        rows.append([
            plain_text(f"{res['benchmark']['name']}-v{res['benchmark']['version']}"),
            plain_text(res["agent"]["name"]),
            str(len(res["seeds"])),
            _fmt(agg["score_mean"]),
            f"{_fmt(iqm['value'])} [{_fmt(iqm['ci_low'])}, {_fmt(iqm['ci_high'])}]",
            f"{_fmt(mean['value'])} [{_fmt(mean['ci_low'])}, {_fmt(mean['ci_high'])}]",
            curve,
            f"{res['timing']['wall_seconds']:.2f}s",
        ])
        for name, values in sorted(res.get("exploration_metrics", {}).items()):
            arr = np.asarray(values, dtype=np.float64)
            metric_lines.append(
                f"  {plain_text(res['benchmark']['name'])} · {plain_text(res['agent']['name'])} · "
                f"{plain_text(name)}: "
                f"mean {arr.mean():.3f} (explore {arr[..., :n_explore].mean() if n_explore else float('nan'):.3f}, "
                f"exploit {arr[..., n_explore:].mean():.3f})"
            )
    text = _table(rows)
    oracle_lines = [line for line in map(_oracle_line, many) if line]
    if oracle_lines:
        text += "\noracle fraction, (score - random) / (oracle - random) per task [95% CI]:\n" + "\n".join(oracle_lines)
    if metric_lines:
        text += "\nexploration metrics (per episode):\n" + "\n".join(metric_lines)
    return text


def _oracle_line(res: Mapping[str, Any]) -> str | None:
    """``  <benchmark> · <agent>: mean ... IQM ...`` of the oracle fraction, or None when the
    benchmark has no current oracle file (only Krazy World has one)."""
    from krazy_gym.evaluation.metrics import oracle_fraction
    from krazy_gym.evaluation.oracle import OracleUnavailableError, supports_oracle

    name = res["benchmark"]["name"]
    try:
        if not supports_oracle(name):
            return None
        frac = oracle_fraction(res)
    except (OracleUnavailableError, KeyError, ValueError):
        return None
    m, q = frac["mean"], frac["iqm"]
    return (
        f"  {name} · {res['agent']['name']}: mean {_fmt(m['value'])} [{_fmt(m['ci_low'])}, {_fmt(m['ci_high'])}], "
        f"IQM {_fmt(q['value'])} [{_fmt(q['ci_low'])}, {_fmt(q['ci_high'])}], "
        f"ratio of means {_fmt(frac['ratio_of_means'])}"
    )


def benchmarks_table(benchmarks: Sequence[Any] | None = None) -> str:
    """The ``krazy-gym benchmarks`` listing."""
    from krazy_gym.evaluation.benchmarks import list_benchmarks

    rows = [["benchmark", "env id", "tasks", "protocol", "random", "reference", "max",
             "description"]]
    for b in benchmarks if benchmarks is not None else list_benchmarks():
        protocol = f"{b.explore_episodes}+{'adapt+' if b.adapt else ''}{b.exploit_episodes}"
        rows.append([
            b.full_name, b.env_id, str(b.num_test_tasks), protocol, _fmt(b.random_score),
            _fmt(b.reference_score, 2), _fmt(b.max_score, 1), b.description,
        ])
    return _table(rows)


def plot_adaptation(
    results: Mapping[str, Any] | Sequence[Mapping[str, Any]], path: str | os.PathLike
) -> None:
    """Save the adaptation curve(s) (mean return per episode index, ±95% CI over seeds ×
    tasks) as an image (matplotlib, Agg backend, imported here only)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    many = [results] if isinstance(results, Mapping) else list(results)
    fig, ax = plt.subplots(figsize=(6, 4))
    for res in many:
        arr = np.asarray(res["returns"], dtype=np.float64)
        flat = arr.reshape(-1, arr.shape[-1])
        mean = flat.mean(axis=0)
        half = 1.96 * flat.std(axis=0, ddof=1) / np.sqrt(flat.shape[0]) if flat.shape[0] > 1 else 0 * mean
        x = np.arange(1, arr.shape[-1] + 1)
        label = matplotlib_literal(f"{res['agent']['name']} ({res['benchmark']['name']})")
        ax.plot(x, mean, marker="o", label=label)
        ax.fill_between(x, mean - half, mean + half, alpha=0.2)
        n_explore = res["explore_episodes"]
        if n_explore:
            ax.axvline(n_explore + 0.5, color="grey", linestyle="--", linewidth=1)
    if many:
        ax.set_xticks(np.arange(1, np.asarray(many[0]["returns"]).shape[-1] + 1))
    ax.set_xlabel("episode within task (dashed line: adapt)")
    ax.set_ylabel("mean return")
    ax.set_title("adaptation curve")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
