"""Fault injection against the local Gemini-protocol server (``FakeGemini``).

Dropped connections, requests cut mid-body, slow answers past the timeout, 429 storms
with Retry-After, 503 bursts, bodies cut mid-stream, broken JSON, and an upload chunk
interrupted half-way (resumed from the status query, not from byte 0). The batch test
sends 1,000 requests through ``client.map`` with 10 % of them faulted: every item ends as
a result or a reported failure, none lost, none duplicated, none mixed up.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import numpy as np
import pytest
from PIL import Image

from boxmask import errors
from boxmask.api import AsyncClient, Client, RetryPolicy
from boxmask.api.batch import Outcome
from boxmask.testing.scenes import make_scene
from boxmask.testing.server import FakeGemini

KEY = "test-key"
N = 1000
TIMEOUT = 1.0
POLICY = RetryPolicy(max_retries=4, initial_delay=0.005, max_delay=0.5)


def tiny_png(i: int) -> bytes:
    """A picture whose size is unique to item ``i`` (the answer names the size)."""
    return make_scene(i, width=8 + i // 40, height=8 + i % 40, n_shapes=0).encode("PNG")


def noise_png(seed: int) -> bytes:
    """A PNG that does not compress: several upload chunks."""
    pixels = np.random.default_rng(seed).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def prompt(i: int) -> str:
    return f"How many shapes? [item {i:04d}]"


#: item range -> (fault kind, times per item, params). 100 items of 1,000 are faulted.
PLAN: list[tuple[range, str, int, dict[str, object]]] = [
    (range(0, 15), "drop", 1, {}),  # connection closed without an answer
    (range(15, 20), "interrupt", 1, {}),  # request body cut mid-way (no match=)
    (range(20, 30), "slow", 1, {"delay": 2.5 * TIMEOUT}),  # past the client timeout
    (range(100, 130), "status", 2, {"status": 429, "retry_after": "0.05"}),  # a storm
    (range(200, 220), "status", 3, {"status": 503}),  # a burst, three in a row each
    (range(300, 310), "cut", 1, {"keep": 0.5}),  # body cut mid-stream
    (range(400, 405), "malformed", 1, {}),  # 200 with a body that is not JSON
    (range(600, 605), "status", 1, {"status": 400, "message": "bad item"}),  # not retried
]
REFUSED = set(range(600, 605))


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGemini]:
    with FakeGemini(api_keys=[KEY]) as server:
        yield server


@pytest.fixture(autouse=True)
def _clean(fake: FakeGemini) -> None:
    fake.reset()
    fake.chunk_granularity = 1


def inject(fake: FakeGemini) -> None:
    for items, kind, times, params in PLAN:
        if kind == "interrupt":  # strikes before the body is read: first come, first hit
            fake.add_fault(kind, times=len(items), endpoint="model")
            continue
        for i in items:
            match = f"[item {i:04d}]"
            fake.add_fault(kind, times=times, endpoint="model", match=match, **params)


def check_outcomes(fake: FakeGemini, outcomes: list[Outcome[int, str]]) -> None:
    assert len(outcomes) == N
    assert [o.index for o in outcomes] == list(range(N))  # none lost, none duplicated
    assert [o.item for o in outcomes] == list(range(N))
    failed = {o.index for o in outcomes if not o.ok}
    assert failed == REFUSED, sorted(failed)
    for o in outcomes:
        if o.ok:  # the answer is about this item's own picture: no mix-up
            w, h = 8 + o.index // 40, 8 + o.index % 40
            assert o.value == f"Image 1: A plain {w}x{h} image with no distinct shapes.", o
        else:
            assert isinstance(o.error, errors.InvalidRequestError)
            assert "HTTP 400" in str(o.error) and "bad item" in str(o.error)
    # Every faulted item was tried again exactly as often as its faults demand (slow
    # answers and first-come interrupts aside, which may also hit a retry).
    seen = Counter(
        int(m.group(1))
        for r in fake.model_requests()
        if (m := re.search(rb"\[item (\d{4})\]", r.body))
    )
    assert set(seen) >= set(range(N)) - set(PLAN[1][0])  # every item reached the server
    for items, kind, times, _ in PLAN:
        if kind in ("slow", "interrupt"):
            continue
        for i in items:
            expected = times if i in REFUSED else times + 1
            assert seen[i] >= expected, (kind, i, seen[i])
    assert all(f.hits == f.times for f in fake.faults), "a fault was never triggered"


def test_thousand_requests_with_ten_percent_faults(
    fake: FakeGemini, caplog: pytest.LogCaptureFixture
) -> None:
    inject(fake)
    images = [tiny_png(i) for i in range(N)]
    with (
        caplog.at_level(logging.INFO, logger="boxmask.api"),
        Client(
            KEY, base_url=fake.base_url, api="generate_content", timeout=TIMEOUT, retry=POLICY
        ) as client,
    ):
        outcomes = client.map(lambda i: client.ask(images[i], prompt(i)), range(N), concurrency=16)
    check_outcomes(fake, outcomes)
    # The 429 storm's Retry-After (0.05 s) was honoured instead of the 5 ms backoff.
    waits = [r.getMessage() for r in caplog.records if "HTTP 429" in r.getMessage()]
    assert len(waits) == 60 and all(w.endswith("in 0.05 s") for w in waits)


def test_async_map_with_faults_loses_nothing(fake: FakeGemini) -> None:
    subset = 200
    for i in range(0, subset, 10):  # 10 % of 200
        fake.add_fault(
            ["drop", "cut", "malformed", "status"][i // 10 % 4],
            endpoint="model",
            match=f"[item {i:04d}]",
            status=503,
        )
    images = [tiny_png(i) for i in range(subset)]

    async def run() -> list[Outcome[int, str]]:
        async with AsyncClient(
            KEY, base_url=fake.base_url, api="interactions", timeout=TIMEOUT, retry=POLICY
        ) as client:

            async def one(i: int) -> str:
                return await client.ask(images[i], prompt(i))

            return await client.map(one, range(subset), concurrency=16)

    outcomes = asyncio.run(run())
    assert [o.index for o in outcomes] == list(range(subset))
    assert all(o.ok for o in outcomes), [o.error for o in outcomes if not o.ok]
    assert all(f" {8 + o.index // 40}x{8 + o.index % 40} " in str(o.value) for o in outcomes)


def test_upload_interrupted_mid_chunk_resumes_from_the_status_query(fake: FakeGemini) -> None:
    """The second chunk breaks off after 300 of its 512 bytes; the server keeps the 256
    that came in whole granularity units; the client asks the session where it stands
    and goes on from byte 768: nothing is sent again from zero."""
    fake.chunk_granularity = 256
    data = noise_png(0)  # about 4.8 KB: 10 chunks of 512
    fake.add_fault("interrupt", endpoint="upload_chunk", skip=1, keep=300 / 512)
    with Client(KEY, base_url=fake.base_url, retry=POLICY, upload_chunk_size=512) as c:
        uploaded = c.files.upload(data, mime_type="image/png", cache=False)
    assert fake.files[uploaded.name.removeprefix("files/")].data == data
    chunks = [r for r in fake.requests if r.endpoint == "upload_chunk"]
    commands = [r.headers["x-goog-upload-command"] for r in chunks]
    offsets = [
        int(r.headers["x-goog-upload-offset"]) for r in chunks if "upload-offset" in str(r.headers)
    ]
    assert commands[:3] == ["upload", "upload", "query"]
    assert offsets[:3] == [0, 512, 768]  # resumed where the server stood, mid-chunk
    assert offsets == sorted(offsets)  # never back to zero
    assert sum(len(r.body) for r in chunks) == len(data) + 300 - 256


def test_upload_interrupted_on_every_chunk_still_completes(fake: FakeGemini) -> None:
    fake.chunk_granularity = 128
    data = noise_png(1)
    for k in range(3):  # three interruptions, each after some bytes of a chunk
        fake.add_fault("interrupt", endpoint="upload_chunk", skip=k, keep=0.6)
    with Client(KEY, base_url=fake.base_url, retry=POLICY, upload_chunk_size=512) as c:
        uploaded = c.files.upload(data, mime_type="image/png", cache=False)
    assert fake.files[uploaded.name.removeprefix("files/")].data == data
    assert sum(1 for r in fake.requests if r.headers.get("x-goog-upload-command") == "query") == 3


# ------------------------------------------------- hostile servers (tests/http_stub.py)
# No timing asserts: each call runs on a helper thread that the test waits on for a
# generous GIVE_UP seconds; a client that hung (the old behaviour: a trickling server
# kept a timeout=1 request alive as long as it liked) fails the wait, not a clock check.
GIVE_UP = 120.0
STUB_KEY = "stub-secret-key-0123456789"


def _bounded(call: Callable[[], object]) -> object:
    """``call()``'s value or exception, from a thread waited on for GIVE_UP seconds."""
    pool = ThreadPoolExecutor(1)
    try:
        return pool.submit(call).result(timeout=GIVE_UP)
    except FutureTimeout:
        pytest.fail(f"the request was still running after {GIVE_UP:.0f} s")
    finally:
        pool.shutdown(wait=False)  # a hung call must not hang the suite too


def _trickle_body(h: Any) -> None:
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", "100000")
    h.end_headers()
    while not h.server.stop.wait(0.1):
        h.wfile.write(b" ")  # one byte per read: httpx's read timeout never fires


def _trickle_headers(h: Any) -> None:
    for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100_000:
        if h.server.stop.wait(0.1):
            return
        h.wfile.write(bytes([byte]))


def _stub_client(stub: Any, **options: Any) -> Client:
    return Client(STUB_KEY, base_url=stub.url, api="generate_content", **options)


@pytest.mark.parametrize("retries", [0, 4])
def test_a_trickling_body_ends_at_the_whole_request_deadline(stub: Any, retries: int) -> None:
    stub.handler = _trickle_body

    def ask() -> object:
        with _stub_client(stub, timeout=1.0, max_retries=retries) as client:
            return client.ask(tiny_png(1), "hi")

    with pytest.raises(errors.ApiTimeoutError, match="whole-request timeout of 1 s"):
        _bounded(ask)
    assert len(stub.seen) == 1  # still arriving when time ran out: not sent again


def test_async_a_trickling_body_ends_at_the_deadline(stub: Any) -> None:
    stub.handler = _trickle_body

    async def ask() -> str:
        async with AsyncClient(
            STUB_KEY, base_url=stub.url, api="generate_content", timeout=1.0
        ) as client:
            return await client.ask(tiny_png(1), "hi")

    with pytest.raises(errors.ApiTimeoutError, match="whole-request timeout"):
        _bounded(lambda: asyncio.run(ask()))


def test_trickled_headers_are_a_timeout_retried_then_reported(stub: Any) -> None:
    stub.handler = _trickle_headers
    fast = RetryPolicy(max_retries=1, initial_delay=0.01)

    def ask() -> object:
        with _stub_client(stub, timeout=1.0, retry=fast) as client:
            return client.ask(tiny_png(1), "hi")

    with pytest.raises(errors.ApiTimeoutError, match="after 2 attempt"):
        _bounded(ask)


def _huge(declare: bool) -> Callable[[Any], None]:
    def handler(h: Any) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        if declare:
            h.send_header("Content-Length", str(600 * 1024 * 1024))
        else:
            h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        block = b" " * 65536
        for _ in range(600 * 16):  # 600 MB if nobody stops reading
            if h.server.stop.is_set():
                return
            if declare:
                h.wfile.write(block)
            else:
                h.wfile.write(b"%x\r\n%s\r\n" % (len(block), block))

    return handler


@pytest.mark.parametrize("declare", [True, False], ids=["content-length", "chunked"])
def test_a_huge_body_is_refused_at_the_cap(stub: Any, declare: bool) -> None:
    stub.handler = _huge(declare)

    def ask() -> object:
        with _stub_client(stub, max_response_bytes=1024 * 1024, max_retries=0) as client:
            return client.ask(tiny_png(1), "hi")

    with pytest.raises(errors.ResponseTooLargeError, match=r"max_response_bytes \(1,048,576"):
        _bounded(ask)


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_reported_and_never_followed_with_the_key(stub: Any, status: int) -> None:
    def handler(h: Any) -> None:
        h.send_response(status)
        h.send_header("Location", f"{stub.url}/elsewhere?key=x")
        h.send_header("Content-Length", "0")
        h.end_headers()

    stub.handler = handler
    with _stub_client(stub) as client, pytest.raises(errors.RedirectError) as info:
        client.ask(tiny_png(1), "hi")
    message = str(info.value)
    assert f"redirect (HTTP {status} to {stub.url}/elsewhere?…)" in message
    assert "unexpected response shape" not in message and "key=x" not in message
    assert info.value.status_code == status and [p for _, p, _ in stub.seen] == [
        "/v1beta/models/gemini-2.5-flash:generateContent"
    ]
