"""``boxmask.AsyncClient``: the asyncio twin of :class:`~boxmask.api.client.Client`
(same methods, awaitable; same request logic from :mod:`boxmask.api.tasks`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from boxmask.api.base import USER_AGENT, ClientBase, parts_to_items, task_options
from boxmask.api.batch import Outcome, map_async
from boxmask.api.facades import AsyncFiles
from boxmask.api.options import ClientOptions, TaskOptions
from boxmask.api.tasks import Response
from boxmask.api.transport import Flow, Limits, run_async
from boxmask.api.wire import GenerationSettings, Thinking
from boxmask.detections import Detections

if TYPE_CHECKING:  # pragma: no cover
    from typing_extensions import Unpack

    from boxmask.api.options import ClientKeywords, TaskKeywords

T = TypeVar("T")
R = TypeVar("R")

__all__ = ["AsyncClient"]


class AsyncClient(ClientBase):
    """The asynchronous twin of :class:`Client`: the same options (``http_client`` is an
    ``httpx.AsyncClient``) and the same methods, awaitable."""

    def __init__(
        self,
        api_key: str | None = None,
        *,
        options: ClientOptions | None = None,
        http_client: httpx.AsyncClient | None = None,
        **keywords: Unpack[ClientKeywords],
    ) -> None:
        super().__init__(api_key, options, keywords)
        self._limits = Limits(self._session.timeout, self.options.max_response_bytes)
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(
            timeout=self._session.timeout,
            headers={"User-Agent": USER_AGENT},
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=32),
        )
        self.files = AsyncFiles(self._engine, self._run)

    async def _run(self, flow: Flow[T]) -> T:
        return await run_async(flow, self._http, self._limits)

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
        options: TaskOptions | None = None,
        **keywords: Unpack[TaskKeywords],
    ) -> Detections:
        """See :meth:`Client.detect`."""
        flow = self._engine.spatial("detect", image, what, task_options(options, keywords))
        return await self._run(flow)

    async def segment(
        self,
        image: Any,
        what: str,
        options: TaskOptions | None = None,
        **keywords: Unpack[TaskKeywords],
    ) -> Detections:
        """See :meth:`Client.segment`."""
        flow = self._engine.spatial("segment", image, what, task_options(options, keywords))
        return await self._run(flow)

    async def point(
        self,
        image: Any,
        what: str,
        options: TaskOptions | None = None,
        **keywords: Unpack[TaskKeywords],
    ) -> Detections:
        """See :meth:`Client.point`."""
        flow = self._engine.spatial("point", image, what, task_options(options, keywords))
        return await self._run(flow)

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
