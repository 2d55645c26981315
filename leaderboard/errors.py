"""The one exception a rejected submission raises (shared by validation and the store)."""

from __future__ import annotations


class SubmissionError(ValueError):
    """A results file failed one check. ``check`` names it; the message says how to fix it.

    Checks: ``file``, ``size``, ``json``, ``schema_version``, ``returns``, ``text``,
    ``schema``, ``sha256``, ``benchmark``, ``benchmark.hash``, ``shape``, ``seeds``,
    ``return_range``, ``duplicate``, ``verify``, ``values`` (a value the table refuses).
    """

    def __init__(self, check: str, message: str) -> None:
        self.check = check
        self.detail = message
        super().__init__(f"rejected ({check}): {message}")
