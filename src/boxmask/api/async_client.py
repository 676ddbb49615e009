"""``boxmask.AsyncClient``: the asyncio twin of :class:`~boxmask.api.client.Client`
(same methods, awaitable; same request logic from :mod:`boxmask.api.tasks`)."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import httpx

from boxmask.api.base import DEFAULT_MODEL, USER_AGENT, ClientBase, parts_to_items, spatial_options
from boxmask.api.batch import Outcome, map_async
from boxmask.api.cache import FileCache
from boxmask.api.files import CHUNK_SIZE, AsyncFiles
from boxmask.api.http import DEFAULT_BASE_URL
from boxmask.api.retry import RetryPolicy
from boxmask.api.tasks import DEFAULT_INLINE_LIMIT, Response
from boxmask.api.transport import Flow, run_async
from boxmask.api.wire import GenerationSettings, Thinking
from boxmask.detections import Detections

T = TypeVar("T")
R = TypeVar("R")

__all__ = ["AsyncClient"]


class AsyncClient(ClientBase):
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
            headers={"User-Agent": USER_AGENT},
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
        options = spatial_options(
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
        options = spatial_options(
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
        options = spatial_options(
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
            self._engine.generate(parts_to_items(parts), settings, model=model, upload=upload)
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
