"""boxmask.heap: malloc tuning for picture loops, applied once, harmless where absent."""

from __future__ import annotations

import ctypes
import sys

import pytest

from boxmask import heap


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(heap, "_done", False)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_glibc_takes_the_settings_once(fresh: None, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, int]] = []

    class Libc:
        def mallopt(self, param: int, value: int) -> int:
            calls.append((param, value))
            return 1

    monkeypatch.setattr(ctypes, "CDLL", lambda name: Libc())
    assert heap.keep_freed_memory() is True
    assert heap.keep_freed_memory() is True  # once per process
    assert calls == [(-3, heap.MMAP_THRESHOLD), (-1, heap.TRIM_THRESHOLD)]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_real_libc_accepts_them(fresh: None) -> None:
    # musl has mallopt but ignores it (returns 0); the project's machines run glibc.
    if "glibc" not in " ".join(__import__("platform").libc_ver()):
        pytest.skip("not glibc")
    assert heap.keep_freed_memory() is True


def test_a_libc_without_mallopt_is_left_alone(fresh: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ctypes, "CDLL", lambda name: object())
    assert heap.keep_freed_memory() is False
    assert heap._done is False


def test_a_refused_setting_is_reported(fresh: None, monkeypatch: pytest.MonkeyPatch) -> None:
    class Musl:
        def mallopt(self, param: int, value: int) -> int:
            return 0

    monkeypatch.setattr(ctypes, "CDLL", lambda name: Musl())
    if not sys.platform.startswith("linux"):
        pytest.skip("mallopt is only tried on Linux")
    assert heap.keep_freed_memory() is False
