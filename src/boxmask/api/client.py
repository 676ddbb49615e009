"""``boxmask.Client``: a thin, robust synchronous Gemini API client on httpx.

Images can be a path, bytes, a PIL image, a numpy array (RGB), an ``http(s)`` URL, a Files
API URI / name, a :class:`~boxmask.api.files.File` or an :class:`~boxmask.api.images.ImageRef`.
The request logic lives in :mod:`boxmask.api.tasks` and is shared with
:class:`~boxmask.api.async_client.AsyncClient`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from boxmask.api.async_client import AsyncClient
from boxmask.api.base import USER_AGENT, ClientBase, parts_to_items, task_options
from boxmask.api.batch import Outcome, map_threads
from boxmask.api.defaults import DEFAULT_MODEL
from boxmask.api.facades import Batches, Files
from boxmask.api.options import ClientOptions, TaskOptions
from boxmask.api.tasks import Response
from boxmask.api.transport import Flow, Limits, run_sync
from boxmask.api.wire import GenerationSettings, Thinking
from boxmask.detections import Detections

if TYPE_CHECKING:  # pragma: no cover
    from typing_extensions import Unpack

    from boxmask.api.options import ClientKeywords, TaskKeywords

T = TypeVar("T")
R = TypeVar("R")

__all__ = ["DEFAULT_MODEL", "AsyncClient", "Client"]


class Client(ClientBase):
    """A synchronous Gemini client.

    - ``api_key``: else ``GEMINI_API_KEY``, else ``GOOGLE_API_KEY`` (read at each call: a
      missing key raises :class:`~boxmask.errors.MissingApiKeyError` at the first call).
      It is sent only as the ``x-goog-api-key`` header and never logged or shown.
    - ``options``: a :class:`~boxmask.api.options.ClientOptions`; each of its fields can
      also be given as a keyword (keywords win):
    - ``model``: default model; ``api``: ``"interactions"`` (``POST /v1beta/interactions``)
      or ``"generate_content"`` (``POST /v1beta/models/{model}:generateContent``).
    - ``base_url``: the service root, e.g. a :class:`boxmask.testing.FakeGemini` URL.
    - ``timeout``: seconds one HTTP request may take, first byte to last (300; None: no
      limit); ``max_retries`` retries of 408/429/5xx/connection errors (overrides
      ``retry.max_retries``); ``retry`` the backoff (:class:`RetryPolicy`).
    - ``inline_limit``: base64 bytes of inline image data per request before the largest
      images go through the Files API; ``upload_chunk_size``: bytes per upload chunk.
    - ``file_cache``: a :class:`FileCache` (or a JSON path) of uploads by sha256.
    - ``max_response_bytes``: the largest answer body read
      (:class:`~boxmask.errors.ResponseTooLargeError` beyond).
    - ``http_client``: your own ``httpx.Client`` (proxies, certificates).
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        options: ClientOptions | None = None,
        http_client: httpx.Client | None = None,
        **keywords: Unpack[ClientKeywords],
    ) -> None:
        super().__init__(api_key, options, keywords)
        self._limits = Limits(self._session.timeout, self.options.max_response_bytes)
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(
            timeout=self._session.timeout,
            headers={"User-Agent": USER_AGENT},
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=32),
        )
        self.files = Files(self._engine, self._run)
        self.batches = Batches(self._engine, self._run)

    def _run(self, flow: Flow[T]) -> T:
        return run_sync(flow, self._http, self._limits)

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
        options: TaskOptions | None = None,
        **keywords: Unpack[TaskKeywords],
    ) -> Detections:
        """Bounding boxes of ``what`` in ``image``.

        Returns :class:`~boxmask.Detections` in the pixels of the upright image the model
        saw: boxes ``[xmin, ymin, xmax, ymax]`` float pixel edges; ``.answer`` holds the
        model text, finish reason and token usage. ``options`` (a
        :class:`~boxmask.api.options.TaskOptions`) or its fields as keywords:
        ``max_items`` caps the list (25); ``prompt`` replaces the user text (``{what}``
        is filled in), ``system_instruction`` / ``schema`` / ``thinking`` the task
        defaults (``""`` / ``{}`` remove them). ``upload`` True forces the Files API,
        False forbids it, None decides by ``inline_limit``. Raises
        :class:`~boxmask.errors.TruncatedError` (complete items in ``.detections``) when
        the answer hit the token limit, unless ``allow_truncated``.
        """
        flow = self._engine.spatial("detect", image, what, task_options(options, keywords))
        return self._run(flow)

    def segment(
        self,
        image: Any,
        what: str,
        options: TaskOptions | None = None,
        **keywords: Unpack[TaskKeywords],
    ) -> Detections:
        """Segmentation masks of ``what``: like :meth:`detect`, plus crop-native masks
        (``.masks``) decoded from PNG masks (kept where the 0–255 value > ``threshold``)
        or polygons. Thinking is off by default, as Google recommends for segmentation."""
        flow = self._engine.spatial("segment", image, what, task_options(options, keywords))
        return self._run(flow)

    def point(
        self,
        image: Any,
        what: str,
        options: TaskOptions | None = None,
        **keywords: Unpack[TaskKeywords],
    ) -> Detections:
        """Points on ``what``: :class:`~boxmask.Detections` with ``.points`` pixel
        ``(x, y)`` (the model answers ``[y, x]`` in 0–1000; boxes are zero-size). The cap
        ``max_items`` defaults to 10."""
        flow = self._engine.spatial("point", image, what, task_options(options, keywords))
        return self._run(flow)

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
        settings = _settings(
            system_instruction, schema, json_output, thinking, media_resolution,
            max_output_tokens, temperature,
        )  # fmt: skip
        return self._run(
            self._engine.generate(parts_to_items(parts), settings, model=model, upload=upload)
        )

    def generate_request(
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
    ) -> dict[str, Any]:
        """The ``generateContent`` request :meth:`generate` sends on
        ``api="generate_content"``, as a dict, without calling the model (images go inline
        or are uploaded as ``upload`` decides): a Batch API input line's ``request``
        (see :class:`~boxmask.api.facades.Batches`)."""
        settings = _settings(
            system_instruction, schema, json_output, thinking, media_resolution,
            max_output_tokens, temperature,
        )  # fmt: skip
        flow = self._engine.request_body(
            parts_to_items(parts), settings, model=model, upload=upload
        )
        return self._run(flow)

    def map(
        self, function: Callable[[T], R], items: Iterable[T], *, concurrency: int = 8
    ) -> list[Outcome[T, R]]:
        """``function(item)`` for every item on up to ``concurrency`` threads sharing this
        client's connections. Results keep the input order; a failure is recorded in
        its :class:`~boxmask.api.batch.Outcome` and the rest go on."""
        return map_threads(function, items, concurrency)


def _settings(
    system_instruction: str | None,
    schema: dict[str, Any] | None,
    json_output: bool | None,
    thinking: Thinking | None,
    media_resolution: str | None,
    max_output_tokens: int | None,
    temperature: float | None,
) -> GenerationSettings:
    return GenerationSettings(
        system_instruction=system_instruction,
        schema=schema,
        json_output=schema is not None if json_output is None else json_output,
        thinking=thinking,
        media_resolution=media_resolution,
        max_output_tokens=max_output_tokens,
        temperature=temperature,
    )
