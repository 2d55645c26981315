"""Shared constants and helpers of the leaderboard tests (a uniquely named module, so it never
collides with another directory's ``conftest``)."""

from __future__ import annotations

import json
import sys
from html.parser import HTMLParser
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
if str(HERE) not in sys.path:  # lb_agents must import in-process (and in subprocesses via PYTHONPATH)
    sys.path.insert(0, str(HERE))

BENCHMARK = "Bandit"
#: seeds 0..4: the Bandit benchmark's rank_seeds (5), so the fixture rows are ranked
SEEDS = 5
#: key -> agent factory spec; listed best first (the ranking the tests expect)
AGENTS = {
    "greedy": "lb_agents:greedy_agent",
    "random": "krazy_gym.evaluation.agents:random_agent",
    "anti": "lb_agents:anti_greedy_agent",
}


def load_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def write_sealed(path: Path, data: dict) -> Path:
    """Write ``data`` with a freshly computed sha256 (as a tampering submitter would)."""
    from krazy_gym.evaluation.results import seal_results

    sealed = seal_results(data)
    path.write_text(json.dumps(sealed, indent=1))
    return path


class TableParser(HTMLParser):
    """Collects, per ranking table, its rows' data-agent and cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[dict]] = []
        self.images: list[str] = []
        self._row: dict | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and "data-agent" in a:
            self._row = {"agent": a["data-agent"], "cells": []}
        elif tag == "td" and self._row is not None:
            self._cell = []
        elif tag == "img":
            self.images.append(a["src"])

    def handle_endtag(self, tag):
        if tag == "td" and self._row is not None and self._cell is not None:
            self._row["cells"].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[-1].append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def parse_page(index: Path) -> TableParser:
    """Parse a rendered index.html: its ranking tables (rows: agent, cell texts) and images."""
    parser = TableParser()
    parser.feed(index.read_text())
    return parser
