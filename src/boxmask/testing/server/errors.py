"""Error answers of the fake service, shaped as Google's: ``{"error": {code, message, status,
details}}`` (``reference/gemini-api.md`` §4.1)."""

from __future__ import annotations

from typing import Any

__all__ = ["STATUS_NAMES", "RequestError", "invalid", "not_found", "unknown_field"]

#: The canonical ``error.status`` of each HTTP status the fake sends.
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    411: "INVALID_ARGUMENT",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


class RequestError(Exception):
    """An error answer: HTTP ``status``, Google ``error_status``, message, ``details``
    (``google.rpc`` detail objects) and extra response ``headers``."""

    def __init__(
        self,
        status: int,
        message: str,
        error_status: str | None = None,
        *,
        details: list[Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_status = error_status or STATUS_NAMES.get(status, "UNKNOWN")
        self.details = details or []
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON error body."""
        error: dict[str, Any] = {
            "code": self.status,
            "message": self.message,
            "status": self.error_status,
        }
        if self.details:
            error["details"] = self.details
        return {"error": error}


def invalid(message: str, *, field: str | None = None) -> RequestError:
    """A 400 ``INVALID_ARGUMENT``; with ``field``, a ``BadRequest`` field violation names it."""
    details = None
    if field is not None:
        violation = {"field": field, "description": message} if field else {"description": message}
        details = [
            {"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [violation]}
        ]
    return RequestError(400, message, "INVALID_ARGUMENT", details=details)


def unknown_field(name: str, where: str) -> RequestError:
    """The proto-JSON parser's answer to a field the message does not have (``where`` is the
    proto path of the enclosing message, ``""`` at the top level)."""
    at = f" at '{where}'" if where else ""
    return invalid(
        f'Invalid JSON payload received. Unknown name "{name}"{at}: Cannot find field.',
        field=where,
    )


def not_found(message: str) -> RequestError:
    """A 404 ``NOT_FOUND``."""
    return RequestError(404, message, "NOT_FOUND")
