"""The shared thread pool."""

from __future__ import annotations

import threading

import pytest

from boxmask import threads


def test_map_ordered_keeps_order_and_uses_threads() -> None:
    seen: set[int] = set()

    def work(x: int) -> int:
        seen.add(threading.get_ident())
        return x * x

    with threads.using(2):
        assert threads.map_ordered(work, list(range(50))) == [x * x for x in range(50)]
    assert len(seen) >= 1


def test_single_thread_runs_inline() -> None:
    with threads.using(1):
        idents = threads.map_ordered(lambda _: threading.get_ident(), list(range(20)))
    assert set(idents) == {threading.get_ident()}


def test_using_restores_and_validates() -> None:
    before = threads.threads()
    with threads.using(1):
        assert threads.threads() == 1
    assert threads.threads() == before
    with pytest.raises(ValueError):
        threads.set_threads(0)
