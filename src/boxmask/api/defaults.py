"""The client's defaults, defined once (no imports: the CLI reads them without httpx)."""

from __future__ import annotations

__all__ = [
    "CHUNK_SIZE",
    "DEFAULT_BASE_URL",
    "DEFAULT_INLINE_LIMIT",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_MODEL",
    "DEFAULT_TIMEOUT",
    "default_base_url",
]

#: The Gemini API's root; ``/v1beta/...`` and ``/upload/v1beta/...`` are appended.
DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"


def default_base_url() -> str:
    """``$BOXMASK_BASE_URL`` when set (e.g. ``boxmask serve-fake``'s address, for the
    library and the command line alike), else :data:`DEFAULT_BASE_URL`."""
    import os

    return os.environ.get("BOXMASK_BASE_URL", "").strip() or DEFAULT_BASE_URL


#: The model of calls that name none.
DEFAULT_MODEL = "gemini-2.5-flash"
#: Seconds one HTTP request may take from start to the last byte of its answer.
DEFAULT_TIMEOUT = 300.0
#: Inline image data allowed per request before images go through the Files API:
#: base64 bytes. 20 MB is the long-standing documented limit (100 MB since 2026 for some
#: types, reference §3.5); the conservative value works everywhere.
DEFAULT_INLINE_LIMIT = 20 * 1000 * 1000
#: Upload chunk size of the SDK (8 MiB). Use multiples of 256 KiB with the real service.
CHUNK_SIZE = 8 * 1024 * 1024
#: Largest response body read (bytes); a larger one raises ResponseTooLargeError. Model
#: answers are far smaller (64k output tokens are ~0.5 MB of JSON); downloaded images
#: (URL images whose size is needed) count too.
DEFAULT_MAX_RESPONSE_BYTES = 256 * 1024 * 1024
