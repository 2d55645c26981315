"""krazy_gym.atomic_io: the permissions of a plain open(), the old file kept on error."""

from __future__ import annotations

import os
import stat

import pytest

from krazy_gym.atomic_io import atomic_output, current_umask, write_bytes_atomic


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_umask_is_read_without_changing_it():
    before = os.umask(0o027)
    try:
        assert current_umask() == 0o027
        assert os.umask(0o027) == 0o027  # unchanged by the read
    finally:
        os.umask(before)


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_written_file_has_the_permissions_of_a_plain_open(tmp_path, umask):
    before = os.umask(umask)
    try:
        plain = tmp_path / "plain.bin"
        plain.write_bytes(b"x")
        atomic = tmp_path / "atomic.bin"
        write_bytes_atomic(atomic, b"x")
    finally:
        os.umask(before)
    assert _mode(atomic) == _mode(plain) == 0o666 & ~umask


def test_error_inside_the_block_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_output(target) as tmp:
        tmp.write_bytes(b"half-writ")
        raise RuntimeError("boom")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_board_images_are_readable_by_others(tmp_path):
    pytest.importorskip("PIL")
    import gymnasium as gym

    import krazy_gym  # noqa: F401
    from krazy_gym.krazy_world.gallery import save_board_png

    task = gym.make("KrazyGym/KrazyWorld-Easy-v0").unwrapped.sample_tasks(1, split="test")[0]
    before = os.umask(0o022)
    try:
        path = save_board_png(task, tmp_path / "board.png")
    finally:
        os.umask(before)
    assert _mode(path) == 0o644
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
