"""The fake's HTTP layer under hostile requests: every request gets a well-formed Google
error body (never a dropped connection or a handler traceback), sizes are checked before
the body is read, and error bodies are shaped as the service's."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from boxmask.testing.server import FakeGemini
from boxmask.testing.server import generate as generate_module

KEY = "test-key"
GC = "/v1beta/models/gemini-2.5-flash:generateContent"
#: Generous socket timeout: a fake that waited for a body it should refuse would hit it.
TIMEOUT = 60


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGemini]:
    with FakeGemini(api_keys=[KEY], max_request_bytes=10_000) as server:
        yield server


def raw_post(
    fake: FakeGemini, headers: list[tuple[str, str]], body: bytes = b"", path: str = GC
) -> tuple[int, Any]:
    """POST with exactly these headers (no Content-Length added); status and JSON body."""
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=TIMEOUT)
    try:
        conn.putrequest("POST", path, skip_accept_encoding=True)
        conn.putheader("x-goog-api-key", KEY)
        for name, value in headers:
            conn.putheader(name, value)
        conn.endheaders()
        if body:
            conn.send(body)
        reply = conn.getresponse()
        return reply.status, json.loads(reply.read())
    finally:
        conn.close()


@pytest.mark.parametrize("lengths", [["-5"], ["abc"], ["12", "13"], ["1e3"], ["0x10"]], ids=str)
def test_bad_content_length_is_a_400(fake: FakeGemini, lengths: list[str]) -> None:
    status, body = raw_post(fake, [("Content-Length", v) for v in lengths], b"{}")
    assert status == 400
    assert body["error"]["status"] == "INVALID_ARGUMENT"
    assert "Content-Length" in body["error"]["message"]


def test_size_limit_is_checked_before_reading(fake: FakeGemini) -> None:
    # declares a terabyte and sends nothing: the answer must come without the body
    status, body = raw_post(fake, [("Content-Length", str(10**12))])
    assert status == 400 and "exceeds the limit: 10000 bytes" in body["error"]["message"]
    assert fake.requests[-1].body == b""
    # a real oversized body: the client still reads the answer (no connection reset)
    with httpx.Client(base_url=fake.base_url, headers={"x-goog-api-key": KEY}) as http_client:
        reply = http_client.post(GC, content=b"x" * 200_000, timeout=TIMEOUT)
        assert reply.status_code == 400 and "exceeds the limit" in reply.json()["error"]["message"]
        assert reply.headers["connection"] == "close"  # the client does not reuse it
        # and the server goes on serving
        assert http_client.get("/v1/models/gemini-2.5-flash").status_code == 200


def test_chunked_bodies_are_read_within_the_limit(fake: FakeGemini) -> None:
    def chunks(data: bytes) -> Iterator[bytes]:
        yield data[:5]
        yield data[5:]

    with httpx.Client(base_url=fake.base_url, headers={"x-goog-api-key": KEY}) as http_client:
        small = json.dumps({"contents": [{"parts": [{"text": "hi"}]}]}).encode()
        ok = http_client.post(GC, content=chunks(small), timeout=TIMEOUT)
        assert ok.status_code == 200 and "You said: hi" in ok.text
        big = http_client.post(GC, content=chunks(b"x" * 50_000), timeout=TIMEOUT)
        assert big.status_code == 400 and "exceeds the limit" in big.text


def test_deep_json_is_a_400(fake: FakeGemini) -> None:
    deep = b"[" * 5000 + b"]" * 5000
    status, body = raw_post(fake, [("Content-Length", str(len(deep)))], deep)
    assert status == 400 and body["error"]["status"] == "INVALID_ARGUMENT"


def test_not_json_and_wrong_shapes_are_400s(fake: FakeGemini) -> None:
    with httpx.Client(base_url=fake.base_url, headers={"x-goog-api-key": KEY}) as c:
        for payload in (b"{not json", b"\xff\xfe", b"[]", b'{"contents": 5}', b'"text"'):
            reply = c.post(GC, content=payload)
            assert reply.status_code == 400, payload
            assert reply.json()["error"]["status"] == "INVALID_ARGUMENT", payload


def test_a_handler_bug_is_a_500_body(fake: FakeGemini, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(generate_module, "run_model", broken)
    with httpx.Client(base_url=fake.base_url, headers={"x-goog-api-key": KEY}) as c:
        reply = c.post(GC, json={"contents": [{"parts": [{"text": "hi"}]}]})
    assert reply.status_code == 500 and reply.json()["error"]["status"] == "INTERNAL"


def test_error_bodies_are_shaped_as_the_service(fake: FakeGemini) -> None:
    with httpx.Client(base_url=fake.base_url, headers={"x-goog-api-key": KEY}) as c:
        top = c.post(GC, json={"contents": [{"parts": [{"text": "hi"}]}], "x": 1}).json()
        assert top["error"] == {
            "code": 400,
            "message": 'Invalid JSON payload received. Unknown name "x": Cannot find field.',
            "status": "INVALID_ARGUMENT",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [
                        {
                            "description": 'Invalid JSON payload received. Unknown name "x": '
                            "Cannot find field."
                        }
                    ],
                }
            ],
        }
        part = c.post(GC, json={"contents": [{"parts": [{"text": "hi", "colour": 1}]}]}).json()
        assert part["error"]["message"] == (
            "Invalid JSON payload received. Unknown name \"colour\" at 'contents[0].parts[0]': "
            "Cannot find field."
        )
        assert part["error"]["details"][0]["fieldViolations"][0]["field"] == "contents[0].parts[0]"
        for version in ("v1", "v1beta"):
            missing = c.post(f"/{version}/models/gemini-9:nope", json={})
            assert missing.status_code == 404 and missing.json()["error"]["status"] == "NOT_FOUND"
            model = c.post(f"/{version}/models/llama:generateContent", json={}).json()
            assert model["error"]["message"].startswith(
                f"models/llama is not found for API version {version}, or is not supported for "
                "generateContent."
            )


def test_both_api_versions_serve_every_endpoint(fake: FakeGemini) -> None:
    with httpx.Client(base_url=fake.base_url, headers={"x-goog-api-key": KEY}) as c:
        for version in ("v1", "v1beta"):
            assert c.get(f"/{version}/models").status_code == 200
            assert c.get(f"/{version}/files").status_code == 200
            assert c.get(f"/{version}/batches").status_code == 200
            counted = c.post(
                f"/{version}/models/gemini-2.5-flash:countTokens",
                json={"contents": [{"parts": [{"text": "abcdefgh"}]}]},
            )
            assert counted.json()["totalTokens"] == 2
            ia = c.post(
                f"/{version}/interactions", json={"model": "gemini-2.5-flash", "input": "hi"}
            )
            assert c.get(f"/{version}/interactions/{ia.json()['id']}").status_code == 200


def test_stream_without_sse_is_one_json_array(fake: FakeGemini) -> None:
    with httpx.Client(base_url=fake.base_url, headers={"x-goog-api-key": KEY}) as c:
        reply = c.post(
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
            json={"contents": [{"parts": [{"text": "hello there, fake"}]}]},
        )
        chunks = reply.json()
        assert isinstance(chunks, list) and chunks[-1]["candidates"][0]["finishReason"] == "STOP"
        sse = c.post(
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
            json={"contents": [{"parts": [{"text": "hello there, fake"}]}]},
        )
        assert sse.headers["content-type"] == "text/event-stream"
        events = [
            json.loads(line[6:]) for line in sse.text.splitlines() if line.startswith("data: ")
        ]
        assert "".join(e["candidates"][0]["content"]["parts"][0]["text"] for e in events) == (
            "You said: hello there, fake"
        )


def test_count_tokens_takes_a_whole_request(fake: FakeGemini) -> None:
    inner = {
        "contents": [{"parts": [{"text": "abcdefgh"}]}],
        "systemInstruction": {"parts": [{"text": "abcd"}]},
    }
    with httpx.Client(base_url=fake.base_url, headers={"x-goog-api-key": KEY}) as c:
        url = "/v1beta/models/gemini-2.5-flash:countTokens"
        counted = c.post(url, json={"generateContentRequest": inner}).json()
        assert counted == {
            "totalTokens": 3,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 3}],
        }
        typo = c.post(url, json={"content": []}).json()
        assert typo["error"]["message"].startswith(
            'Invalid JSON payload received. Unknown name "content"'
        )
