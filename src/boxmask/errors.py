"""The exceptions boxmask raises: one small hierarchy under :class:`BoxmaskError`.

Item-level faults in a model answer are *not* exceptions: they become
:class:`boxmask.Problem` records on the returned :class:`boxmask.Detections`.
Exceptions are for calls that cannot produce anything useful at all.
"""

from __future__ import annotations

__all__ = [
    "ApiConnectionError",
    "ApiError",
    "ApiTimeoutError",
    "AuthenticationError",
    "BlockedError",
    "BoxmaskError",
    "ExportError",
    "ImageError",
    "InvalidApiKeyError",
    "InvalidRequestError",
    "MissingApiKeyError",
    "NotFoundError",
    "ParseError",
    "PermissionDeniedError",
    "RateLimitError",
    "RedirectError",
    "ResponseTooLargeError",
    "ServerError",
    "TruncatedError",
    "UploadError",
]


class BoxmaskError(Exception):
    """Base class of every error boxmask raises on purpose."""


class ParseError(BoxmaskError, ValueError):
    """Nothing at all could be read from a model answer.

    ``reason`` says why; ``excerpt`` holds the first characters of the text.
    """

    def __init__(self, reason: str, excerpt: str = "") -> None:
        self.reason = reason
        self.excerpt = excerpt
        message = reason
        if excerpt:
            message = f"{reason} (answer starts with: {excerpt!r})"
        super().__init__(message)


class ImageError(BoxmaskError, ValueError):
    """An input image could not be read, or is unsafe to decode (too many pixels)."""


class ExportError(BoxmaskError):
    """An export could not be written (bad path, refused overwrite, invalid option)."""


class ApiError(BoxmaskError):
    """A call to the Gemini API failed. ``status_code`` is the HTTP status when there was one;
    ``retry_after`` the wait in seconds the service asked for (``retry-after-ms``,
    ``Retry-After`` or ``RetryInfo``), None when it gave none."""

    retry_after: float | None = None

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        self.status_code = status_code
        super().__init__(message)


class MissingApiKeyError(ApiError):
    """No API key: pass ``api_key=`` or set ``GEMINI_API_KEY`` (or ``GOOGLE_API_KEY``)."""


class AuthenticationError(ApiError):
    """The API key was rejected (HTTP 401)."""


class PermissionDeniedError(ApiError):
    """The key may not use this model or file (HTTP 403)."""


class NotFoundError(ApiError):
    """Unknown model, file or interaction (HTTP 404)."""


class InvalidRequestError(ApiError):
    """The server rejected the request as invalid (HTTP 400/413); its message is kept."""


class RateLimitError(ApiError):
    """Still rate limited (HTTP 429) after every retry."""


class ServerError(ApiError):
    """The service failed (HTTP 5xx) after every retry."""


class ApiTimeoutError(ApiError):
    """No answer within the timeout, after every retry."""


class BlockedError(ApiError):
    """The prompt or the answer was blocked; ``reason`` holds the block or finish reason."""

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        self.reason = reason
        super().__init__(message)


class TruncatedError(ApiError):
    """The model stopped at its token limit (finish reason MAX_TOKENS).

    ``detections`` holds the complete items that could still be parsed, when any.
    """

    def __init__(self, message: str, *, detections: object = None) -> None:
        self.detections = detections
        super().__init__(message)


class UploadError(ApiError):
    """A Files API upload failed or the file ended in state ``FAILED``."""


class ApiConnectionError(ApiError):
    """The service could not be reached, or dropped the connection, after every retry."""


# -- request-layer guards (issue 19) ----------------------------------------------------
class InvalidApiKeyError(ApiError, ValueError):
    """The API key holds a control or non-ASCII character (after stripping surrounding
    whitespace), so it cannot go into an HTTP header. The message never shows the key."""


class RedirectError(ApiError):
    """The service answered a call with a redirect (HTTP 3xx). boxmask never follows a
    redirect with the API key; ``location`` is the target without its query string."""

    def __init__(self, message: str, *, status_code: int, location: str | None = None) -> None:
        self.location = location
        super().__init__(message, status_code=status_code)


class ResponseTooLargeError(ApiError):
    """A response body was larger than the client's ``max_response_bytes``; reading
    stopped there. ``limit`` is that cap in bytes."""

    def __init__(self, message: str, *, limit: int, status_code: int | None = None) -> None:
        self.limit = limit
        super().__init__(message, status_code=status_code)
