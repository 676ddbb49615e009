"""When and how long to wait before trying a request again.

Retried: HTTP 408, 429, 500, 502, 503, 504, connection errors, timeouts, and answers
cut off mid-body or not JSON. Never retried: other 4xx (the request itself is wrong).

The wait before retry ``n`` (0-based) is the server's hint when it gives one, read in this
order: the ``retry-after-ms`` header (milliseconds), ``Retry-After`` (seconds or an HTTP
date), then the body's ``google.rpc.RetryInfo.retryDelay`` (``"1.5s"``). Without a hint it
is exponential with jitter: ``d = min(initial_delay · exp_base**n, max_delay)``, then a
uniform draw in ``[d/2, d]`` so that parallel clients spread out but still back off.
A hint longer than ``max_delay`` is not waited for: the error is raised at once and says
how long the server asked to wait (a daily quota can ask for hours).
"""

from __future__ import annotations

import email.utils
import random
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["RETRY_STATUSES", "RetryPolicy", "parse_duration", "retry_hint"]

#: HTTP statuses worth another try (the classic SDK's list, reference §4.2).
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*s\s*$")


@dataclass(frozen=True)
class RetryPolicy:
    """Retry settings. Delays are seconds; ``max_retries`` counts retries after the first try.

    ``max_elapsed`` caps the total time spent sleeping between tries of one request.
    """

    max_retries: int = 4
    initial_delay: float = 1.0
    exp_base: float = 2.0
    max_delay: float = 60.0
    max_elapsed: float = 300.0
    statuses: frozenset[int] = RETRY_STATUSES

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if self.initial_delay < 0 or self.max_delay < 0 or self.max_elapsed < 0:
            raise ValueError("retry delays must be >= 0 seconds")
        if self.exp_base < 1:
            raise ValueError("exp_base must be >= 1")

    def backoff(self, retry_index: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry ``retry_index`` (0-based) when the server gave no hint."""
        ceiling = min(self.initial_delay * self.exp_base**retry_index, self.max_delay)
        draw = (rng or random).random()
        return ceiling * (0.5 + 0.5 * draw)


def parse_duration(text: Any) -> float | None:
    """A protobuf Duration string (``"57.2s"``) → seconds, or None."""
    if not isinstance(text, str):
        return None
    match = _DURATION.match(text)
    return float(match.group(1)) if match else None


def _retry_after_seconds(value: str, now: float | None = None) -> float | None:
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:  # pragma: no cover - older Pythons
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return max(0.0, seconds)


def retry_hint(headers: Mapping[str, str], error_details: Any = None) -> float | None:
    """The server's requested wait in seconds, or None when it gave none.

    ``headers`` is case-insensitive (httpx) or lower-cased; ``error_details`` is the
    ``error.details`` list of a Google error body.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    after = lowered.get("retry-after")
    if after is not None:
        seconds = _retry_after_seconds(after)
        if seconds is not None:
            return seconds
    if isinstance(error_details, list):
        for detail in error_details:
            if isinstance(detail, dict) and str(detail.get("@type", "")).endswith(
                "google.rpc.RetryInfo"
            ):
                seconds = parse_duration(detail.get("retryDelay", detail.get("retry_delay")))
                if seconds is not None:
                    return seconds
    return None
