"""Reading whole API responses: where the model's text, finish reason and usage are.

Knows the response shapes of generateContent (also as a list of streamed chunks),
the Interactions API (``steps``; legacy ``outputs``), the OpenAI-compatible endpoint and
batch-prediction lines (``{"response": ...}``). It returns the text for
:mod:`boxmask.answer` to read; it knows nothing about boxes.
"""

from __future__ import annotations

from typing import Any

from boxmask.detections import AnswerInfo
from boxmask.errors import ParseError

__all__ = [
    "BLOCK_REASONS",
    "NORMAL_REASONS",
    "TRUNCATED_REASONS",
    "is_envelope",
    "unwrap_envelope",
]

#: Finish reasons (upper case) that mean the model hit its output limit.
TRUNCATED_REASONS = frozenset({"MAX_TOKENS", "LENGTH", "INCOMPLETE", "BUDGET_EXCEEDED"})
#: Finish reasons (upper case) of a normal end.
NORMAL_REASONS = frozenset({"STOP", "COMPLETED", "FINISH_REASON_UNSPECIFIED", "END_TURN"})
#: Finish reasons (upper case) that mean the answer was withheld.
BLOCK_REASONS = frozenset(
    {"SAFETY", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "RECITATION"}
)


def is_envelope(value: Any) -> bool:
    """True for a whole API response (or a list of streamed chunks), not model output."""
    if isinstance(value, dict):
        return bool(
            {"candidates", "promptFeedback", "steps", "outputs", "choices", "error"} & value.keys()
        ) or ("box_2d" not in value and is_envelope(value.get("response")))
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return all("candidates" in v or "usageMetadata" in v for v in value)
    return False


def _text_parts(parts: Any) -> str:
    if not isinstance(parts, list):
        return ""
    texts = [
        p["text"]
        for p in parts
        if isinstance(p, dict) and isinstance(p.get("text"), str) and not p.get("thought")
    ]
    return "".join(texts)


def _from_generate_content(resp: dict[str, Any]) -> tuple[str, AnswerInfo]:
    candidates = resp.get("candidates") or []
    usage = resp.get("usageMetadata")
    model = resp.get("modelVersion")
    if not candidates:
        feedback = resp.get("promptFeedback") or {}
        reason = feedback.get("blockReason") if isinstance(feedback, dict) else None
        if reason:
            raise ParseError(f"the prompt was blocked ({reason}); there is no answer to parse")
        raise ParseError("the API response has no candidates")
    cand = candidates[0] if isinstance(candidates[0], dict) else {}
    content = cand.get("content") or {}
    text = _text_parts(content.get("parts") if isinstance(content, dict) else None)
    finish = cand.get("finishReason")
    if not text.strip() and isinstance(finish, str) and finish.upper() in BLOCK_REASONS:
        raise ParseError(f"the answer was blocked (finish reason {finish}); nothing to parse")
    return text, AnswerInfo(text=text, finish_reason=finish, usage=usage, model=model)


def _from_stream_chunks(chunks: list[dict[str, Any]]) -> tuple[str, AnswerInfo]:
    texts: list[str] = []
    finish = usage = model = None
    for chunk in chunks:
        for cand in (chunk.get("candidates") or [])[:1]:
            if isinstance(cand, dict):
                content = cand.get("content") or {}
                texts.append(
                    _text_parts(content.get("parts") if isinstance(content, dict) else None)
                )
                finish = cand.get("finishReason") or finish
        usage = chunk.get("usageMetadata") or usage
        model = chunk.get("modelVersion") or model
    text = "".join(texts)
    return text, AnswerInfo(text=text, finish_reason=finish, usage=usage, model=model)


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    return "".join(
        c["text"]
        for c in content
        if isinstance(c, dict)
        and c.get("type", "text") == "text"
        and isinstance(c.get("text"), str)
    )


def _from_interaction(resp: dict[str, Any]) -> tuple[str, AnswerInfo]:
    steps = resp.get("steps")
    if not isinstance(steps, list):
        steps = [{"type": "model_output", "content": resp.get("outputs") or []}]
    text = ""
    for step in reversed(steps):
        if not isinstance(step, dict):
            continue
        if step.get("type") == "user_input":
            break
        if step.get("type") == "model_output":
            text = _content_text(step.get("content"))
            if text:
                break
    status = resp.get("status")
    errors = resp.get("errors")
    if not text and status == "failed" and errors:
        raise ParseError(f"the interaction failed: {errors}")
    return text, AnswerInfo(
        text=text,
        finish_reason=status.upper() if isinstance(status, str) else None,
        usage=resp.get("usage"),
        model=resp.get("model"),
    )


def _from_chat_completion(resp: dict[str, Any]) -> tuple[str, AnswerInfo]:
    choices = resp.get("choices") or []
    if not choices or not isinstance(choices[0], dict):
        raise ParseError("the API response has no choices")
    message = choices[0].get("message") or {}
    text = _content_text(message.get("content")) if isinstance(message, dict) else ""
    finish = choices[0].get("finish_reason")
    return text, AnswerInfo(
        text=text,
        finish_reason=finish.upper() if isinstance(finish, str) else None,
        usage=resp.get("usage"),
        model=resp.get("model"),
    )


def unwrap_envelope(value: Any) -> tuple[str, AnswerInfo]:
    """The model's text and :class:`~boxmask.AnswerInfo` from an API response.

    Raises :class:`~boxmask.ParseError` for an API error body, a blocked prompt or an
    unknown shape.
    """
    for _ in range(4):  # batch lines may nest {"response": {...}}
        if (
            isinstance(value, dict)
            and "error" in value
            and not ({"candidates", "steps", "choices"} & value.keys())
        ):
            err = value["error"]
            message = err.get("message") if isinstance(err, dict) else err
            raise ParseError(f"the response is an API error, not an answer: {message}")
        if isinstance(value, list):
            return _from_stream_chunks(value)
        if "candidates" in value or "promptFeedback" in value:
            return _from_generate_content(value)
        if "steps" in value or "outputs" in value:
            return _from_interaction(value)
        if "choices" in value:
            return _from_chat_completion(value)
        value = value.get("response")
        if not is_envelope(value):
            break
    raise ParseError("unrecognised API response envelope")
