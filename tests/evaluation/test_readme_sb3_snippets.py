"""The README's train-then-evaluate snippets (SB3 PPO, sb3-contrib RecurrentPPO) run as
written, with only the training budget and the number of seeds made tiny."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

pytest.importorskip("sb3_contrib")
torch = pytest.importorskip("torch")

README = Path(__file__).resolve().parents[2] / "README.md"


def snippet(name: str) -> str:
    """The ```python block that follows ``<!-- snippet:name -->`` in the README."""
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"<!-- snippet:{re.escape(name)} -->\n```python\n(.*?)```", text, re.S)
    assert match, f"README has no snippet {name!r}"
    return match.group(1)


def shrink(code: str, replacements: dict[str, str]) -> str:
    for old, new in replacements.items():
        assert code.count(old) == 1, f"the snippet no longer contains {old!r} once"
        code = code.replace(old, new)
    return code


@pytest.mark.parametrize("name,replacements,expected", [
    ("sb3-ppo", {".learn(1_000_000)": ".learn(4_096)", "seeds=5": "seeds=1"},
     ["KrazyWorld-Easy-v1", "sb3:PPO"]),
    ("sb3-recurrent", {".learn(600_000)": ".learn(1_600)", "seeds=5": "seeds=1"},
     ["Bandit-v1", "sb3:RecurrentPPO"]),
])
def test_readme_snippet_trains_saves_and_scores(name, replacements, expected, tmp_path,
                                                monkeypatch):
    code = snippet(name)
    assert len(code.strip().splitlines()) <= 10
    code = shrink(code, replacements)
    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(code, f"README.md:{name}", "exec"), {"__name__": "__readme__"})
    finally:
        torch.set_num_threads(threads)
    printed = out.getvalue()
    for text in expected:
        assert text in printed
    assert len(list(tmp_path.glob("*.zip"))) == 1  # the saved model the evaluation loaded
