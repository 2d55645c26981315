"""Strings from results files as plain text: refused at the door, neutralised on every output.

A results file names its agent (``agent.name``, ``agent.factory``) and carries provenance
strings; anyone can write them. The leaderboard therefore

* refuses, at submission, strings over a length cap and strings holding control or format
  characters (:func:`text_problem`): terminal escapes, newlines, bidirectional overrides and
  zero-width characters can forge or hide what a table shows;
* still neutralises every such string on output, whatever is already stored:
  :func:`plain_text` for terminals (escapes made visible, long strings cut),
  :func:`matplotlib_literal` for plot labels (no mathtext), and
  :func:`spreadsheet_safe` for CSV cells (no formulas). HTML is escaped by the renderer.
"""

from __future__ import annotations

import unicodedata

#: Longest ``agent.name`` accepted (characters).
MAX_NAME_CHARS = 120
#: Longest ``agent.factory`` (``package.module:factory``) accepted (characters).
MAX_FACTORY_CHARS = 300
#: Longest other string accepted anywhere in a results file (provenance, keys, ...).
MAX_STRING_CHARS = 1000

#: Unicode categories refused in results-file strings: control (Cc: C0/C1, ESC, newline,
#: tab...), format (Cf: bidi overrides, zero-width characters), surrogates (Cs), line and
#: paragraph separators (Zl, Zp).
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})

#: Characters that make a spreadsheet read a cell as a formula (OWASP CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _refused(ch: str) -> bool:
    return unicodedata.category(ch) in REFUSED_CATEGORIES


def _escape(ch: str) -> str:
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def text_problem(value: str, limit: int) -> str | None:
    """Why ``value`` is not acceptable plain text of at most ``limit`` characters (None if it is)."""
    if len(value) > limit:
        return f"is {len(value):,} characters long; the limit is {limit}"
    if value.isascii() and value.isprintable():
        return None
    for i, ch in enumerate(value):
        if _refused(ch):
            return (f"contains the control/format character U+{ord(ch):04X} "
                    f"({unicodedata.name(ch, 'unnamed')}) at position {i}")
    return None


def plain_text(value: object, limit: int | None = MAX_NAME_CHARS) -> str:
    """``value`` safe to print on a terminal: every control/format character shown as a
    visible escape (``\\x1b``), and cut to ``limit`` characters (ending in ``…``)."""
    text = str(value)
    if not (text.isascii() and text.isprintable()):
        text = "".join(_escape(ch) if _refused(ch) else ch for ch in text)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def matplotlib_literal(value: object, limit: int | None = MAX_NAME_CHARS) -> str:
    """``value`` as a matplotlib label drawn literally: :func:`plain_text` with every ``$``
    escaped, so that no mathtext is ever parsed (``$\\notacommand$`` cannot break a plot)."""
    return plain_text(value, limit).replace("$", r"\$")


def spreadsheet_safe(value: str) -> str:
    """A CSV text cell that no spreadsheet evaluates: a leading ``'`` when the cell starts
    with one of :data:`FORMULA_PREFIXES` (OWASP's rule), else ``value`` unchanged."""
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value
