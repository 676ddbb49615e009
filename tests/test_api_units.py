"""Unit tests of the pure parts: retry hints, wire shapes, error bodies, tokens, prompts."""

from __future__ import annotations

import json
import random
from email.utils import formatdate

import httpx
import pytest

from boxmask import tokens
from boxmask.api import prompts
from boxmask.api.retry import RetryPolicy, parse_duration, retry_hint
from boxmask.api.wire import (
    GenerationSettings,
    ImagePart,
    TextPart,
    build_body,
    endpoint_path,
    parse_error_body,
    read_answer,
)


# ------------------------------------------------------------------------ retry
def test_retry_hint_order_and_forms() -> None:
    details = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "57.2s"}]
    assert retry_hint(httpx.Headers({"retry-after-ms": "250"}), details) == 0.25
    assert retry_hint(httpx.Headers({"Retry-After": "3"}), details) == 3.0
    assert retry_hint({}, details) == pytest.approx(57.2)
    assert retry_hint({}, []) is None
    assert retry_hint({"Retry-After": "soon"}, None) is None
    in_two = retry_hint({"Retry-After": formatdate(__import__("time").time() + 2, usegmt=True)})
    assert in_two is not None and 0 <= in_two <= 2.5
    assert parse_duration("1.5s") == 1.5 and parse_duration("5") is None


def test_backoff_grows_with_jitter_and_caps() -> None:
    policy = RetryPolicy(initial_delay=1.0, max_delay=8.0)
    rng = random.Random(0)
    for n, ceiling in enumerate([1, 2, 4, 8, 8]):
        delay = policy.backoff(n, rng)
        assert ceiling / 2 <= delay <= ceiling
    with pytest.raises(ValueError):
        RetryPolicy(max_retries=-1)


# ------------------------------------------------------------------------- wire
def test_interactions_body_shape() -> None:
    parts = [ImagePart("image/png", data=b"\x89PNG"), TextPart("find cats")]
    settings = GenerationSettings(
        system_instruction="sys",
        schema={"type": "array"},
        thinking=0,
        media_resolution="high",
        max_output_tokens=100,
        temperature=0.5,
    )
    body = json.loads(build_body("interactions", "gemini-3-flash-preview", parts, settings))
    assert body == {
        "model": "gemini-3-flash-preview",
        "input": [
            {"type": "image", "data": "iVBORw==", "mime_type": "image/png", "resolution": "high"},
            {"type": "text", "text": "find cats"},
        ],
        "store": False,
        "system_instruction": "sys",
        "generation_config": {"max_output_tokens": 100, "thinking_level": "minimal"},
        "response_format": {
            "type": "text",
            "mime_type": "application/json",
            "schema": {"type": "array"},
        },
    }


@pytest.mark.parametrize(
    ("model", "thinking", "expected"),
    [
        ("gemini-2.5-flash", "off", {"thinkingBudget": 0}),
        ("gemini-2.5-pro", "off", {"thinkingBudget": 128}),
        ("gemini-2.5-flash", 512, {"thinkingBudget": 512}),
        ("gemini-2.5-flash", "high", {"thinkingBudget": -1}),
        ("gemini-3.5-flash", "low", {"thinkingLevel": "LOW"}),
        ("gemini-3.5-flash", "off", {"thinkingLevel": "MINIMAL"}),
    ],
)
def test_generate_content_thinking(
    model: str, thinking: object, expected: dict[str, object]
) -> None:
    settings = GenerationSettings(thinking=thinking, json_output=True)  # type: ignore[arg-type]
    uri = ImagePart("image/jpeg", uri="https://x/v1beta/files/a")
    body = json.loads(build_body("generate_content", model, [TextPart("t"), uri], settings))
    assert body["generationConfig"]["thinkingConfig"] == expected
    assert body["generationConfig"]["responseMimeType"] == "application/json"
    assert body["contents"][0]["parts"][1] == {
        "fileData": {"fileUri": "https://x/v1beta/files/a", "mimeType": "image/jpeg"}
    }
    assert (
        endpoint_path("generate_content", "models/" + model)
        == f"/v1beta/models/{model}:generateContent"
    )


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        build_body("interactions", "m", [], GenerationSettings(thinking="lots"))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        endpoint_path("chat", "m")


def test_read_answers_of_both_apis() -> None:
    interaction = {
        "status": "completed",
        "steps": [
            {"type": "user_input", "content": [{"type": "text", "text": "q"}]},
            {"type": "thought", "signature": "x"},
            {
                "type": "model_output",
                "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
            },
            {"type": "brand_new_step"},
        ],
    }
    assert read_answer("interactions", interaction).text == "ab"
    failed = read_answer(
        "interactions", {"status": "failed", "errors": [{"message": "IMAGE_SAFETY hit"}]}
    )
    assert failed.block_reason == "IMAGE_SAFETY"
    other = read_answer("interactions", {"status": "failed", "errors": [{"message": "boom"}]})
    assert other.failure == "boom" and other.block_reason is None
    thought = {
        "candidates": [
            {
                "content": {"parts": [{"text": "hm", "thought": True}, {"text": "ok"}]},
                "finishReason": "MAX_TOKENS",
            }
        ]
    }
    answer = read_answer("generate_content", thought)
    assert answer.text == "ok" and answer.truncated
    assert (
        read_answer("generate_content", {"promptFeedback": {"blockReason": "OTHER"}}).block_reason
        == "OTHER"
    )
    with pytest.raises(ValueError):
        read_answer("generate_content", {"weird": 1})


def test_error_bodies() -> None:
    plain = parse_error_body(
        b'{"error": {"code": 400, "message": "m", "status": "INVALID_ARGUMENT", "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]}}'
    )
    assert (plain.code, plain.status, plain.message, plain.reason) == (
        400,
        "INVALID_ARGUMENT",
        "m",
        "API_KEY_INVALID",
    )
    assert parse_error_body(b'[{"error": {"message": "listed"}}]').message == "listed"
    assert parse_error_body(b"<html>Bad Gateway</html>").message == "<html>Bad Gateway</html>"
    assert parse_error_body(b"", "Service Unavailable").message == "Service Unavailable"


# ----------------------------------------------------------------------- tokens
@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((384, 384), 258),
        ((100, 50), 258),
        ((960, 540), 1548),
        ((1920, 1080), 1548),
        ((1000, 1000), 258 * 4),
        ((4000, 3000), 24 * 258),
    ],
)
def test_token_estimate_gemini2(size: tuple[int, int], expected: int) -> None:
    assert tokens.estimate(*size, model="gemini-2.5-flash") == expected


def test_token_estimate_gemini3_and_media_resolution() -> None:
    assert tokens.estimate(4000, 3000, model="gemini-3-flash-preview") == 1120
    assert tokens.estimate(10, 10, model="gemini-3.5-flash", media_resolution="low") == 280
    assert (
        tokens.estimate(
            10,
            10,
            model="gemini-robotics-er-2-preview",
            media_resolution="MEDIA_RESOLUTION_ULTRA_HIGH",
        )
        == 2240
    )
    assert tokens.estimate(2000, 2000, model="gemini-2.5-flash", media_resolution="low") == 64
    assert tokens.is_gemini3("gemini-flash-latest") and not tokens.is_gemini3("gemini-2.5-pro")
    with pytest.raises(ValueError):
        tokens.estimate(0, 10, model="gemini-2.5-flash")
    with pytest.raises(ValueError):
        tokens.estimate(10, 10, model="gemini-2.5-flash", media_resolution="huge")


# ---------------------------------------------------------------------- prompts
def test_prompts_follow_the_cookbook() -> None:
    detect = prompts.detect_prompt("the cups", 7)
    assert "box_2d" in detect.text and "Limit to 7 objects" in (detect.system_instruction or "")
    assert detect.schema and detect.schema["maxItems"] == 7
    segment = prompts.segment_prompt("the cups")
    assert '"mask"' in segment.text and segment.thinking == "off" and segment.schema is None
    point = prompts.point_prompt("the cups")
    assert "[y, x]" in point.text and "no more than 10" in point.text
    custom = detect.with_overrides(prompt="Boxes of {what}!", what="mugs", schema={})
    assert custom.text == "Boxes of mugs!" and custom.schema is None
    with pytest.raises(ValueError):
        prompts.detect_prompt("  ")
