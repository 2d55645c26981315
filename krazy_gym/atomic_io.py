"""Atomic file output: readers see the old file or the new one, never a half-written one.

Every file the package writes (results, checkpoints, progress logs, calibration constants,
board images) goes through :func:`atomic_output`: the content is written to a temporary file
in the target's directory, flushed to disk, given the permissions a plain ``open(path, "w")``
would have given it (``0o666`` less the umask: ``tempfile.mkstemp`` makes ``0o600``, which once
left the demo's images unreadable to other users), and renamed over the target. On any error
the temporary file is removed and the target is untouched.

>>> import tempfile, pathlib
>>> out = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
>>> write_bytes_atomic(out, b"hello")
>>> out.read_bytes()
b'hello'
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def current_umask() -> int:
    """The process's umask, read without changing it where the system allows (Linux), since
    setting it to read it races with other threads creating files."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], *, mkdir: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; when the block ends without an error, the
    temporary file is fsynced, given the usual permissions and renamed to ``path``.

    Use it with libraries that want a file name (``PIL.Image.save``, ``torch.save``,
    ``matplotlib.figure.Figure.savefig``)::

        with atomic_output("board.png") as tmp:
            image.save(tmp, format="PNG")
    """
    target = Path(path)
    if mkdir:
        target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes, *, mkdir: bool = True) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_output`)."""
    with atomic_output(path, mkdir=mkdir) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | os.PathLike[str], text: str, *, mkdir: bool = True) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_output`)."""
    write_bytes_atomic(path, text.encode("utf-8"), mkdir=mkdir)


__all__ = ["atomic_output", "current_umask", "write_bytes_atomic", "write_text_atomic"]
