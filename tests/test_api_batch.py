"""Concurrency: ``client.map`` and the async client keep input order and record failures."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from boxmask import Detections, errors
from boxmask.api import AsyncClient, Client, Outcome, RetryPolicy
from boxmask.api.batch import map_threads
from boxmask.testing.scenes import make_scene
from boxmask.testing.server import FakeGemini

KEY = "test-key"
FAST = RetryPolicy(max_retries=1, initial_delay=0.001)
IMAGES: list[object] = [make_scene(i, n_shapes=1 + i % 3).encode("PNG") for i in range(8)]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGemini]:
    with FakeGemini(api_keys=[KEY], latency=0.02) as server:
        yield server


@pytest.fixture(autouse=True)
def _clean(fake: FakeGemini) -> None:
    fake.reset()


def test_map_keeps_order_and_records_each_failure(fake: FakeGemini) -> None:
    items = [*IMAGES[:3], b"not an image", *IMAGES[3:]]
    with Client(KEY, base_url=fake.base_url, retry=FAST) as c:
        results = c.map(lambda im: c.detect(im, "shapes"), items, concurrency=4)
    assert [r.index for r in results] == list(range(len(items)))
    assert [r.item for r in results] == items
    bad = results[3]
    assert not bad.ok and isinstance(bad.error, errors.ImageError)
    with pytest.raises(errors.ImageError):
        bad.unwrap()
    good = [r for r in results if r.ok]
    assert len(good) == 8
    for r in good:
        assert isinstance(r.value, Detections)
        assert len(r.unwrap()) == 1 + IMAGES.index(r.item) % 3


def test_map_survives_server_errors_for_some_items(fake: FakeGemini) -> None:
    fake.add_fault("status", status=400, times=2, message="bad item")
    with Client(KEY, base_url=fake.base_url, retry=FAST) as c:
        results = c.map(lambda im: c.ask(im, "hi"), IMAGES, concurrency=3)
    assert sum(not r.ok for r in results) == 2
    assert all(isinstance(r.error, errors.InvalidRequestError) for r in results if not r.ok)


def test_async_map_with_a_limit(fake: FakeGemini) -> None:
    async def run() -> list[Outcome[object, str]]:
        async with AsyncClient(KEY, base_url=fake.base_url, retry=FAST) as c:
            return await c.map(lambda im: c.ask(im, "hi"), [*IMAGES, 42], concurrency=5)

    results = asyncio.run(run())
    assert [r.ok for r in results] == [True] * 8 + [False]
    assert isinstance(results[-1].error, errors.ImageError)
    for r, image in zip(results, IMAGES, strict=False):
        assert r.value is not None and f"{1 + IMAGES.index(image) % 3} shape" in r.value


def test_map_threads_edge_cases() -> None:
    assert map_threads(lambda x: x, [], 4) == []
    with pytest.raises(ValueError):
        map_threads(lambda x: x, [1], 0)
    out = map_threads(lambda x: 1 // x, [1, 0, 2], 1)
    assert [o.ok for o in out] == [True, False, True]
    assert isinstance(out[1].error, ZeroDivisionError)
