"""Request and token budgets shared by every worker of a run, and a shared backoff.

:class:`RateLimiter` holds a one-minute sliding window of what was sent: ``acquire``
blocks a worker until one more request (of an estimated token count) fits in ``rpm``
requests and ``tpm`` tokens per minute. :meth:`RateLimiter.back_off` is called on a 429:
every worker then waits (the whole run slows down, not only the worker that got it); the
429s of workers already paused count once, and each later 429 before a success doubles
the wait, as :class:`~boxmask.api.retry.RetryPolicy`
does for one request.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable

from boxmask.api.retry import RetryPolicy

__all__ = ["RateLimiter"]

_WINDOW = 60.0


class RateLimiter:
    """``rpm`` requests and ``tpm`` tokens per minute (None: no limit); thread-safe."""

    def __init__(
        self,
        rpm: float | None = None,
        tpm: float | None = None,
        *,
        policy: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if (rpm is not None and rpm <= 0) or (tpm is not None and tpm <= 0):
            raise ValueError("rpm and tpm must be positive")
        self.rpm, self.tpm = rpm, tpm
        self.policy = policy or RetryPolicy()
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._sent: collections.deque[tuple[float, int]] = collections.deque()
        self._tokens = 0
        self._paused_until = 0.0
        self._strikes = 0
        self.waited = 0.0

    def _wait_time(self, now: float, tokens: int) -> float:
        while self._sent and self._sent[0][0] <= now - _WINDOW:
            self._tokens -= self._sent.popleft()[1]
        wait = max(0.0, self._paused_until - now)
        if self.rpm is not None and len(self._sent) >= self.rpm:
            wait = max(wait, self._sent[0][0] + _WINDOW - now)
        if self.tpm is not None and self._sent and self._tokens + tokens > self.tpm:
            # Wait until enough of the window has expired (a request bigger than the
            # whole budget goes alone once the window is empty).
            needed = self._tokens + tokens - self.tpm
            freed = 0
            for sent_at, count in self._sent:
                freed += count
                if freed >= needed:
                    wait = max(wait, sent_at + _WINDOW - now)
                    break
            else:  # more than the budget: wait for an empty window
                wait = max(wait, self._sent[-1][0] + _WINDOW - now)
        return wait

    def acquire(self, tokens: int = 0) -> None:
        """Block until a request of ``tokens`` (estimated) fits the budgets; record it."""
        while True:
            with self._lock:
                now = self._clock()
                wait = self._wait_time(now, tokens)
                if wait <= 0:
                    self._sent.append((now, tokens))
                    self._tokens += tokens
                    return
            self.waited += wait
            self._sleep(min(wait, 5.0))

    def back_off(self, hint: float | None = None) -> float:
        """A 429: pause every worker; returns the pause in seconds."""
        with self._lock:
            now = self._clock()
            if now < self._paused_until and hint is None:
                # Another worker's 429 of the same wave already paused everyone.
                return self._paused_until - now
            delay = hint if hint is not None else self.policy.backoff(self._strikes)
            self._strikes += 1
            self._paused_until = max(self._paused_until, now + delay)
            return delay

    def succeeded(self) -> None:
        """A request went through: the next 429 starts from the initial delay again."""
        with self._lock:
            self._strikes = 0
