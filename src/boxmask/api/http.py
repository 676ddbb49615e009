"""Reliable API calls: the retry loop, JSON decoding and HTTP errors → typed exceptions.

The API key travels only in the ``x-goog-api-key`` header of calls to the API; it is never
put in a URL, a log record, an exception message or a repr (server messages are scrubbed
of it too).
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from boxmask.api.defaults import DEFAULT_BASE_URL, DEFAULT_TIMEOUT
from boxmask.api.exchange import redact_url
from boxmask.api.retry import RetryPolicy, retry_hint
from boxmask.api.transport import Flow, HttpCall, HttpReply, Sleep, TransportFailure
from boxmask.api.wire import ErrorBody, parse_error_body
from boxmask.errors import (
    ApiConnectionError,
    ApiError,
    ApiTimeoutError,
    AuthenticationError,
    InvalidApiKeyError,
    InvalidRequestError,
    MissingApiKeyError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RedirectError,
    ServerError,
)

# DEFAULT_BASE_URL is re-exported for older imports; it is defined in boxmask.api.defaults.
__all__ = [
    "DEFAULT_BASE_URL",
    "Session",
    "call",
    "clean_api_key",
    "error_for_reply",
    "log",
    "redact_url",
    "redirect_error",
]

log = logging.getLogger("boxmask.api")

_KEY_ENV = ("GEMINI_API_KEY", "GOOGLE_API_KEY")


@dataclass
class Session:
    """What every flow of one client shares: where to call, how to authenticate and retry.

    ``api_key`` is the explicit key or None (then ``GEMINI_API_KEY``, then
    ``GOOGLE_API_KEY`` are read at each call, so a missing key fails at the first call).
    """

    base_url: str = DEFAULT_BASE_URL
    api_key: str | None = field(default=None, repr=False)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: float | None = DEFAULT_TIMEOUT
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        if self.api_key is not None:
            self.api_key = clean_api_key(self.api_key, "api_key=") or None

    def key(self) -> str:
        """The API key; raises :class:`MissingApiKeyError` when there is none and
        :class:`InvalidApiKeyError` when it cannot go into a header."""
        if self.api_key:
            return self.api_key
        for name in _KEY_ENV:
            value = clean_api_key(os.environ.get(name, ""), name)
            if value:
                return value
        raise MissingApiKeyError(
            "no Gemini API key: pass Client(api_key=...) or set the GEMINI_API_KEY (or "
            "GOOGLE_API_KEY) environment variable"
        )

    def headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """Headers of an API call: the key, and the server timeout hint when one is set."""
        headers = {"x-goog-api-key": self.key()}
        if self.timeout:
            headers["X-Server-Timeout"] = str(math.ceil(self.timeout))
        if extra:
            headers.update(extra)
        return headers

    def url(self, path: str) -> str:
        """Absolute URL for ``path`` (``/v1beta/...``); absolute URLs pass through."""
        return path if "://" in path else f"{self.base_url}{path}"

    def scrub(self, text: str) -> str:
        """``text`` with the API key (if it appears at all) replaced by ``***``."""
        keys = [self.api_key] if self.api_key else [os.environ.get(n, "") for n in _KEY_ENV]
        for key in keys:
            for form in {key, key.strip()}:
                if form:
                    text = text.replace(form, "***")
        return text


def clean_api_key(value: str, where: str) -> str:
    """``value`` without surrounding whitespace (a key read from a file ends in a
    newline); raises :class:`InvalidApiKeyError`, naming ``where`` but never showing the
    key, when a control or non-ASCII character is left inside."""
    key = value.strip()
    for position, char in enumerate(key):
        if char.isascii() and char.isprintable():
            continue
        kind = "a control character" if not char.isprintable() else "a non-ASCII character"
        raise InvalidApiKeyError(
            f"the API key from {where} holds {kind} (U+{ord(char):04X} at position "
            f"{position + 1} of {len(key)}), so it cannot be sent in a header. Copy the key "
            "again from AI Studio; surrounding spaces and newlines are removed for you."
        )
    return key


def redirect_error(session: Session, reply: HttpReply, what: str) -> RedirectError:
    """The error for a 3xx answer to an API call: boxmask never follows it (the API key
    would go along to wherever it points)."""
    location = reply.headers.get("location")
    target = redact_url(location) if location else None
    to = f" to {session.scrub(target)}" if target else ""
    return RedirectError(
        f"{what}: the service answered with a redirect (HTTP {reply.status}{to}); boxmask "
        f"does not follow redirects of API calls, which carry the key. Check base_url "
        f"({session.base_url}): a proxy or a moved endpoint may be answering.",
        status_code=reply.status,
        location=target,
    )


def _describe(error: ErrorBody, status: int) -> str:
    label = f"HTTP {status}" + (f" {error.status}" if error.status else "")
    return f"{label}: {error.message}"


def error_for_reply(session: Session, reply: HttpReply, what: str, attempts: int = 1) -> ApiError:
    """The typed exception for an HTTP error ``reply`` to the call described by ``what``,
    carrying the server's wait hint (``retry_after``, seconds) when it gave one."""
    error = parse_error_body(reply.body)
    exception = _error_for_status(session, reply.status, error, what, attempts)
    exception.retry_after = retry_hint(reply.headers, error.details)
    return exception


def _error_for_status(
    session: Session, status: int, error: ErrorBody, what: str, attempts: int
) -> ApiError:
    detail = session.scrub(_describe(error, status))
    tries = f" after {attempts} attempts" if attempts > 1 else ""
    key_invalid = error.reason == "API_KEY_INVALID" or "api key not valid" in error.message.lower()
    if status == 401 or (status == 400 and key_invalid):
        return AuthenticationError(
            f"{what}: the API key was rejected ({detail}). Check the key in api_key= or "
            "GEMINI_API_KEY / GOOGLE_API_KEY.",
            status_code=status,
        )
    if status == 403:
        return PermissionDeniedError(
            f"{what}: permission denied ({detail}). The key may not use this model, or the "
            "file belongs to another project or has expired (files live 48 h).",
            status_code=status,
        )
    if status == 404:
        return NotFoundError(
            f"{what}: not found ({detail}). Check the model name and file names.",
            status_code=status,
        )
    if status == 429:
        return RateLimitError(
            f"{what}: still rate limited{tries} ({detail}). Wait and try again, lower the "
            "concurrency, or check your quota.",
            status_code=status,
        )
    if status == 408:
        return ApiTimeoutError(
            f"{what}: the server timed out{tries} ({detail}). Try again later or send less.",
            status_code=status,
        )
    if status >= 500:
        return ServerError(
            f"{what}: the service failed{tries} ({detail}). It is usually temporary: try "
            "again later.",
            status_code=status,
        )
    if status in (400, 413, 422):
        return InvalidRequestError(
            f"{what}: the request was rejected ({detail}). It was not retried: fix the "
            "request (size, fields, MIME type).",
            status_code=status,
        )
    return ApiError(f"{what}: unexpected answer ({detail}).", status_code=status)


def _final_error(
    session: Session,
    outcome: HttpReply | TransportFailure | None,
    what: str,
    attempts: int,
    note: str,
    problem: str = "",
) -> ApiError:
    if isinstance(outcome, HttpReply) and outcome.status >= 400:
        error = error_for_reply(session, outcome, what, attempts)
        if note:
            error.args = (f"{error.args[0]} {note}",)
        return error
    if isinstance(outcome, TransportFailure):
        reason = session.scrub(f"{type(outcome.error).__name__}: {outcome.error}")
        if outcome.is_timeout:
            return ApiTimeoutError(
                f"{what}: no answer within the timeout after {attempts} attempt(s) ({reason}). "
                f"Raise timeout= (now {session.timeout} s) or send a smaller request. {note}".strip()
            )
        return ApiConnectionError(
            f"{what}: could not reach the service after {attempts} attempt(s) ({reason}). "
            f"Check the network and base_url ({session.base_url}). {note}".strip()
        )
    return ServerError(
        f"{what}: the service answered badly {attempts} time(s) "
        f"({problem or 'body is not valid JSON'}). Try again later. {note}".strip()
    )


@dataclass(frozen=True)
class _Accepted:
    """A 2xx reply that passed ``check`` and decoded."""

    value: Any


@dataclass(frozen=True)
class _Retryable:
    """Why an attempt failed in a way worth another try, and the server's wait hint."""

    problem: str
    hint: float | None = None


def _judge(
    session: Session,
    outcome: HttpReply | TransportFailure,
    what: str,
    attempt: int,
    decode: bool,
    check: Callable[[HttpReply], str | None] | None,
) -> _Accepted | _Retryable:
    """Accept the outcome, ask for a retry, or raise the typed error of a final answer."""
    if isinstance(outcome, TransportFailure):
        return _Retryable(type(outcome.error).__name__)
    if outcome.status in session.retry.statuses:
        error = parse_error_body(outcome.body)
        return _Retryable(f"HTTP {outcome.status}", retry_hint(outcome.headers, error.details))
    if 300 <= outcome.status < 400:
        raise redirect_error(session, outcome, what)
    if outcome.status >= 400 or outcome.status < 200:
        raise error_for_reply(session, outcome, what, attempt + 1)
    reason = check(outcome) if check else None
    if reason is not None:
        return _Retryable(reason)
    if not decode:
        return _Accepted(None)
    try:
        return _Accepted(json.loads(outcome.body) if outcome.body else {})
    except ValueError:
        return _Retryable("body is not valid JSON")


def _retry_delay(
    session: Session,
    outcome: HttpReply | TransportFailure,
    verdict: _Retryable,
    what: str,
    attempt: int,
    slept: float,
) -> float:
    """Seconds to wait before the next try; raises when the retries or budget are spent."""
    policy = session.retry
    tries = attempt + 1
    if attempt >= policy.max_retries:
        raise _final_error(session, outcome, what, tries, "", verdict.problem)
    hint = verdict.hint
    if hint is not None and hint > policy.max_delay:
        note = (
            f"The server asks to wait {hint:.0f} s, longer than max_delay "
            f"({policy.max_delay:.0f} s): try again after that."
        )
        raise _final_error(session, outcome, what, tries, note)
    delay = hint if hint is not None else policy.backoff(attempt, session.rng)
    if slept + delay > policy.max_elapsed:
        raise _final_error(
            session, outcome, what, tries, "(retry time budget spent)", verdict.problem
        )
    return delay


def call(
    session: Session,
    request: HttpCall,
    what: str,
    *,
    decode: bool = True,
    check: Callable[[HttpReply], str | None] | None = None,
) -> Flow[tuple[HttpReply, Any]]:
    """Send ``request`` with retries; return ``(reply, decoded JSON or None)``.

    ``decode`` parses the body as JSON (an unreadable body is retried like a dropped
    connection). ``check(reply)`` may return a reason to treat a 2xx reply as failed and
    retry it. Raises the typed :mod:`boxmask.errors` exception when retries run out or
    the error is not retryable.
    """
    attempt = 0
    slept = 0.0
    target = redact_url(request.url)
    while True:
        outcome = yield request
        verdict = _judge(session, outcome, what, attempt, decode, check)
        if isinstance(verdict, _Accepted):
            assert isinstance(outcome, HttpReply)
            log.debug(
                "%s %s -> %d in %.1f ms (attempt %d)",
                request.method,
                target,
                outcome.status,
                outcome.elapsed * 1000,
                attempt + 1,
            )
            return outcome, verdict.value
        delay = _retry_delay(session, outcome, verdict, what, attempt, slept)
        log.info(
            "%s %s: %s; retry %d/%d in %.2f s",
            request.method,
            target,
            verdict.problem,
            attempt + 1,
            session.retry.max_retries,
            delay,
        )
        yield Sleep(delay)
        slept += delay
        attempt += 1
