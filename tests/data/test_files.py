"""Reading and writing files (hwprof.data.files): regular files only, a size limit, a BOM
accepted; new files get the umask's mode, a replaced one keeps its own, symlinks are followed on
purpose and never replaced by a file.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import pytest

from hwprof.data.files import folder_mode, read_text, write_atomic
from hwprof.errors import HwprofError
from tests.facts import error_line


def test_read_text_drops_a_bom(tmp_path: Path) -> None:
    path = tmp_path / "a.toml"
    path.write_bytes(b"\xef\xbb\xbfx = 1\n")
    assert read_text(path, 100) == "x = 1\n"


def test_read_text_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    with pytest.raises(HwprofError, match="not a regular file \\(a FIFO\\)"):
        read_text(fifo, 100)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_read_text_refuses_a_device() -> None:
    with pytest.raises(HwprofError, match="not a regular file \\(a device or socket\\)"):
        read_text(Path("/dev/zero"), 100)


def test_read_text_limit_and_encoding(tmp_path: Path) -> None:
    big = tmp_path / "big.toml"
    big.write_bytes(b"x" * 101)
    with pytest.raises(HwprofError, match="larger than a file can be \\(100 bytes\\)"):
        read_text(big, 100)
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b"a = 1\nb = '\xe9'\n")
    with pytest.raises(HwprofError, match="latin.toml:2: not UTF-8"):
        read_text(latin, 100)


def test_a_new_file_gets_the_umask_mode(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        write_atomic(tmp_path / "new.toml", "x = 1\n")
        assert folder_mode() == 0o750
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.toml").stat().st_mode) == 0o640


def test_force_keeps_the_mode_and_refuses_without_it(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text("old\n")
    path.chmod(0o600)
    with pytest.raises(HwprofError, match="already exists; pass --force"):
        write_atomic(path, "new\n")
    write_atomic(path, "new\n", force=True)
    assert path.read_text() == "new\n" and stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_symlink_is_written_through_and_stays_a_link(tmp_path: Path) -> None:
    real, link = tmp_path / "real.toml", tmp_path / "link.toml"
    real.write_text("old\n")
    link.symlink_to(real)
    write_atomic(link, "new\n", force=True)
    assert link.is_symlink() and real.read_text() == "new\n"


def test_a_dangling_symlink_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "link.toml"
    link.symlink_to(tmp_path / "nowhere" / "x.toml")
    with pytest.raises(HwprofError, match="a symlink to .*which does not exist"):
        write_atomic(link, "new\n")
    assert link.is_symlink()


def test_a_special_file_is_never_replaced(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    with pytest.raises(HwprofError, match="not a regular file"):
        write_atomic(fifo, "x\n", force=True)
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_plugins_new_into_a_folder_it_cannot_write(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, run_cli: object
) -> None:
    """Root can write anywhere, so the refusal is simulated where the folder is created."""

    def refuse(*args: object, **kwargs: object) -> str:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkdtemp", refuse)
    result = run_cli("plugins", "new", "hwprof-x", "-o", tmp_path)  # type: ignore[operator]
    assert result.code == 1
    error_line(result.err, f"-o {tmp_path}:", "cannot create a folder", "Permission denied")


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 0


def test_read_text_refuses_a_folder_before_opening_it(tmp_path: Path) -> None:
    """Issue 24, item 1: a folder named *.toml was opened, failed inside fdopen and its fd leaked."""
    folder = tmp_path / "old.toml"
    folder.mkdir()
    before = _open_fds()
    for _ in range(20):
        with pytest.raises(HwprofError, match=r"old.toml: not a regular file \(a folder\)"):
            read_text(folder, 100)
    assert _open_fds() == before  # nothing opened stays open


def test_without_force_a_file_created_meanwhile_is_not_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 24 (Low): two `profiles new` at once both passed the exists check, then replaced each other."""
    path = tmp_path / "new.toml"
    real_link = os.link

    def racing_link(src: str, dst: str) -> None:  # another writer creates the file between check and write
        Path(dst).write_text("the other writer's\n", encoding="utf-8")
        real_link(src, dst)

    monkeypatch.setattr(os, "link", racing_link)
    with pytest.raises(HwprofError, match="already exists; pass --force"):
        write_atomic(path, "mine\n")
    assert path.read_text(encoding="utf-8") == "the other writer's\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.toml"]  # no temporary file left
