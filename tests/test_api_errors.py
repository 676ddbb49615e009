"""Every error path and retry rule, against the fake server's injected faults."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from boxmask import errors
from boxmask.api import Client, RetryPolicy
from boxmask.testing.scenes import make_scene
from boxmask.testing.server import FakeGemini

KEY = "test-key"
PNG = make_scene(1, n_shapes=3).encode("PNG")


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGemini]:
    with FakeGemini(api_keys=[KEY]) as server:
        yield server


@pytest.fixture(autouse=True)
def _clean(fake: FakeGemini) -> None:
    fake.reset()


def make(fake: FakeGemini, api: str = "interactions", **policy: float) -> Client:
    settings = {"initial_delay": 0.001, "max_delay": 1.0, **policy}
    return Client(KEY, base_url=fake.base_url, api=api, retry=RetryPolicy(**settings))  # type: ignore[arg-type]


def model_calls(fake: FakeGemini) -> int:
    return len(fake.model_requests())


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
@pytest.mark.parametrize("api", ["interactions", "generate_content"])
def test_transient_statuses_are_retried_then_succeed(
    fake: FakeGemini, status: int, api: str
) -> None:
    fake.add_fault("status", status=status, times=2, endpoint="model")
    with make(fake, api) as c:
        assert len(c.detect(PNG, "shapes")) == 3
    assert model_calls(fake) == 3


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (429, errors.RateLimitError),
        (503, errors.ServerError),
        (500, errors.ServerError),
        (504, errors.ServerError),
        (408, errors.ApiTimeoutError),
    ],
)
def test_retries_run_out_with_a_typed_error(fake: FakeGemini, status: int, error: type) -> None:
    fake.add_fault("status", status=status, times=10)
    with make(fake) as c:
        c._session.retry = RetryPolicy(max_retries=2, initial_delay=0.001)
        with pytest.raises(error) as info:
            c.ask(PNG, "hi")
    assert info.value.status_code == status and "after 3 attempts" in str(info.value)
    assert model_calls(fake) == 3


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, errors.InvalidRequestError),
        (401, errors.AuthenticationError),
        (403, errors.PermissionDeniedError),
        (404, errors.NotFoundError),
        (413, errors.InvalidRequestError),
        (409, errors.ApiError),
    ],
)
def test_other_4xx_are_not_retried(fake: FakeGemini, status: int, error: type) -> None:
    fake.add_fault("status", status=status, message="server says no", times=5)
    with make(fake) as c, pytest.raises(error, match="server says no") as info:
        c.ask(PNG, "hi")
    assert info.value.status_code == status
    assert model_calls(fake) == 1


@pytest.mark.parametrize(
    "hint",
    [{"retry_after": "0.25"}, {"retry_after_ms": "250"}, {"retry_info": "0.25"}],
    ids=["Retry-After", "retry-after-ms", "RetryInfo"],
)
def test_server_retry_hints_are_honoured(
    fake: FakeGemini, hint: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    fake.add_fault("status", status=429, **hint)
    caplog.set_level(logging.INFO, logger="boxmask.api")
    with make(fake, initial_delay=0.0001) as c:
        c.ask(PNG, "hi")
    # Without the hint the backoff would be ~0.1 ms; the client waits what the server asks.
    (record,) = [r for r in caplog.records if "retry 1/" in r.getMessage()]
    assert record.getMessage().endswith("in 0.25 s")
    assert model_calls(fake) == 2


def test_hint_longer_than_max_delay_fails_at_once(fake: FakeGemini) -> None:
    fake.add_fault("status", status=429, retry_info="3600", times=5)
    with make(fake, max_delay=1.0) as c, pytest.raises(errors.RateLimitError, match="3600 s"):
        c.ask(PNG, "hi")
    assert model_calls(fake) == 1


def test_list_wrapped_error_bodies_are_read(fake: FakeGemini) -> None:
    fake.add_fault("status", status=400, message="wrapped message", list_wrapped=True)
    with make(fake) as c, pytest.raises(errors.InvalidRequestError, match="wrapped message"):
        c.ask(PNG, "hi")


@pytest.mark.parametrize("kind", ["drop", "cut", "malformed"])
def test_broken_responses_are_retried(fake: FakeGemini, kind: str) -> None:
    fake.add_fault(kind, times=2, endpoint="model")
    with make(fake) as c:
        assert "Image 1" in c.ask(PNG, "hi")
    assert model_calls(fake) == 3


def test_broken_responses_give_up_with_typed_errors(fake: FakeGemini) -> None:
    with make(fake) as c:
        c._session.retry = RetryPolicy(max_retries=1, initial_delay=0.001)
        fake.add_fault("drop", times=5)
        with pytest.raises(errors.ApiConnectionError, match="2 attempt"):
            c.ask(PNG, "hi")
        fake.reset()
        fake.add_fault("malformed", times=5)
        with pytest.raises(errors.ServerError, match="not valid JSON"):
            c.ask(PNG, "hi")


def test_timeouts_are_retried_then_raise(fake: FakeGemini) -> None:
    fake.add_fault("slow", delay=0.6, times=1)
    with Client(
        KEY, base_url=fake.base_url, timeout=0.25, retry=RetryPolicy(initial_delay=0.001)
    ) as c:
        assert "Image 1" in c.ask(PNG, "hi")  # first try times out, the retry answers
        fake.add_fault("slow", delay=0.6, times=3)
        c._session.retry = RetryPolicy(max_retries=1, initial_delay=0.001)
        with pytest.raises(errors.ApiTimeoutError, match="timeout"):
            c.ask(PNG, "hi")


def test_connection_refused_is_a_connection_error() -> None:
    with FakeGemini() as gone:
        url = gone.base_url
    policy = RetryPolicy(max_retries=1, initial_delay=0.001)
    with (
        Client(KEY, base_url=url, retry=policy) as c,
        pytest.raises(errors.ApiConnectionError, match="could not reach"),
    ):
        c.ask(PNG, "hi")


@pytest.mark.parametrize("api", ["interactions", "generate_content"])
def test_truncated_answer_keeps_complete_items(fake: FakeGemini, api: str) -> None:
    scene = make_scene(9, n_shapes=5, width=480, height=360)
    fake.add_fault("truncate")
    with make(fake, api) as c:
        with pytest.raises(errors.TruncatedError, match="max_output_tokens") as info:
            c.detect(scene.encode("PNG"), "shapes")
        partial = info.value.detections
        assert partial is not None and 0 < len(partial) < 5
        assert partial.answer.truncated
        assert any(p.kind.value == "truncated" for p in partial.problems)
        # allow_truncated returns the same items without raising
        fake.add_fault("truncate")
        kept = c.detect(scene.encode("PNG"), "shapes", allow_truncated=True)
        assert len(kept) == len(partial)


def test_small_output_budget_truncates_naturally(fake: FakeGemini) -> None:
    with make(fake, "generate_content") as c:
        with pytest.raises(errors.TruncatedError):
            c.segment(PNG, "shapes", max_output_tokens=40)
        text = c.ask(PNG, "hi", max_output_tokens=5, allow_truncated=True)
        assert 0 < len(text) <= 20
        with pytest.raises(errors.TruncatedError, match="output limit"):
            c.ask(PNG, "hi", max_output_tokens=5)
        response = c.generate(["hi", PNG], max_output_tokens=5)
        assert response.truncated and response.finish_reason == "MAX_TOKENS"


@pytest.mark.parametrize("api", ["interactions", "generate_content"])
@pytest.mark.parametrize("kind", ["block", "finish_block"])
def test_safety_blocks_raise_blocked_with_reason(fake: FakeGemini, api: str, kind: str) -> None:
    fake.add_fault(kind, reason="SAFETY")
    with make(fake, api) as c, pytest.raises(errors.BlockedError, match="blocked") as info:
        c.detect(PNG, "shapes")
    assert info.value.reason == "SAFETY"
    assert model_calls(fake) == 1  # never retried


def test_unknown_model_and_unknown_fields(fake: FakeGemini) -> None:
    with make(fake) as c, pytest.raises(errors.NotFoundError, match="not found"):
        c.ask(PNG, "hi", model="no-such-model")
    with make(fake, "generate_content") as c:
        # a typo'd field is rejected by the strict server, with the server's message kept
        fake.add_fault("status", status=400, message='Unknown name "temprature"')
        with pytest.raises(errors.InvalidRequestError, match="temprature"):
            c.ask(PNG, "hi")


def test_request_size_limit(fake: FakeGemini) -> None:
    fake.max_request_bytes = 1000
    try:
        with make(fake) as c, pytest.raises(errors.InvalidRequestError, match="exceeds"):
            c.ask(PNG, "hi", upload=False)
    finally:
        fake.max_request_bytes = 100 * 1000 * 1000


def test_errors_say_what_to_do(fake: FakeGemini) -> None:
    with (
        Client("wrong", base_url=fake.base_url) as c,
        pytest.raises(errors.AuthenticationError, match="GEMINI_API_KEY"),
    ):
        c.ask(PNG, "hi")
