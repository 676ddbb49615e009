"""``boxmask.Client`` and ``boxmask.AsyncClient``: a thin, robust Gemini API client on httpx.

Both share one request logic (:mod:`boxmask.api.tasks`); the synchronous client runs it
with an ``httpx.Client``, the asynchronous one with an ``httpx.AsyncClient`` (connections
are reused in both). Images can be a path, bytes, a PIL image, a numpy array (RGB), an
``http(s)`` URL, a Files API URI / name, a :class:`~boxmask.api.files.File` or an
:class:`~boxmask.api.images.ImageRef`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import httpx

from boxmask import __version__
from boxmask.api.batch import Outcome, map_async, map_threads
from boxmask.api.cache import FileCache
from boxmask.api.files import CHUNK_SIZE, AsyncFiles, File, Files
from boxmask.api.http import DEFAULT_BASE_URL, Session
from boxmask.api.retry import RetryPolicy
from boxmask.api.tasks import DEFAULT_INLINE_LIMIT, Engine, Response
from boxmask.api.transport import Flow, run_async, run_sync
from boxmask.api.wire import GenerationSettings, TextPart, Thinking
from boxmask.detections import Detections

__all__ = ["DEFAULT_MODEL", "AsyncClient", "Client"]

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_MODEL = "gemini-2.5-flash"
_USER_AGENT = f"boxmask/{__version__}"


class _ClientBase:
    """Configuration shared by both clients (see :class:`Client` for the arguments)."""

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
    ) -> None:
        policy = RetryPolicy() if retry is None else retry
        if retry is None or max_retries != 4:
            policy = RetryPolicy(
                max_retries=max_retries,
                initial_delay=policy.initial_delay,
                exp_base=policy.exp_base,
                max_delay=policy.max_delay,
                max_elapsed=policy.max_elapsed,
                statuses=policy.statuses,
            )
        self._session = Session(base_url=base_url, api_key=api_key, retry=policy, timeout=timeout)
        cache = FileCache(file_cache) if isinstance(file_cache, (str, os.PathLike)) else file_cache
        self._engine = Engine(
            self._session,
            model=model,
            api=api,
            inline_limit=inline_limit,
            chunk_size=upload_chunk_size,
            file_cache=cache,
            poll_interval=poll_interval,
        )

    @property
    def model(self) -> str:
        """The default model for calls that name none."""
        return self._engine.model

    @property
    def api(self) -> str:
        """``"interactions"`` or ``"generate_content"``."""
        return self._engine.api

    @property
    def base_url(self) -> str:
        """The service root (``/v1beta/...`` and ``/upload/v1beta/...`` are appended)."""
        return self._session.base_url

    @property
    def file_cache(self) -> FileCache:
        """The sha256 → uploaded-file cache."""
        return self._engine.cache

    def __repr__(self) -> str:
        has_key = "given" if self._session.api_key else "from environment"
        return (
            f"{type(self).__name__}(model={self.model!r}, api={self.api!r}, "
            f"base_url={self.base_url!r}, api_key={has_key})"
        )

    def _upload_flow(
        self, source: Any, mime_type: str | None, display_name: str | None, *, cache: bool
    ) -> Flow[File]:
        return self._engine.upload_source(source, mime_type, display_name, cache=cache)

    def _forget_file(self, name: str) -> None:
        with contextlib.suppress(Exception):  # no key: nothing could have been cached
            self._engine.cache.forget(self._engine.account(), name=name)


class Client(_ClientBase):
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
            headers={"User-Agent": _USER_AGENT},
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
        options = _spatial(
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
        options = _spatial(
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
        options = _spatial(
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
        return self._run(self._engine.generate(_parts(parts), settings, model=model, upload=upload))

    def map(
        self, function: Callable[[T], R], items: Iterable[T], *, concurrency: int = 8
    ) -> list[Outcome[T, R]]:
        """``function(item)`` for every item on up to ``concurrency`` threads sharing this
        client's connections. Results keep the input order; a failure is recorded in
        its :class:`~boxmask.api.batch.Outcome` and the rest go on."""
        return map_threads(function, items, concurrency)


class AsyncClient(_ClientBase):
    """The asynchronous twin of :class:`Client`: the same arguments (``http_client`` is an
    ``httpx.AsyncClient``) and the same methods, awaitable."""

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
        http_client: httpx.AsyncClient | None = None,
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
        self._http = http_client or httpx.AsyncClient(
            timeout=timeout,
            headers={"User-Agent": _USER_AGENT},
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=32),
        )
        self.files = AsyncFiles(self)

    async def _run(self, flow: Flow[T]) -> T:
        return await run_async(flow, self._http)

    async def aclose(self) -> None:
        """Close the connection pool (when the client created it)."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def detect(
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
        """See :meth:`Client.detect`."""
        options = _spatial(
            max_items, prompt, system_instruction, schema, thinking, model,
            media_resolution, max_output_tokens, upload, allow_truncated,
        )  # fmt: skip
        return await self._run(self._engine.spatial("detect", image, what, **options))

    async def segment(
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
        """See :meth:`Client.segment`."""
        options = _spatial(
            max_items, prompt, system_instruction, schema, thinking, model,
            media_resolution, max_output_tokens, upload, allow_truncated,
        )  # fmt: skip
        return await self._run(
            self._engine.spatial("segment", image, what, threshold=threshold, **options)
        )

    async def point(
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
        """See :meth:`Client.point`."""
        options = _spatial(
            max_items, prompt, system_instruction, schema, thinking, model,
            media_resolution, max_output_tokens, upload, allow_truncated,
        )  # fmt: skip
        return await self._run(self._engine.spatial("point", image, what, **options))

    async def ask(
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
        """See :meth:`Client.ask`."""
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
        return await self._run(flow)

    async def generate(
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
        """See :meth:`Client.generate`."""
        settings = GenerationSettings(
            system_instruction=system_instruction,
            schema=schema,
            json_output=schema is not None if json_output is None else json_output,
            thinking=thinking,
            media_resolution=media_resolution,
            max_output_tokens=max_output_tokens,
            temperature=temperature,
        )
        return await self._run(
            self._engine.generate(_parts(parts), settings, model=model, upload=upload)
        )

    async def map(
        self,
        function: Callable[[T], Awaitable[R]],
        items: Iterable[T],
        *,
        concurrency: int = 8,
    ) -> list[Outcome[T, R]]:
        """Await ``function(item)`` for every item, at most ``concurrency`` at once.
        Results keep the input order; failures are recorded per item."""
        return await map_async(function, items, concurrency)


# ---------------------------------------------------------------------- helpers
def _spatial(
    max_items: int | None,
    prompt: str | None,
    system_instruction: str | None,
    schema: dict[str, Any] | None,
    thinking: Thinking | None,
    model: str | None,
    media_resolution: str | None,
    max_output_tokens: int | None,
    upload: bool | None,
    allow_truncated: bool,
) -> dict[str, Any]:
    return {
        "max_items": max_items,
        "prompt": prompt,
        "system_instruction": system_instruction,
        "schema": schema,
        "thinking": thinking,
        "model": model,
        "media_resolution": media_resolution,
        "max_output_tokens": max_output_tokens,
        "upload": upload,
        "allow_truncated": allow_truncated,
    }


def _parts(parts: Any) -> list[Any]:
    """Public ``generate`` parts → engine items (``str`` → text part, the rest images)."""
    items = list(parts) if isinstance(parts, (list, tuple)) else [parts]
    return [TextPart(p) if isinstance(p, str) else p for p in items]
