"""Reading answers: fences, prose, wrappers, envelopes, truncation, repairs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from boxmask import ParseError, ProblemKind
from boxmask.answer import read_answer

ITEMS = [
    {"box_2d": [100, 200, 300, 400], "label": "cup"},
    {"box_2d": [500, 500, 900, 800], "label": "spoon [metal]"},
]
BODY = json.dumps(ITEMS)


def labels(answer: object) -> list[str]:
    return [i["label"] for i in read_answer(answer).items]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        BODY,
        f"```json\n{BODY}\n```",
        f"```JSON\n{BODY}\n```",
        f"``` json\n{BODY}\n```",
        f"```json \n{BODY}\n```",
        f"    ```json\n    {BODY}\n    ```",
        f"```\n{BODY}\n```",
        f"```json\n{BODY}",  # missing closing fence
        f"Here are the boxes:\n```json\n{BODY}\n```\nAnything else?",
        f"Sure! {BODY} Hope that helps [really].",
        f"```json\n{BODY}\n```\n(640, 482)\n",
        f"```python\n# not it\n```\n```json\n{BODY}\n```",
        json.dumps({"boxes": ITEMS}),
        json.dumps({"detections": ITEMS}),
        json.dumps({"items": ITEMS}),
        json.dumps({"masks": ITEMS}),
        json.dumps({"segmentation_masks": ITEMS}),
        json.dumps({"Boxes": ITEMS}),
    ],
)
def test_every_spelling_yields_the_items(text: str) -> None:
    assert labels(text) == ["cup", "spoon [metal]"]


def test_single_object_is_one_item() -> None:
    assert labels(json.dumps(ITEMS[0])) == ["cup"]


def test_decoded_values_are_accepted() -> None:
    assert labels(ITEMS) == ["cup", "spoon [metal]"]
    assert labels({"boxes": ITEMS}) == ["cup", "spoon [metal]"]
    assert labels(BODY.encode()) == ["cup", "spoon [metal]"]


def test_generate_content_envelope_skips_thoughts() -> None:
    response = {
        "candidates": [
            {
                "content": {
                    "parts": [
                        {"text": "thinking about [cups] {}", "thought": True},
                        {"text": f"```json\n{BODY}\n```"},
                    ]
                },
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {"promptTokenCount": 10, "totalTokenCount": 20},
        "modelVersion": "gemini-2.5-flash",
    }
    raw = read_answer(json.dumps(response))
    assert [i["label"] for i in raw.items] == ["cup", "spoon [metal]"]
    assert raw.info.finish_reason == "STOP"
    assert raw.info.usage == {"promptTokenCount": 10, "totalTokenCount": 20}
    assert raw.info.model == "gemini-2.5-flash"
    assert read_answer(response).items == raw.items


def test_interactions_envelope_takes_last_model_output() -> None:
    response = {
        "id": "v1_x",
        "status": "completed",
        "steps": [
            {"type": "user_input", "content": [{"type": "text", "text": "[1]"}]},
            {"type": "thought", "signature": "abc"},
            {"type": "model_output", "content": [{"type": "text", "text": BODY}]},
        ],
        "usage": {"total_tokens": 5},
    }
    raw = read_answer(response)
    assert [i["label"] for i in raw.items] == ["cup", "spoon [metal]"]
    assert raw.info.usage == {"total_tokens": 5}


def test_streamed_chunks_are_concatenated() -> None:
    half = len(BODY) // 2
    chunks = [
        {"candidates": [{"content": {"parts": [{"text": BODY[:half]}]}}]},
        {
            "candidates": [{"content": {"parts": [{"text": BODY[half:]}]}, "finishReason": "STOP"}],
            "usageMetadata": {"totalTokenCount": 9},
        },
    ]
    raw = read_answer(chunks)
    assert len(raw.items) == 2
    assert raw.info.finish_reason == "STOP"


def test_openai_compatible_and_batch_line() -> None:
    chat = {"choices": [{"message": {"content": BODY}, "finish_reason": "stop"}]}
    assert len(read_answer(chat).items) == 2
    batch = {"key": "a", "response": {"candidates": [{"content": {"parts": [{"text": BODY}]}}]}}
    assert len(read_answer(batch).items) == 2


def test_max_tokens_finish_reason_is_reported() -> None:
    resp = {"candidates": [{"content": {"parts": [{"text": BODY}]}, "finishReason": "MAX_TOKENS"}]}
    raw = read_answer(resp)
    assert raw.info.truncated
    assert [p.kind for p in raw.problems] == [ProblemKind.TRUNCATED]


def test_safety_finish_reason_is_reported() -> None:
    resp = {"candidates": [{"content": {"parts": [{"text": BODY}]}, "finishReason": "RECITATION"}]}
    raw = read_answer(resp)
    assert [p.kind for p in raw.problems] == [ProblemKind.FINISH_REASON]


def test_blocked_prompt_raises_with_reason() -> None:
    with pytest.raises(ParseError, match=r"blocked.*SAFETY"):
        read_answer({"promptFeedback": {"blockReason": "SAFETY"}})


def test_api_error_body_raises() -> None:
    with pytest.raises(ParseError, match="quota"):
        read_answer({"error": {"code": 429, "message": "quota exceeded"}})


@pytest.mark.parametrize("text", ["", "   ", "I could not find any cupcakes.", "{not json at all"])
def test_nothing_readable_raises(text: str) -> None:
    with pytest.raises(ParseError):
        read_answer(text)


def test_parse_error_carries_reason_and_excerpt() -> None:
    with pytest.raises(ParseError) as info:
        read_answer("Sorry, I cannot help with that request.")
    assert info.value.excerpt.startswith("Sorry")
    assert "no JSON" in info.value.reason


def test_object_without_items_raises() -> None:
    with pytest.raises(ParseError, match="no detection items"):
        read_answer('{"answer": 42}')


def test_truncated_mid_item_keeps_complete_items() -> None:
    text = "```json\n" + BODY[:-20]
    raw = read_answer(text)
    assert [i["label"] for i in raw.items] == ["cup"]
    (problem,) = raw.problems
    assert problem.kind is ProblemKind.TRUNCATED
    assert problem.index == 1 and problem.dropped
    assert raw.info.truncated


def test_truncated_mid_string_with_brackets_inside() -> None:
    items = [{"box_2d": [1, 2, 3, 4], "label": "a ] } [ {"}, {"box_2d": [5, 6, 7, 8], "label": "b"}]
    text = json.dumps(items)
    cut = text.index('"b"') + 2
    raw = read_answer(text[:cut])
    assert [i["label"] for i in raw.items] == ["a ] } [ {"]


def test_truncated_after_last_item_loses_nothing() -> None:
    raw = read_answer(BODY[:-1])
    assert len(raw.items) == 2
    (problem,) = raw.problems
    assert problem.kind is ProblemKind.TRUNCATED and problem.index is None
    assert not problem.dropped


def test_truncated_inside_wrapper() -> None:
    text = json.dumps({"boxes": ITEMS})[:-25]
    raw = read_answer(text)
    assert [i["label"] for i in raw.items] == ["cup"]


def test_trailing_commas_are_repaired_and_reported() -> None:
    text = '[{"box_2d": [1, 2, 3, 4], "label": "a",}, {"box_2d": [5, 6, 7, 8], "label": "b"},]'
    raw = read_answer(text)
    assert [i["label"] for i in raw.items] == ["a", "b"]
    assert ProblemKind.REPAIRED_JSON in [p.kind for p in raw.problems]


def test_unquoted_seg_tokens_are_quoted() -> None:
    text = '[{"box_2d": [1, 2, 3, 4], "mask": <start_of_mask><seg_35><seg_65>, "label": "x"}]'
    raw = read_answer(text)
    assert raw.items[0]["mask"].startswith("<start_of_mask>")
    assert raw.items[0]["label"] == "x"


def test_python_repr_answer() -> None:
    raw = read_answer("[{'box_2d': [1, 2, 3, 4], 'label': 'cup'}]")
    assert raw.items[0]["label"] == "cup"
    assert raw.problems[0].kind is ProblemKind.REPAIRED_JSON


def test_deeply_nested_json_is_an_error_not_a_crash() -> None:
    with pytest.raises(ParseError):
        read_answer("[" * 100_000)


@settings(max_examples=150, deadline=None)
@given(cut=st.integers(min_value=1, max_value=len(BODY) - 1))
def test_any_truncation_point_keeps_a_prefix_of_items(cut: int) -> None:
    """Whatever the cut, the items kept are exactly the complete ones, in order."""
    text = BODY[:cut]
    try:
        raw = read_answer(text)
    except ParseError:
        assert cut < BODY.index("}") + 1  # nothing complete yet
        return
    complete = [
        i
        for i, item in enumerate(ITEMS)
        if BODY.index(json.dumps(item)) + len(json.dumps(item)) <= cut
    ]
    assert [i["label"] for i in raw.items] == [ITEMS[i]["label"] for i in complete]


def test_all_real_answers_are_read(real_answers: Path) -> None:
    for path in sorted(real_answers.glob("cookbook_*.txt")):
        raw = read_answer(path.read_text())
        assert raw.items, path.name
        assert not raw.problems, (path.name, raw.problems)
