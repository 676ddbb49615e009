"""boxmask.io: every write is atomic; fsync unless the output can be made again."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from boxmask.errors import ExportError
from boxmask.io import atomic_file, atomic_write_bytes, atomic_write_json, atomic_write_text


@pytest.fixture
def fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The file descriptors boxmask.io fsyncs (the real fsync still runs)."""
    calls: list[int] = []
    real = os.fsync

    def counting(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr("boxmask.io.os.fsync", counting)
    return calls


def test_write_replaces_the_target_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.bin"
    atomic_write_bytes(target, b"old")
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in target.parent.iterdir()] == ["out.bin"]


def test_failure_keeps_the_old_file_and_removes_the_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("kept")
    with pytest.raises(RuntimeError), atomic_file(target) as handle:
        handle.write(b"half")
        raise RuntimeError("stop")
    assert target.read_text() == "kept"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_overwrite_false_and_directories_are_one_line_errors(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    atomic_write_json(target, {"a": 1})
    with pytest.raises(ExportError, match="exists"):
        atomic_write_json(target, {"a": 2}, overwrite=False)
    with pytest.raises(ExportError, match="is a directory"):
        atomic_write_text(tmp_path, "x")
    assert target.read_text() == '{"a":1}\n'


def test_permissions_are_what_open_would_give(tmp_path: Path) -> None:
    target = tmp_path / "p.txt"
    atomic_write_text(target, "x")
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    assert stat.S_IMODE(target.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)


def test_durable_writes_fsync_and_recreatable_ones_do_not(
    tmp_path: Path, fsyncs: list[int]
) -> None:
    atomic_write_bytes(tmp_path / "dataset.json", b"{}")
    assert len(fsyncs) == 1
    atomic_write_bytes(tmp_path / "overlay.jpg", b"\xff\xd8", durable=False)
    assert len(fsyncs) == 1  # no fsync, but still written whole and renamed into place
    assert (tmp_path / "overlay.jpg").read_bytes() == b"\xff\xd8"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dataset.json", "overlay.jpg"]


def test_lone_surrogates_are_escaped_not_fatal(tmp_path: Path) -> None:
    target = tmp_path / "s.json"
    atomic_write_json(target, {"label": "cup\ud800"})
    assert target.read_text(encoding="utf-8") == '{"label":"cup\\ud800"}\n'
