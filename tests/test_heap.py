"""boxmask.heap: malloc tuning for picture loops, applied once, harmless where absent."""

from __future__ import annotations

import ctypes
import platform
import sys

import pytest

from boxmask import heap


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(heap, "_outcome", None)


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
    if "glibc" not in " ".join(platform.libc_ver()):
        pytest.skip("not glibc")
    assert heap.keep_freed_memory() is True


def test_a_libc_without_mallopt_is_left_alone_and_not_asked_again(
    fresh: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[object] = []

    def no_mallopt(name: object) -> object:
        opened.append(name)
        return object()

    monkeypatch.setattr(ctypes, "CDLL", no_mallopt)
    assert heap.keep_freed_memory() is False
    assert heap.keep_freed_memory() is False
    assert len(opened) == (1 if sys.platform.startswith("linux") else 0)


def test_a_refused_setting_is_reported(fresh: None, monkeypatch: pytest.MonkeyPatch) -> None:
    class Musl:
        def mallopt(self, param: int, value: int) -> int:
            return 0

    if not sys.platform.startswith("linux"):
        pytest.skip("mallopt is only tried on Linux")
    monkeypatch.setattr(ctypes, "CDLL", lambda name: Musl())
    assert heap.keep_freed_memory() is False
