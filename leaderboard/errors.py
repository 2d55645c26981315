"""The one exception a rejected submission raises (shared by validation and the store)."""

from __future__ import annotations


class SubmissionError(ValueError):
    """A results file failed one check. ``check`` names it; the message says how to fix it.

    Checks: ``file``, ``size``, ``json``, ``schema_version``, ``returns``, ``schema``,
    ``sha256``, ``benchmark``, ``benchmark.hash``, ``shape``, ``seeds``, ``duplicate``,
    ``verify``.
    """

    def __init__(self, check: str, message: str) -> None:
        self.check = check
        self.detail = message
        super().__init__(f"rejected ({check}): {message}")
