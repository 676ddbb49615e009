"""The recycled crop arena: reuse only when nothing points into a block."""

from __future__ import annotations

import numpy as np

from boxmask.masks import arena


def test_block_is_reused_once_views_are_gone() -> None:
    arena.clear()
    first = arena.take(1000)
    block_id = id(first.base)  # an id, not a reference: references keep a block busy
    view = first[:10]
    del first
    busy = arena.take(1000)
    assert id(busy.base) != block_id  # a view still points into the first block
    del view, busy
    again = arena.take(800)
    assert id(again.base) == block_id and again.size == 800


def test_zero_and_oversized_requests() -> None:
    assert arena.take(0).size == 0
    old = arena.MAX_CACHED_BYTES
    arena.MAX_CACHED_BYTES = 100
    try:
        arena.clear()
        big = arena.take(1000)
        assert big.size == 1000
        assert not arena._blocks  # too big to cache
    finally:
        arena.MAX_CACHED_BYTES = old


def test_parse_results_stay_valid_when_later_parses_reuse_memory() -> None:
    import boxmask
    from boxmask.testing.answers import make_items, to_answer_text

    first = boxmask.parse(to_answer_text(make_items(10, seed=1)), width=640, height=480)
    assert first.masks is not None
    snapshot = first.masks.to_dense().copy()
    for seed in range(2, 5):  # these must not write into the first answer's crops
        boxmask.parse(to_answer_text(make_items(10, seed=seed)), width=640, height=480)
    np.testing.assert_array_equal(first.masks.to_dense(), snapshot)


def test_small_request_does_not_take_a_large_idle_block() -> None:
    arena.clear()
    big = arena.take(100_000)
    big_id = id(big.base)
    del big
    small = arena.take(1_000)  # would pin all 100 kB for as long as it lives
    assert id(small.base) != big_id
    half = arena.take(60_000)
    assert id(half.base) == big_id
