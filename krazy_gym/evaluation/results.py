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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SCHEMA_VERSION: int = 1
SCHEMA_PATH = Path(__file__).with_name("results.schema.json")

#: Largest results file read (bytes, 50 MB). A Krazy World benchmark with 10 seeds is < 1 MB.
MAX_RESULTS_BYTES = 50_000_000
#: Deepest nesting of JSON arrays and objects read (a results file nests at most 4 deep).
MAX_JSON_DEPTH = 32
#: Integers in a results file must fit in 64 bits (seeds, counts; returns are floats).
INT_LIMIT = 2**63


class ResultsError(ValueError):
    """A results file (or dict) is malformed; the message names the offending field."""


class ResultsFileError(ResultsError):
    """The file itself cannot be read as a results document.

    ``check`` says why: ``"file"`` (missing, unreadable, not a regular file), ``"size"``
    (over :data:`MAX_RESULTS_BYTES`) or ``"json"`` (not UTF-8, not JSON, duplicate keys,
    out-of-range numbers, nested too deeply, top level not an object).
    """

    def __init__(self, check: str, message: str) -> None:
        super().__init__(message)
        self.check = check


class _RefusedLiteral(ValueError):
    """Raised from inside ``json.loads`` by the hooks of :func:`parse_json`."""


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _RefusedLiteral(
                f"the key {key!r} appears twice in one object (JSON readers disagree on which "
                "value counts)"
            )
        out[key] = value
    return out


def _parse_int(text: str) -> int:
    if len(text) > 20:  # before int(): no quadratic conversion of a huge literal
        raise _RefusedLiteral(
            f"the integer {text[:12]}... has {len(text.lstrip('-'))} digits; integers must fit "
            "in 64 bits"
        )
    value = int(text)
    if not -INT_LIMIT <= value < INT_LIMIT:
        raise _RefusedLiteral(f"the integer {text} does not fit in 64 bits")
    return value


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # e.g. 1e400: json would silently make it infinity
        raise _RefusedLiteral(f"the number {text[:40]} is outside the float64 range")
    return value


def _structure_error(data: Any) -> str | None:
    """Why ``data`` (parsed JSON) is refused: nested deeper than :data:`MAX_JSON_DEPTH`, or a
    string holding a lone surrogate (not encodable as UTF-8). Iterative: no recursion."""
    def bad_text(text: str) -> bool:
        if text.isascii():
            return False
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False

    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return f"it nests arrays/objects more than {MAX_JSON_DEPTH} deep"
        items = value.values() if isinstance(value, dict) else value
        if isinstance(value, dict):
            for key in value:
                if bad_text(key):
                    return f"the key {key[:40]!r} holds a lone surrogate (invalid Unicode)"
        for child in items:
            kind = type(child)
            if kind is float or kind is int:
                continue
            if kind is str:
                if bad_text(child):
                    return f"the string {child[:40]!r} holds a lone surrogate (invalid Unicode)"
            elif kind is dict or kind is list:
                stack.append((child, depth + 1))
    return None


def parse_json(raw: bytes, source: str = "the document") -> dict[str, Any]:
    """Parse the bytes of a results document strictly; :class:`ResultsFileError` (check
    ``"json"``) says what is wrong.

    Strict means: UTF-8; well-formed JSON whose top level is an object; no object with a
    repeated key; no integer beyond 64 bits and no number beyond the float64 range (Python's
    json would accept both, and make the latter infinity); no nesting beyond
    :data:`MAX_JSON_DEPTH`. ``NaN``/``Infinity`` literals parse (the checks that follow name
    them by position).
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ResultsFileError(
            "json", f"{source} is not UTF-8 text (byte {raw[exc.start]:#04x} at offset {exc.start})"
        ) from None
    try:
        data = json.loads(text, object_pairs_hook=_refuse_duplicate_keys, parse_int=_parse_int,
                          parse_float=_parse_float)
    except _RefusedLiteral as exc:
        raise ResultsFileError("json", f"{source} is refused: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ResultsFileError(
            "json", f"{source} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise ResultsFileError(
            "json", f"{source} nests JSON too deeply to be a results file (more than "
            f"{MAX_JSON_DEPTH} levels)"
        ) from None
    if not isinstance(data, dict):
        raise ResultsFileError(
            "json", f"the top level of {source} must be a JSON object, got {type(data).__name__}"
        )
    problem = _structure_error(data)
    if problem is not None:
        raise ResultsFileError("json", f"{source} is refused: {problem}")
    return data


def read_bytes_limited(path: str | os.PathLike, max_bytes: int = MAX_RESULTS_BYTES) -> bytes:
    """The bytes of the regular file ``path`` (at most ``max_bytes``), or
    :class:`ResultsFileError` (check ``"file"`` or ``"size"``).

    Opens without blocking and checks the *opened* file: a FIFO, device (``/dev/zero``),
    directory or socket is refused before a byte is read, so nothing hangs or reads forever.
    """
    import stat

    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ResultsFileError("file", f"{path} does not exist") from None
    except OSError as exc:
        raise ResultsFileError("file", f"cannot open {path}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ResultsFileError("file", f"{path} is {file_kind(st.st_mode)}, not a regular file")
        if st.st_size > max_bytes:
            raise ResultsFileError(
                "size", f"{path} is {st.st_size:,} bytes, the limit is {max_bytes:,} bytes"
            )
        chunks, total = [], 0
        while total <= max_bytes:  # the file may grow while it is read
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as exc:
        raise ResultsFileError("file", f"cannot read {path}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if total > max_bytes:
        raise ResultsFileError(
            "size", f"{path} grew past the limit of {max_bytes:,} bytes while being read"
        )
    return b"".join(chunks)


def load_json_file(path: str | os.PathLike, max_bytes: int = MAX_RESULTS_BYTES) -> dict[str, Any]:
    """:func:`read_bytes_limited` then :func:`parse_json`: a results document, not yet
    validated (:func:`read_results` also validates it)."""
    return parse_json(read_bytes_limited(path, max_bytes), str(path))


def file_kind(mode: int) -> str:
    """``"a directory"``, ``"a FIFO"``, ... for an ``st_mode`` (for error messages)."""
    import stat

    for test, name in (
        (stat.S_ISREG, "a regular file"), (stat.S_ISDIR, "a directory"),
        (stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def check_output_file(path: str | os.PathLike, option: str = "--out") -> None:
    """Raise ``ValueError`` unless ``path`` may be (re)written: a new path or an existing
    *regular* file, in an existing directory. A symlink is not followed and, like a
    directory, FIFO or device, never replaced."""
    import stat

    path = Path(path)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise ValueError(f"{option} {str(path)!r}: {exc.strerror or exc}") from None
    if mode is not None and not stat.S_ISREG(mode):
        raise ValueError(
            f"{option} {str(path)!r} is {file_kind(mode)}; the output must be a new path or a "
            "regular file (links are not followed, devices and FIFOs never replaced)"
        )
    if not path.parent.is_dir():
        raise ValueError(f"{option} {str(path)!r}: directory {str(path.parent)!r} does not exist")


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


# -- a compiled check of the schema ------------------------------------------------------------
#
# jsonschema interprets the schema anew for every document (about 1 ms for a results file, and
# 0.1 s to import). The published schema uses a handful of keywords, so it is compiled once
# into nested closures that answer "certainly valid?". They are stricter than the standard,
# never more lenient: whenever they say no, jsonschema validates the document and has the
# last word (and writes the error message). Any keyword outside the supported set leaves
# validation to jsonschema alone.

_ANNOTATIONS = frozenset({"$schema", "$id", "$defs", "$comment", "title", "description",
                          "default", "examples"})


class _Unsupported(Exception):
    """The schema uses a keyword the compiled check does not know."""


def _is_num(v: Any) -> bool:
    return type(v) is int or type(v) is float  # noqa: E721 - bool and subclasses excluded


def _not_a_number(v: Any) -> bool:
    """True if ``minimum`` does not apply to ``v`` (False for number types other than int
    and float: the compiled check does not judge them)."""
    import numbers

    return isinstance(v, bool) or not isinstance(v, numbers.Number)


def _type_check(names: Any):
    if isinstance(names, str):
        names = [names]
    tests = []
    for name in names:
        if name == "object":
            tests.append(lambda v: type(v) is dict)  # noqa: E721
        elif name == "array":
            tests.append(lambda v: type(v) is list)  # noqa: E721
        elif name == "string":
            tests.append(lambda v: type(v) is str)  # noqa: E721
        elif name == "integer":
            tests.append(lambda v: type(v) is int or (type(v) is float and v.is_integer()))  # noqa: E721
        elif name == "number":
            tests.append(_is_num)
        elif name == "boolean":
            tests.append(lambda v: type(v) is bool)  # noqa: E721
        elif name == "null":
            tests.append(lambda v: v is None)
        else:
            raise _Unsupported(f"type {name!r}")
    if len(tests) == 1:
        return tests[0]
    return lambda v: any(t(v) for t in tests)


def _same_scalar(const: Any):
    if const is None or type(const) is bool:  # noqa: E721
        return lambda v: v is const
    if type(const) is str:  # noqa: E721
        return lambda v: type(v) is str and v == const  # noqa: E721
    if _is_num(const):
        return lambda v: _is_num(v) and v == const
    raise _Unsupported(f"const/enum value {const!r}")


def _compile_schema(schema: Mapping[str, Any]):
    """A function ``value -> bool`` that is True only for values valid under ``schema``."""
    import re

    compiled: dict[str, Any] = {}

    def resolve(pointer: str):
        if not pointer.startswith("#/"):
            raise _Unsupported(f"$ref {pointer!r}")
        if pointer not in compiled:
            node: Any = schema
            for part in pointer[2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
            compiled[pointer] = None  # (recursive references: filled below)
            compiled[pointer] = comp(node)
        return lambda v: compiled[pointer](v)

    def comp(node: Any):
        if node is True:
            return lambda v: True
        if node is False:
            return lambda v: False
        if not isinstance(node, Mapping):
            raise _Unsupported(f"schema {node!r}")
        checks = []
        props = node.get("properties", {})
        for key, arg in node.items():
            if key in _ANNOTATIONS:
                continue
            if key == "type":
                checks.append(_type_check(arg))
            elif key == "const":
                checks.append(_same_scalar(arg))
            elif key == "enum":
                alts = [_same_scalar(a) for a in arg]
                checks.append(lambda v, alts=alts: any(a(v) for a in alts))
            elif key == "required":
                req = tuple(arg)
                checks.append(lambda v, req=req: not isinstance(v, dict) or all(k in v for k in req))
            elif key == "properties":
                subs = {k: comp(sub) for k, sub in arg.items()}

                def check_props(v, subs=subs):
                    if not isinstance(v, dict):
                        return True
                    for k, sub in subs.items():
                        if k in v and not sub(v[k]):
                            return False
                    return True

                checks.append(check_props)
            elif key == "additionalProperties":
                if "patternProperties" in node:
                    raise _Unsupported("patternProperties")
                known = frozenset(props)
                extra = comp(arg)

                def check_extra(v, known=known, extra=extra):
                    if not isinstance(v, dict):
                        return True
                    return all(extra(x) for k, x in v.items() if k not in known)

                checks.append(check_extra)
            elif key == "items":
                if "prefixItems" in node:
                    raise _Unsupported("prefixItems")
                item = comp(arg)
                checks.append(lambda v, item=item: not isinstance(v, list) or all(item(x) for x in v))
            elif key == "minItems":
                checks.append(lambda v, n=arg: not isinstance(v, list) or len(v) >= n)
            elif key == "uniqueItems":
                if arg:
                    checks.append(
                        lambda v: not isinstance(v, list)
                        or (all(_is_num(x) or type(x) is str for x in v) and len(set(v)) == len(v))  # noqa: E721
                    )
            elif key == "minimum":
                checks.append(lambda v, m=arg: v >= m if _is_num(v) else _not_a_number(v))
            elif key == "minLength":
                checks.append(lambda v, n=arg: not isinstance(v, str) or len(v) >= n)
            elif key == "pattern":
                search = re.compile(arg).search
                checks.append(lambda v, search=search: not isinstance(v, str) or search(v) is not None)
            elif key == "anyOf":
                alts = [comp(a) for a in arg]
                checks.append(lambda v, alts=alts: any(a(v) for a in alts))
            elif key == "$ref":
                checks.append(resolve(arg))
            else:
                raise _Unsupported(key)
        if len(checks) == 1:
            return checks[0]

        def check_all(v, checks=tuple(checks)):
            for c in checks:
                if not c(v):
                    return False
            return True

        return check_all

    return comp(schema)


@functools.lru_cache(maxsize=1)
def _fast_check():
    """The compiled check of the published schema, or None (then jsonschema alone)."""
    try:
        return _compile_schema(json.loads(_schema_text()))
    except _Unsupported:
        return None


def _schema_errors(view: Mapping[str, Any]) -> list:
    """jsonschema's errors for ``view`` (none without asking it when the compiled check
    already shows the document valid)."""
    fast = _fast_check()
    if fast is not None:
        try:
            if fast(view):
                return []
        except Exception:  # noqa: BLE001 - odd values: let jsonschema judge them
            pass
    return sorted(_validator().iter_errors(view), key=lambda e: list(e.absolute_path))


def _field_path(error) -> str:
    parts = [str(p) for p in error.absolute_path]
    return ".".join(parts) if parts else "<top level>"


def canonical_json(data: Mapping[str, Any]) -> bytes:
    """The canonical bytes hashed into ``sha256``.

    Every top-level field except ``sha256``, serialised with sorted keys, separators ``,`` and
    ``:``, no NaN/Infinity, UTF-8. Floats use Python's shortest round-trip repr, so reading a
    file and writing it again reproduces the same bytes. Numpy arrays (as the runner keeps
    ``returns`` and the metrics until the end) serialise exactly as their ``tolist()``.
    """
    if not isinstance(data, Mapping):
        raise ResultsError(f"results must be a JSON object, got {type(data).__name__}")
    content = {k: v for k, v in data.items() if k != "sha256"}
    try:
        text = _dumps_with_arrays(
            content, sort_keys=True, separators=(",", ":"), allow_nan=False, ensure_ascii=False
        )
    except ValueError as exc:  # NaN or infinity somewhere
        raise ResultsError(f"results contain a non-finite number: {exc}") from exc
    except TypeError as exc:
        raise ResultsError(f"results contain a value that is not JSON: {exc}") from exc
    return text.encode("utf-8")


# -- fast JSON of numeric arrays ---------------------------------------------------------------
#
# ``returns`` and the exploration metrics are most of a results file (seeds × tasks × episodes
# floats each). The runner keeps them as float64 arrays until the end; these helpers write an
# array as exactly the text ``json.dumps(array.tolist(), ...)`` gives (compact, or with
# ``indent=1`` at a given nesting level) without building the nested lists: each distinct
# value is formatted once (``float.__repr__``, as json does) and the brackets and separators
# between elements come from a table that depends only on the shape.

_PLACEHOLDER = "\x00krazy-gym-array-{}\x00"


def _is_float_array(value: Any) -> bool:
    np = _numpy()
    return (
        np is not None and isinstance(value, np.ndarray) and value.dtype == np.float64
        and value.ndim >= 1 and value.size > 0
    )


def _numpy():
    import sys

    return sys.modules.get("numpy")  # arrays can only exist if numpy is imported


def _dumps_with_arrays(data: Mapping[str, Any], *, indent: int | None = None, **kwargs: Any) -> str:
    """``json.dumps(data, indent=indent, **kwargs)`` where float64 arrays among the values of
    ``data`` and of its dict values are written as their ``tolist()`` (fast path); other
    arrays are converted with ``tolist()`` first."""
    np = _numpy()
    arrays: list[Any] = []

    def swap(value: Any) -> Any:
        if np is not None and isinstance(value, np.ndarray):
            if _is_float_array(value) and np.isfinite(value).all():
                arrays.append(value)
                return _PLACEHOLDER.format(len(arrays) - 1)
            return value.tolist()  # json raises for non-finite values, as for lists
        return value

    view: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            value = {k: swap(v) for k, v in value.items()}
        view[key] = swap(value)
    text = json.dumps(view, indent=indent, **kwargs)
    if not arrays:
        return text
    found = []
    for i, arr in enumerate(arrays):
        token = json.dumps(_PLACEHOLDER.format(i))
        at = text.find(token)
        if at < 0 or text.find(token, at + len(token)) >= 0:  # a look-alike string in the data
            return json.dumps(as_lists(data), indent=indent, **kwargs)
        found.append((at, len(token), arr))
    found.sort(key=lambda f: f[0])  # sort_keys may have reordered them
    parts = []
    pos = 0
    for at, length, arr in found:
        level = None
        if indent is not None:  # the value's line starts with one space per nesting level
            line_start = end = text.rfind("\n", 0, at) + 1
            while text[end] == " ":
                end += 1
            level = end - line_start
        parts.append(text[pos:at])
        parts.append(_array_json(arr, level))
        pos = at + length
    parts.append(text[pos:])
    return "".join(parts)


def as_lists(data: Any) -> Any:
    """``data`` with numpy arrays (among its values and its dict values) as nested lists
    (a new top-level dict; what ``json.loads`` of the written file gives back)."""
    np = _numpy()
    if np is None or not isinstance(data, Mapping):
        return data

    def conv(value: Any) -> Any:
        return value.tolist() if isinstance(value, np.ndarray) else value

    return {
        k: ({kk: conv(vv) for kk, vv in v.items()} if isinstance(v, Mapping) else conv(v))
        for k, v in data.items()
    }


@functools.lru_cache(maxsize=64)
def _separators(shape: tuple[int, ...], level: int | None):
    """(prefix, object array of the text between consecutive elements, suffix) of a C-order
    array of ``shape`` as json.dumps writes nested lists (compact if ``level`` is None, else
    ``indent=1`` with the outer list starting at indent level ``level``)."""
    import numpy as np

    d = len(shape)
    n = int(np.prod(shape))
    idx = np.arange(1, n, dtype=np.int64)  # separator after element i - 1
    closes = np.zeros(n - 1, dtype=np.int64)  # how many lists end after that element
    block = 1
    for size in reversed(shape[1:]):
        block *= size
        closes += idx % block == 0
    if level is None:
        table = ["]" * m + "," + "[" * m for m in range(d)]
        prefix, suffix = "[" * d, "]" * d
    else:
        inner = level + d  # indent level of the numbers

        def sep(m: int) -> str:
            shut = "".join("\n" + " " * (inner - 1 - j) + "]" for j in range(m))
            opened = "".join("\n" + " " * (inner - m + j) + "[" for j in range(m))
            return shut + "," + opened + "\n" + " " * inner

        table = [sep(m) for m in range(d)]
        prefix = "[" + "".join("\n" + " " * (level + j) + "[" for j in range(1, d))
        prefix += "\n" + " " * inner
        suffix = "".join("\n" + " " * (inner - 1 - j) + "]" for j in range(d))
    seps = np.array(table, dtype=object)[closes]
    seps.flags.writeable = False
    return prefix, seps, suffix


def _array_json(arr: Any, level: int | None = None) -> str:
    """``json.dumps(arr.tolist())`` for a non-empty, finite float64 array: compact separators
    if ``level`` is None, else as ``json.dumps(..., indent=1)`` writes it as a value at
    indent level ``level``."""
    import numpy as np

    shape = tuple(arr.shape)
    bits = np.ascontiguousarray(arr).reshape(-1).view(np.int64)
    # distinct values by bit pattern (keeps -0.0 apart from 0.0; arrays are finite)
    ordered = np.sort(bits)
    distinct = ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]
    texts = [float.__repr__(x) for x in distinct.view(np.float64).tolist()]
    index = np.searchsorted(distinct, bits)
    prefix, seps, suffix = _separators(shape, level)
    width, k = shape[-1], len(texts)
    if len(shape) > 1 and width > 1 and k**width < 2**62:
        # innermost lists: often few distinct ones (metrics take a handful of values); each
        # is written once, then they are strung together like single elements
        digits = index.reshape(-1, width)
        codes = digits @ (k ** np.arange(width - 1, -1, -1, dtype=np.int64))
        ordered_codes = np.sort(codes)
        rows = ordered_codes[np.concatenate(([True], ordered_codes[1:] != ordered_codes[:-1]))]
        if len(rows) * 4 <= len(codes):
            within = seps[0]  # between the numbers of one innermost list
            row_texts = []
            for code in rows.tolist():
                picked = []
                for _ in range(width):
                    code, digit = divmod(code, k)
                    picked.append(texts[digit])
                row_texts.append(within.join(reversed(picked)))
            tokens = np.empty(2 * len(codes) - 1, dtype=object)
            tokens[0::2] = np.array(row_texts, dtype=object).take(np.searchsorted(rows, codes))
            tokens[1::2] = seps[width - 1 :: width]
            return prefix + "".join(tokens.tolist()) + suffix
    tokens = np.empty(2 * bits.size - 1, dtype=object)
    tokens[0::2] = np.array(texts, dtype=object).take(index)
    tokens[1::2] = seps
    return prefix + "".join(tokens.tolist()) + suffix


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

    if isinstance(value, np.ndarray):  # as the runner holds them: checked without tolist()
        if (
            value.dtype.kind in "iuf" and value.ndim == depth and value.size
            and np.isfinite(value).all()
        ):
            return tuple(int(n) for n in value.shape)
        value = value.tolist()  # invalid: the list path names the offending element
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


def _array_depth(value: Any) -> int | None:
    """Nesting depth (2 or 3) of a non-empty numeric array given as nested lists or as a
    numeric numpy array; None for anything else (the schema then sees it as it is)."""
    import numpy as np

    if isinstance(value, np.ndarray):
        if value.dtype.kind in "iuf" and value.size and value.ndim in (2, 3):
            return value.ndim
        return None
    if isinstance(value, list) and value and isinstance(value[0], list) and value[0]:
        return 3 if isinstance(value[0][0], list) else 2
    return None


def _schema_view(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` with big numeric arrays replaced by 1-element stand-ins of the same depth
    (the arrays themselves are checked element by element by :func:`_shape`)."""
    import numpy as np

    view = dict(data)
    returns = view.get("returns")
    if isinstance(returns, np.ndarray):
        view["returns"] = [[[0.0]]] if _array_depth(returns) == 3 else returns.tolist()
    elif isinstance(returns, list) and returns:
        view["returns"] = [[[0.0]]]
    metrics = view.get("exploration_metrics")
    if isinstance(metrics, Mapping):
        stand_in = {}
        for k, v in metrics.items():
            depth = _array_depth(v)
            if depth == 3:
                stand_in[k] = [[[0.0]]]
            elif depth == 2 or (isinstance(v, list) and v):
                stand_in[k] = [[0.0]]
            else:
                stand_in[k] = v.tolist() if isinstance(v, np.ndarray) else v
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
    errors = _schema_errors(_schema_view(data))
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
        depth = 3 if _array_depth(arr) == 3 else 2
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


def write_json_atomic(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` via a temporary file and ``os.replace``."""
    if isinstance(data, Mapping):
        text = _dumps_with_arrays(
            data, indent=1, sort_keys=True, allow_nan=False, ensure_ascii=False
        )
    else:
        text = json.dumps(data, indent=1, sort_keys=True, allow_nan=False, ensure_ascii=False)
    write_text_atomic(path, text + "\n")


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically; see :func:`write_bytes_atomic`."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same directory and ``os.replace``
    (readers see the old file or the new one, never a half-written one). The file gets the
    usual permissions (0666 minus the umask). An existing ``path`` that is not a regular
    file (symlink, directory, FIFO, device) is never replaced: ``ValueError``."""
    from krazy_gym.atomic_io import atomic_output

    path = Path(path)
    check_output_file(path, "output")
    with atomic_output(path, mkdir=False) as tmp:
        tmp.write_bytes(data)
        check_output_file(path, "output")  # (it may have been replaced meanwhile)


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
    """Load (strictly: :func:`load_json_file`) and validate a results file.

    Raises:
        ResultsFileError: the file cannot be read as JSON (missing, not a regular file, too
            big, not UTF-8, malformed, duplicate keys, ...); ``check`` says which.
        ResultsError: not a valid results file (the message names the field).
    """
    data = load_json_file(path)
    validate_results(data)
    return data
