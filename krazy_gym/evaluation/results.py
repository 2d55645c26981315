"""The results file: schema, validation, canonical form, content hash, atomic I/O.

A results file is the JSON record of one harness run (an agent on a benchmark over several
seeds). Its layout is published as a JSON Schema (draft 2020-12) in ``results.schema.json``
next to this module; :func:`validate_results` checks the schema *and* what a schema cannot
say (array shapes agree with the protocol, finite numbers, the ``sha256`` field matches the
content). ``sha256`` is the hex sha256 of :func:`canonical_json` — the JSON of every other
top-level field with sorted keys and compact separators — so any edit to the file is detected.

    >>> from krazy_gym.evaluation.results import read_results, write_results
    >>> data = read_results("results.json")      # doctest: +SKIP
    >>> write_results("copy.json", data)         # doctest: +SKIP
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SCHEMA_VERSION: int = 1
SCHEMA_PATH = Path(__file__).with_name("results.schema.json")


class ResultsError(ValueError):
    """A results file (or dict) is malformed; the message names the offending field."""


@functools.lru_cache(maxsize=1)
def _schema_text() -> str:
    return SCHEMA_PATH.read_text(encoding="utf-8")


def load_schema() -> dict[str, Any]:
    """The published JSON Schema of results files (a fresh dict on every call)."""
    return json.loads(_schema_text())


@functools.lru_cache(maxsize=1)
def _validator():
    import jsonschema

    schema = json.loads(_schema_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _field_path(error) -> str:
    parts = [str(p) for p in error.absolute_path]
    return ".".join(parts) if parts else "<top level>"


def canonical_json(data: Mapping[str, Any]) -> bytes:
    """The canonical bytes hashed into ``sha256``.

    Every top-level field except ``sha256``, serialised with sorted keys, separators ``,`` and
    ``:``, no NaN/Infinity, UTF-8. Floats use Python's shortest round-trip repr, so reading a
    file and writing it again reproduces the same bytes.
    """
    if not isinstance(data, Mapping):
        raise ResultsError(f"results must be a JSON object, got {type(data).__name__}")
    content = {k: v for k, v in data.items() if k != "sha256"}
    try:
        text = json.dumps(
            content, sort_keys=True, separators=(",", ":"), allow_nan=False, ensure_ascii=False
        )
    except ValueError as exc:  # NaN or infinity somewhere
        raise ResultsError(f"results contain a non-finite number: {exc}") from exc
    except TypeError as exc:
        raise ResultsError(f"results contain a value that is not JSON: {exc}") from exc
    return text.encode("utf-8")


def content_sha256(data: Mapping[str, Any]) -> str:
    """Hex sha256 of :func:`canonical_json` (what the ``sha256`` field must hold)."""
    return hashlib.sha256(canonical_json(data)).hexdigest()


def _shape_slow(name: str, value: Any, depth: int) -> tuple[int, ...]:
    """Shape of a rectangular nested list of finite numbers; ResultsError naming the element."""
    if depth == 0:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ResultsError(f"{name}: expected a number, got {type(value).__name__}")
        if not math.isfinite(value):
            raise ResultsError(f"{name}: numbers must be finite, got {value!r}")
        return ()
    if not isinstance(value, list) or not value:
        raise ResultsError(f"{name}: expected a non-empty list")
    inner = {_shape_slow(f"{name}[{i}]", v, depth - 1) for i, v in enumerate(value)}
    if len(inner) != 1:
        raise ResultsError(f"{name}: ragged array (rows of different lengths)")
    return (len(value), *inner.pop())


def _shape(name: str, value: Any, depth: int) -> tuple[int, ...]:
    """:func:`_shape_slow` with a vectorised fast path for the (usual) valid case."""
    import numpy as np

    try:
        arr = np.array(value, dtype=object)
    except ValueError:
        arr = None
    if arr is not None and arr.ndim == depth and arr.size:
        flat = arr.ravel().tolist()
        if {type(x) for x in flat} <= {int, float}:
            if np.isfinite(np.asarray(flat, dtype=np.float64)).all():
                return tuple(int(n) for n in arr.shape)
    return _shape_slow(name, value, depth)  # invalid: find and name the offending element


#: array-valued fields checked by :func:`_shape` instead of the (slow, per-element) schema
_ARRAY_FIELDS = ("returns", "exploration_metrics")


def _schema_view(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` with big numeric arrays replaced by 1-element stand-ins of the same depth
    (the arrays themselves are checked element by element by :func:`_shape`)."""
    view = dict(data)
    if isinstance(view.get("returns"), list) and view["returns"]:
        view["returns"] = [[[0.0]]]
    metrics = view.get("exploration_metrics")
    if isinstance(metrics, Mapping):
        stand_in = {}
        for k, v in metrics.items():
            is3 = isinstance(v, list) and v and isinstance(v[0], list) and v[0] and isinstance(v[0][0], list)
            stand_in[k] = [[[0.0]]] if is3 else ([[0.0]] if isinstance(v, list) and v else v)
        view["exploration_metrics"] = stand_in
    return view


def validate_results(data: Any, *, check_sha256: bool = True) -> None:
    """Raise :class:`ResultsError` naming the field if ``data`` is not a valid results dict.

    Checks, in order: the JSON Schema; ``returns`` is seeds × tasks × episodes with
    ``len(seeds)`` rows, ``benchmark.num_test_tasks`` tasks and explore + exploit episodes;
    the top-level and benchmark protocol fields agree; every exploration metric is
    seeds × tasks (× episodes); every number is finite; ``sha256`` matches the content
    (skipped with ``check_sha256=False``, for data just sealed by :func:`seal_results`).
    """
    if not isinstance(data, Mapping):
        raise ResultsError(f"results must be a JSON object, got {type(data).__name__}")
    errors = sorted(_validator().iter_errors(_schema_view(data)), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        raise ResultsError(f"results field {_field_path(err)}: {err.message}")
    seeds = data["seeds"]
    bench = data["benchmark"]
    for key in ("explore_episodes", "exploit_episodes"):
        if data[key] != bench[key]:
            raise ResultsError(
                f"{key}: top-level value {data[key]} differs from benchmark.{key} {bench[key]}"
            )
    episodes = data["explore_episodes"] + data["exploit_episodes"]
    expected = (len(seeds), bench["num_test_tasks"], episodes)
    shape = _shape("returns", data["returns"], 3)
    if shape != expected:
        raise ResultsError(
            f"returns: shape {shape} but seeds × tasks × episodes is {expected}"
        )
    for name, arr in data["exploration_metrics"].items():
        field = f"exploration_metrics.{name}"
        depth = 3 if arr and isinstance(arr[0], list) and arr[0] and isinstance(arr[0][0], list) else 2
        mshape = _shape(field, arr, depth)
        if mshape[:2] != expected[:2] or (depth == 3 and mshape[2] != episodes):
            raise ResultsError(
                f"{field}: shape {mshape} does not match seeds × tasks (× episodes) {expected}"
            )
    if not check_sha256:  # the caller has just computed it (seal_results)
        return
    actual = content_sha256(data)
    if data["sha256"] != actual:
        raise ResultsError(
            f"sha256: field says {data['sha256']} but the content hashes to {actual} "
            "(the file was edited or corrupted)"
        )


def seal_results(data: Mapping[str, Any]) -> dict[str, Any]:
    """A new top-level dict: ``data`` with ``schema_version`` and a fresh ``sha256`` filled in.

    Nested values are shared with ``data``, not copied (results can be large).
    """
    sealed = dict(data)
    sealed.setdefault("schema_version", SCHEMA_VERSION)
    sealed["sha256"] = content_sha256(sealed)
    return sealed


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_json_atomic(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` via a temporary file and ``os.replace``."""
    text = json.dumps(data, indent=1, sort_keys=True, allow_nan=False, ensure_ascii=False)
    write_text_atomic(path, text + "\n")


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same directory and ``os.replace``
    (readers see the old file or the new one, never a half-written one)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_results(path: str | os.PathLike, data: Mapping[str, Any]) -> dict[str, Any]:
    """Seal (recompute ``sha256``), validate and atomically write ``data`` to ``path``.

    Returns the dict as written. Nothing is written if validation fails.

    Raises:
        ResultsError: ``data`` is invalid.
        FileNotFoundError: the directory of ``path`` does not exist.
    """
    sealed = seal_results(data)
    validate_results(sealed, check_sha256=False)
    parent = Path(path).parent
    if not parent.is_dir():
        raise FileNotFoundError(f"output directory {str(parent)!r} does not exist")
    write_json_atomic(path, sealed)
    return sealed


def read_results(path: str | os.PathLike) -> dict[str, Any]:
    """Load and validate a results file.

    Raises:
        ResultsError: not JSON, or not a valid results file (the message names the field).
    """
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{path}: not valid JSON: {exc}") from exc
    validate_results(data)
    return data
