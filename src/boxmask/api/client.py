"""``boxmask.Client``: a thin, robust synchronous Gemini API client on httpx.

Images can be a path, bytes, a PIL image, a numpy array (RGB), an ``http(s)`` URL, a Files
API URI / name, a :class:`~boxmask.api.files.File` or an :class:`~boxmask.api.images.ImageRef`.
The request logic lives in :mod:`boxmask.api.tasks` and is shared with
:class:`~boxmask.api.async_client.AsyncClient`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import httpx

from boxmask.api.base import DEFAULT_MODEL, USER_AGENT, ClientBase, parts_to_items, spatial_options
from boxmask.api.batch import Outcome, map_threads
from boxmask.api.cache import FileCache
from boxmask.api.files import CHUNK_SIZE, Files
from boxmask.api.http import DEFAULT_BASE_URL
from boxmask.api.retry import RetryPolicy
from boxmask.api.tasks import DEFAULT_INLINE_LIMIT, Response
from boxmask.api.transport import Flow, run_sync
from boxmask.api.wire import GenerationSettings, Thinking
from boxmask.detections import Detections

T = TypeVar("T")
R = TypeVar("R")

__all__ = ["DEFAULT_MODEL", "AsyncClient", "Client"]


class Client(ClientBase):
    """A synchronous Gemini client.

    - ``api_key``: else ``GEMINI_API_KEY``, else ``GOOGLE_API_KEY`` (read at each call: a
      missing key raises :class:`~boxmask.errors.MissingApiKeyError` at the first call).
      It is sent only as the ``x-goog-api-key`` header and never logged or shown.
    - ``model``: default model; ``api``: ``"interactions"`` (``POST /v1beta/interactions``)
      or ``"generate_content"`` (``POST /v1beta/models/{model}:generateContent``).
    - ``base_url``: the service root, e.g. a :class:`boxmask.testing.FakeGemini` URL.
    - ``timeout``: seconds per HTTP request (None: no limit); ``max_retries`` retries of
      408/429/5xx/connection errors; ``retry`` the backoff (:class:`RetryPolicy`).
    - ``inline_limit``: base64 bytes of inline image data per request before the largest
      images go through the Files API; ``upload_chunk_size``: bytes per upload chunk.
    - ``file_cache``: a :class:`FileCache` (or a JSON path) of uploads by sha256.
    - ``http_client``: your own ``httpx.Client`` (proxies, certificates).
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        model: str = DEFAULT_MODEL,
        base_url: str = DEFAULT_BASE_URL,
        api: str = "interactions",
        timeout: float | None = 300.0,
        max_retries: int = 4,
        retry: RetryPolicy | None = None,
        inline_limit: int = DEFAULT_INLINE_LIMIT,
        upload_chunk_size: int = CHUNK_SIZE,
        file_cache: FileCache | str | os.PathLike[str] | None = None,
        poll_interval: float = 0.5,
        http_client: httpx.Client | None = None,
    ) -> None:
        super().__init__(
            api_key,
            model=model,
            base_url=base_url,
            api=api,
            timeout=timeout,
            max_retries=max_retries,
            retry=retry,
            inline_limit=inline_limit,
            upload_chunk_size=upload_chunk_size,
            file_cache=file_cache,
            poll_interval=poll_interval,
        )
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(
            timeout=timeout,
            headers={"User-Agent": USER_AGENT},
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=32),
        )
        self.files = Files(self)

    def _run(self, flow: Flow[T]) -> T:
        return run_sync(flow, self._http)

    def close(self) -> None:
        """Close the connection pool (when the client created it)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ tasks
    def detect(
        self,
        image: Any,
        what: str,
        *,
        max_items: int | None = None,
        prompt: str | None = None,
        system_instruction: str | None = None,
        schema: dict[str, Any] | None = None,
        thinking: Thinking | None = None,
        model: str | None = None,
        media_resolution: str | None = None,
        max_output_tokens: int | None = None,
        upload: bool | None = None,
        allow_truncated: bool = False,
    ) -> Detections:
        """Bounding boxes of ``what`` in ``image``.

        Returns :class:`~boxmask.Detections` in the pixels of the upright image the model
        saw: boxes ``[xmin, ymin, xmax, ymax]`` float pixel edges; ``.answer`` holds the
        model text, finish reason and token usage. ``max_items`` caps the list (25);
        ``prompt`` replaces the user text (``{what}`` is filled in), ``system_instruction``
        / ``schema`` / ``thinking`` the task defaults (``""`` / ``{}`` remove them).
        ``upload`` True forces the Files API, False forbids it, None decides by
        ``inline_limit``. Raises :class:`~boxmask.errors.TruncatedError` (complete items
        in ``.detections``) when the answer hit the token limit, unless
        ``allow_truncated``.
        """
        options = spatial_options(
            max_items, prompt, system_instruction, schema, thinking, model,
            media_resolution, max_output_tokens, upload, allow_truncated,
        )  # fmt: skip
        return self._run(self._engine.spatial("detect", image, what, **options))

    def segment(
        self,
        image: Any,
        what: str,
        *,
        max_items: int | None = None,
        prompt: str | None = None,
        system_instruction: str | None = None,
        schema: dict[str, Any] | None = None,
        thinking: Thinking | None = None,
        model: str | None = None,
        media_resolution: str | None = None,
        max_output_tokens: int | None = None,
        upload: bool | None = None,
        allow_truncated: bool = False,
        threshold: int = 127,
    ) -> Detections:
        """Segmentation masks of ``what``: like :meth:`detect`, plus crop-native masks
        (``.masks``) decoded from PNG masks (kept where the 0–255 value > ``threshold``)
        or polygons. Thinking is off by default, as Google recommends for segmentation."""
        options = spatial_options(
            max_items, prompt, system_instruction, schema, thinking, model,
            media_resolution, max_output_tokens, upload, allow_truncated,
        )  # fmt: skip
        return self._run(
            self._engine.spatial("segment", image, what, threshold=threshold, **options)
        )

    def point(
        self,
        image: Any,
        what: str,
        *,
        max_items: int | None = None,
        prompt: str | None = None,
        system_instruction: str | None = None,
        schema: dict[str, Any] | None = None,
        thinking: Thinking | None = None,
        model: str | None = None,
        media_resolution: str | None = None,
        max_output_tokens: int | None = None,
        upload: bool | None = None,
        allow_truncated: bool = False,
    ) -> Detections:
        """Points on ``what``: :class:`~boxmask.Detections` with ``.points`` pixel
        ``(x, y)`` (the model answers ``[y, x]`` in 0–1000; boxes are zero-size). The cap
        ``max_items`` defaults to 10."""
        options = spatial_options(
            max_items, prompt, system_instruction, schema, thinking, model,
            media_resolution, max_output_tokens, upload, allow_truncated,
        )  # fmt: skip
        return self._run(self._engine.spatial("point", image, what, **options))

    def ask(
        self,
        images: Any,
        prompt: str,
        *,
        system_instruction: str | None = None,
        thinking: Thinking | None = None,
        model: str | None = None,
        media_resolution: str | None = None,
        max_output_tokens: int | None = None,
        upload: bool | None = None,
        allow_truncated: bool = False,
    ) -> str:
        """The model's text about one image or a list of images (kept in order):
        captions, classification, visual questions. Raises TruncatedError when the
        answer hit the token limit, unless ``allow_truncated``."""
        settings = GenerationSettings(
            system_instruction=system_instruction,
            thinking=thinking,
            media_resolution=media_resolution,
            max_output_tokens=max_output_tokens,
        )
        flow = self._engine.ask(
            images, prompt, settings=settings, model=model, upload=upload,
            allow_truncated=allow_truncated,
        )  # fmt: skip
        return self._run(flow)

    def generate(
        self,
        parts: Any,
        *,
        system_instruction: str | None = None,
        schema: dict[str, Any] | None = None,
        json_output: bool | None = None,
        thinking: Thinking | None = None,
        media_resolution: str | None = None,
        max_output_tokens: int | None = None,
        temperature: float | None = None,
        model: str | None = None,
        upload: bool | None = None,
    ) -> Response:
        """The general call: ``parts`` in order, each a ``str`` (text) or an image (any
        input kind except a bare path string: wrap paths in ``pathlib.Path``).

        ``schema`` (JSON Schema) implies JSON output; ``thinking`` is a level or a token
        budget; ``media_resolution`` ``low|medium|high|ultra_high``; ``temperature`` is
        sent on generateContent only (Interactions dropped it). Returns a
        :class:`~boxmask.api.tasks.Response`; never raises for truncation (see
        ``.truncated``).
        """
        settings = GenerationSettings(
            system_instruction=system_instruction,
            schema=schema,
            json_output=schema is not None if json_output is None else json_output,
            thinking=thinking,
            media_resolution=media_resolution,
            max_output_tokens=max_output_tokens,
            temperature=temperature,
        )
        return self._run(
            self._engine.generate(parts_to_items(parts), settings, model=model, upload=upload)
        )

    def map(
        self, function: Callable[[T], R], items: Iterable[T], *, concurrency: int = 8
    ) -> list[Outcome[T, R]]:
        """``function(item)`` for every item on up to ``concurrency`` threads sharing this
        client's connections. Results keep the input order; a failure is recorded in
        its :class:`~boxmask.api.batch.Outcome` and the rest go on."""
        return map_threads(function, items, concurrency)


# Re-exported: both clients are importable from here.
from boxmask.api.async_client import AsyncClient  # noqa: E402
