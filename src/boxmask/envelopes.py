"""Reading whole API responses: where the model's text, finish reason and usage are.

Knows the response shapes of generateContent (also as a list of streamed chunks),
the Interactions API (``steps``; legacy ``outputs``), the OpenAI-compatible endpoint and
batch-prediction lines (``{"response": ...}``). It returns the text for
:mod:`boxmask.answer` to read; it knows nothing about boxes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from boxmask.detections import AnswerInfo
from boxmask.errors import ParseError

__all__ = [
    "BLOCK_REASONS",
    "NORMAL_REASONS",
    "TRUNCATED_REASONS",
    "ResponseText",
    "is_envelope",
    "is_truncation_reason",
    "read_generate_content",
    "read_interaction",
    "read_response",
    "unwrap_envelope",
]

#: Finish reasons (upper case) that mean the model hit its output limit.
TRUNCATED_REASONS = frozenset({"MAX_TOKENS", "LENGTH", "INCOMPLETE", "BUDGET_EXCEEDED"})
#: Finish reasons (upper case) of a normal end.
NORMAL_REASONS = frozenset({"STOP", "COMPLETED", "FINISH_REASON_UNSPECIFIED", "END_TURN"})
#: Finish reasons (upper case) that mean the answer was withheld.
BLOCK_REASONS = frozenset(
    {
        "SAFETY",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "RECITATION",
        "OTHER",
    }
)


def is_truncation_reason(finish_reason: str | None) -> bool:
    """True when a finish reason (any case) means the model hit its output limit: the one
    rule for "truncated" in boxmask (parse problems, ``Response.truncated``, the API's
    ``TruncatedError``)."""
    return (finish_reason or "").upper() in TRUNCATED_REASONS


def is_envelope(value: Any) -> bool:
    """True for a whole API response (or a list of streamed chunks), not model output."""
    # A bounded loop, not recursion: {"response": ...} may nest deeper than the recursion
    # limit (or, built in Python, contain itself).
    for _ in range(32):
        if not isinstance(value, dict):
            break
        if {"candidates", "promptFeedback", "steps", "outputs", "choices", "error"} & value.keys():
            return True
        if "box_2d" in value:
            return False
        value = value.get("response")
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return all("candidates" in v or "usageMetadata" in v for v in value)
    return False


@dataclass(frozen=True)
class ResponseText:
    """What one API response says, API-neutral.

    ``text`` is the model's visible output (thought parts skipped); ``finish_reason`` is
    upper case (``STOP``, ``MAX_TOKENS``, an Interactions ``status`` such as ``COMPLETED``
    or ``INCOMPLETE``); ``block_reason`` is set when the prompt or the answer was blocked;
    ``failure`` when an interaction ended ``failed`` for another reason.
    """

    text: str
    finish_reason: str | None
    usage: dict[str, Any] | None
    model: str | None
    response_id: str | None
    block_reason: str | None = None
    failure: str | None = None

    @property
    def truncated(self) -> bool:
        """The model stopped at its output limit (MAX_TOKENS / incomplete)."""
        return is_truncation_reason(self.finish_reason)

    def info(self) -> AnswerInfo:
        """The :class:`~boxmask.AnswerInfo` attached to parsed detections."""
        return AnswerInfo(
            text=self.text, finish_reason=self.finish_reason, usage=self.usage, model=self.model
        )


def _text_parts(parts: Any) -> str:
    if not isinstance(parts, list):
        return ""
    return "".join(
        p["text"]
        for p in parts
        if isinstance(p, dict) and isinstance(p.get("text"), str) and not p.get("thought")
    )


def read_generate_content(resp: dict[str, Any]) -> ResponseText:
    """A ``generateContent`` response: the first candidate's non-thought text parts."""
    raw_usage = resp.get("usageMetadata")
    usage = raw_usage if isinstance(raw_usage, dict) else None
    model, response_id = resp.get("modelVersion"), resp.get("responseId")
    candidates = resp.get("candidates")
    if not isinstance(candidates, list) or not candidates:
        feedback = resp.get("promptFeedback")
        reason = feedback.get("blockReason") if isinstance(feedback, dict) else None
        blocked = str(reason or "BLOCKED_REASON_UNSPECIFIED")
        return ResponseText("", None, usage, model, response_id, block_reason=blocked)
    cand = candidates[0] if isinstance(candidates[0], dict) else {}
    content = cand.get("content")
    text = _text_parts(content.get("parts") if isinstance(content, dict) else None)
    finish = cand.get("finishReason")
    finish = str(finish).upper() if finish is not None else None
    block = finish if finish and finish in BLOCK_REASONS else None
    return ResponseText(text, finish, usage, model, response_id, block_reason=block)


def _output_text(steps: list[Any]) -> str:
    """The SDK's ``output_text``: the last run of text items of the trailing model steps
    (after the last ``user_input``; ``thought`` steps in between are skipped)."""
    trailing: list[dict[str, Any]] = []
    for step in reversed(steps):
        if not isinstance(step, dict) or step.get("type") == "user_input":
            break
        if step.get("type") == "model_output":
            trailing.insert(0, step)
    items = [
        c
        for s in trailing
        if isinstance(s.get("content"), list)
        for c in s["content"]
        if isinstance(c, dict)
    ]
    run: list[str] = []
    for item in reversed(items):
        if item.get("type", "text") == "text" and isinstance(item.get("text"), str):
            run.insert(0, item["text"])
        elif run:
            break
    return "".join(run)


def read_interaction(resp: dict[str, Any]) -> ResponseText:
    """An Interactions resource (``steps``; legacy ``outputs``)."""
    steps = resp.get("steps")
    if not isinstance(steps, list):
        steps = [{"type": "model_output", "content": resp.get("outputs") or []}]
    text = _output_text(steps)
    status = resp.get("status")
    status = str(status) if status is not None else None
    usage = resp.get("usage")
    reading = ResponseText(
        text,
        status.upper() if status else None,
        usage if isinstance(usage, dict) else None,
        resp.get("model"),
        resp.get("id"),
    )
    if status != "failed":
        return reading
    errors = resp.get("errors")
    errors = errors if isinstance(errors, list) else [errors]
    messages = [str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors if e]
    for step in steps:
        error = step.get("error") if isinstance(step, dict) else None
        if isinstance(error, dict):
            messages.append(str(error.get("message", "")))
    joined = "; ".join(m for m in messages if m) or "the interaction failed"
    for reason in sorted(BLOCK_REASONS - {"OTHER"}):
        if reason in joined.upper():
            return replace(reading, block_reason=reason, failure=joined)
    return replace(reading, failure=joined)


def _from_stream_chunks(chunks: list[dict[str, Any]]) -> ResponseText:
    texts: list[str] = []
    finish = usage = model = response_id = None
    for chunk in chunks:
        if not isinstance(chunk, dict):
            continue
        reading = read_generate_content(chunk) if chunk.get("candidates") else None
        if reading is not None:
            texts.append(reading.text)
            finish = reading.finish_reason or finish
        usage = chunk.get("usageMetadata") or usage
        model = chunk.get("modelVersion") or model
        response_id = chunk.get("responseId") or response_id
    return ResponseText("".join(texts), finish, usage, model, response_id)


def _from_chat_completion(resp: dict[str, Any]) -> ResponseText:
    choices = resp.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ParseError("the API response has no choices")
    message = choices[0].get("message") or {}
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, list):
        text = "".join(
            c["text"] for c in content if isinstance(c, dict) and isinstance(c.get("text"), str)
        )
    else:
        text = content if isinstance(content, str) else ""
    finish = choices[0].get("finish_reason")
    usage = resp.get("usage")
    return ResponseText(
        text,
        finish.upper() if isinstance(finish, str) else None,
        usage if isinstance(usage, dict) else None,
        resp.get("model"),
        resp.get("id"),
    )


def read_response(value: Any) -> ResponseText:
    """Any supported response shape (see :func:`is_envelope`), following batch-line
    ``{"response": ...}`` nesting. Raises :class:`~boxmask.ParseError` for an API error
    body or an unknown shape; blocked answers come back with ``block_reason`` set."""
    for _ in range(4):
        if isinstance(value, list):
            return _from_stream_chunks(value)
        if not isinstance(value, dict):
            break
        if "error" in value and not ({"candidates", "steps", "choices"} & value.keys()):
            err = value["error"]
            message = err.get("message") if isinstance(err, dict) else err
            raise ParseError(f"the response is an API error, not an answer: {message}")
        if "candidates" in value or "promptFeedback" in value:
            return read_generate_content(value)
        if "steps" in value or "outputs" in value:
            return read_interaction(value)
        if "choices" in value:
            return _from_chat_completion(value)
        value = value.get("response")
    raise ParseError("unrecognised API response envelope")


def unwrap_envelope(value: Any) -> tuple[str, AnswerInfo]:
    """The model's text and :class:`~boxmask.AnswerInfo` from an API response.

    Raises :class:`~boxmask.ParseError` for an API error body, a blocked prompt or answer,
    a failed interaction without text, or an unknown shape.
    """
    reading = read_response(value)
    if not reading.text.strip():
        if reading.block_reason and reading.finish_reason is None:
            raise ParseError(
                f"the prompt was blocked ({reading.block_reason}); there is no answer to parse"
            )
        if reading.block_reason:
            raise ParseError(
                f"the answer was blocked (finish reason {reading.finish_reason}); nothing to parse"
            )
        if reading.failure:
            raise ParseError(f"the interaction failed: {reading.failure}")
    return reading.text, reading.info()
