"""The Interactions API: create (whole, or streamed as SSE events with ``"stream": true``),
get (``include_input``, ``stream``), delete and cancel. Stored interactions (``store``
defaults to true) can be fetched until deleted."""

from __future__ import annotations

from typing import Any

from boxmask.testing.server.errors import invalid, not_found
from boxmask.testing.server.exchange import Call, Reply
from boxmask.testing.server.generate import check_model
from boxmask.testing.server.model import interaction_body, interaction_events, run_model
from boxmask.testing.server.wire import parse_interaction

__all__ = ["cancel", "create", "delete", "get"]


def _stream_reply(interaction: dict[str, Any]) -> Reply:
    return Reply(200, events=interaction_events(interaction), sse_event_names=True, sse_done=True)


def create(call: Call) -> Reply:
    """``POST /{v}/interactions``."""
    fake = call.fake
    body = call.json()
    req = parse_interaction(body, fake.resolve_image, fake.strict)
    check_model(req.model, call.version, "interactions")
    if len(req.images) > fake.max_images:
        raise invalid(f"Too many images: {len(req.images)} > {fake.max_images}.")
    reply = run_model(req, mask_format=fake.mask_format, fault=call.fault)
    interaction = interaction_body(req, reply)
    if req.store:
        with fake._lock:
            fake.interactions[interaction["id"]] = {**interaction, "_input": req.echo}
    if body.get("stream") is True:
        return _stream_reply(interaction)
    return Reply(200, interaction)


def _stored(call: Call) -> dict[str, Any]:
    stored = call.fake.interactions.get(call.parts["id"])
    if stored is None:
        raise not_found(f"Interaction {call.parts['id']} not found.")
    return stored


def get(call: Call) -> Reply:
    """``GET /{v}/interactions/{id}`` (``include_input=true``: the user input first)."""
    with call.fake._lock:
        stored = _stored(call)
        public = {k: v for k, v in stored.items() if k != "_input"}
    if call.query.get("include_input") == "true":
        user = {"type": "user_input", "content": stored["_input"]}
        public["steps"] = [user, *public["steps"]]
    if call.query.get("stream") == "true":
        return _stream_reply(public)
    return Reply(200, public)


def delete(call: Call) -> Reply:
    """``DELETE /{v}/interactions/{id}``: ``{}``."""
    with call.fake._lock:
        _stored(call)
        del call.fake.interactions[call.parts["id"]]
    return Reply(200, {})


def cancel(call: Call) -> Reply:
    """``POST /{v}/interactions/{id}/cancel``: an interaction still in progress is cancelled."""
    with call.fake._lock:
        stored = _stored(call)
        if stored["status"] == "in_progress":
            stored["status"] = "cancelled"
        public = {k: v for k, v in stored.items() if k != "_input"}
    return Reply(200, public)
