"""Many calls at once with a concurrency limit: results in input order, one failure per item.

One bad item never sinks a batch: an exception becomes that item's :class:`Outcome`
(``error`` set, ``value`` None) and the others run on. ``KeyboardInterrupt`` and other
non-``Exception`` signals still stop everything.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["Outcome", "map_async", "map_threads"]

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Outcome(Generic[T, R]):
    """The result of one item: ``value`` on success, ``error`` (the exception) on failure."""

    index: int
    item: T
    value: R | None = None
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        """True when the call succeeded."""
        return self.error is None

    def unwrap(self) -> R:
        """The value, or raise the recorded error."""
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


def _check(concurrency: int) -> None:
    if concurrency < 1:
        raise ValueError("concurrency must be >= 1")


def map_threads(
    function: Callable[[T], R], items: Iterable[T], concurrency: int
) -> list[Outcome[T, R]]:
    """Run ``function`` over ``items`` on up to ``concurrency`` threads."""
    _check(concurrency)
    listed = list(items)

    def one(index: int) -> Outcome[T, R]:
        try:
            return Outcome(index, listed[index], function(listed[index]))
        except Exception as exc:
            return Outcome(index, listed[index], error=exc)

    if concurrency == 1 or len(listed) <= 1:
        return [one(i) for i in range(len(listed))]
    with ThreadPoolExecutor(max_workers=min(concurrency, len(listed))) as pool:
        return list(pool.map(one, range(len(listed))))


async def map_async(
    function: Callable[[T], Awaitable[R]], items: Iterable[T], concurrency: int
) -> list[Outcome[T, R]]:
    """Await ``function`` over ``items`` with at most ``concurrency`` in flight."""
    _check(concurrency)
    listed = list(items)
    gate = asyncio.Semaphore(concurrency)

    async def one(index: int) -> Outcome[T, R]:
        async with gate:
            try:
                return Outcome(index, listed[index], await function(listed[index]))
            except Exception as exc:
                return Outcome(index, listed[index], error=exc)

    return list(await asyncio.gather(*(one(i) for i in range(len(listed)))))
