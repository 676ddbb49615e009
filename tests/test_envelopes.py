"""API response envelopes: which dicts are responses, and what text they hold."""

from __future__ import annotations

import pytest

from boxmask import ParseError
from boxmask.envelopes import is_envelope, unwrap_envelope


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"candidates": []}, True),
        ({"promptFeedback": {"blockReason": "SAFETY"}}, True),
        ({"steps": []}, True),
        ({"choices": []}, True),
        ({"error": {"message": "x"}}, True),
        ({"response": {"candidates": []}}, True),
        ({"response": [{"box_2d": [1, 2, 3, 4]}]}, False),
        ({"box_2d": [1, 2, 3, 4], "label": "x"}, False),
        ([{"candidates": []}, {"usageMetadata": {}}], True),
        ([{"box_2d": [1, 2, 3, 4]}], False),
        ("text", False),
    ],
)
def test_is_envelope(value: object, expected: bool) -> None:
    assert is_envelope(value) is expected


def test_interaction_text_after_last_user_input() -> None:
    text, info = unwrap_envelope(
        {
            "status": "incomplete",
            "model": "gemini-3-flash-preview",
            "steps": [
                {"type": "model_output", "content": [{"type": "text", "text": "old"}]},
                {"type": "user_input", "content": [{"type": "text", "text": "again"}]},
                {
                    "type": "model_output",
                    "content": [{"type": "text", "text": "[1"}, {"type": "text", "text": "]"}],
                },
            ],
        }
    )
    assert (
        text == "[1]"
        and info.finish_reason == "INCOMPLETE"
        and info.model == "gemini-3-flash-preview"
    )


def test_legacy_outputs_and_batch_nesting() -> None:
    text, _ = unwrap_envelope({"outputs": [{"type": "text", "text": "[]"}]})
    assert text == "[]"
    text, _ = unwrap_envelope(
        {"response": {"response": {"choices": [{"message": {"content": "[]"}}]}}}
    )
    assert text == "[]"


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ({"candidates": []}, "blocked"),
        ({"candidates": [{"content": {"parts": []}, "finishReason": "SAFETY"}]}, "blocked"),
        ({"status": "failed", "steps": [], "errors": [{"message": "boom"}]}, "failed"),
        ({"choices": []}, "no choices"),
    ],
)
def test_unreadable_envelopes_raise(value: dict[str, object], match: str) -> None:
    with pytest.raises(ParseError, match=match):
        unwrap_envelope(value)
