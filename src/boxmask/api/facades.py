"""``client.files``: the Files API facades of both clients (upload, get, list, delete).

A facade holds the client's :class:`~boxmask.api.tasks.Engine` and the function that
runs a flow (the client's driver), nothing of the client itself: the flows are in
:mod:`boxmask.api.files` and :mod:`boxmask.api.tasks`.
"""

from __future__ import annotations

import mmap
from collections.abc import AsyncIterator, Awaitable, Iterator
from typing import Any, Protocol, TypeVar

from boxmask.api import batches
from boxmask.api.batches import BatchJob, BatchResult
from boxmask.api.files import File, delete_flow, file_name, get_flow, list_page_flow, upload_flow
from boxmask.api.tasks import Engine
from boxmask.api.transport import Flow

__all__ = ["AsyncFiles", "AsyncRunner", "Batches", "Files", "SyncRunner"]

T = TypeVar("T")


class SyncRunner(Protocol):
    """Runs a flow to its value (a synchronous client's driver)."""

    def __call__(self, flow: Flow[T], /) -> T: ...


class AsyncRunner(Protocol):
    """Runs a flow to its value, awaitable (an asynchronous client's driver)."""

    def __call__(self, flow: Flow[T], /) -> Awaitable[T]: ...


class Files:
    """``client.files``: upload, get, list, delete (synchronous)."""

    def __init__(self, engine: Engine, run: SyncRunner) -> None:
        self._engine = engine
        self._run = run

    def upload(
        self,
        source: Any,
        mime_type: str | None = None,
        display_name: str | None = None,
        *,
        cache: bool = True,
    ) -> File:
        """Upload a path or bytes (images are read upright first, see ``boxmask.images``).

        With ``cache`` the same bytes uploaded earlier with this key (and not about to
        expire) are not uploaded again.
        """
        return self._run(self._engine.upload_source(source, mime_type, display_name, cache=cache))

    def get(self, name_or_uri: str) -> File:
        """The file's current metadata (``files/abc``, ``abc`` or its URI)."""
        return self._run(get_flow(self._engine.session, name_or_uri))

    def list(self, page_size: int | None = None) -> Iterator[File]:
        """Every file of the project, fetching pages of ``page_size`` lazily."""
        token: str | None = None
        while True:
            files, token = self._run(list_page_flow(self._engine.session, page_size, token))
            yield from files
            if not token:
                return

    def delete(self, name_or_uri: str) -> None:
        """Delete the file (and forget it in the upload cache)."""
        self._run(delete_flow(self._engine.session, name_or_uri))
        self._engine.forget_file(file_name(name_or_uri))


class Batches:
    """``client.batches``: the Gemini Batch API (synchronous; see :mod:`boxmask.api.batches`).

    ``upload_requests`` then ``create`` start a job, ``get`` polls it, ``results`` reads
    a succeeded job's answers, ``cancel`` ends it.
    """

    def __init__(self, engine: Engine, run: SyncRunner) -> None:
        self._engine = engine
        self._run = run

    def upload_requests(self, data: bytes | mmap.mmap, display_name: str | None = None) -> File:
        """Upload a JSONL input (lines of :func:`boxmask.api.batches.request_line`; an
        ``mmap`` of a file is sent chunk by chunk, never whole in memory)."""
        flow = upload_flow(
            self._engine.session,
            data,
            mime_type="application/jsonl",
            display_name=display_name,
            chunk_size=self._engine.chunk_size,
            poll_interval=self._engine.poll_interval,
        )
        return self._run(flow)

    def create(
        self, input_file: str | File, *, model: str | None = None, display_name: str = "boxmask"
    ) -> BatchJob:
        """Start a job over an uploaded JSONL input (``files/ID``, its URI or the File)."""
        name = input_file.name if isinstance(input_file, File) else input_file
        model = model or self._engine.model
        return self._run(batches.create_flow(self._engine.session, model, name, display_name))

    def get(self, name: str) -> BatchJob:
        """The job now (``batches/ID`` or ``ID``): one poll."""
        return self._run(batches.get_flow(self._engine.session, name))

    def cancel(self, name: str) -> None:
        """End a job that is not done (``BATCH_STATE_CANCELLED``, no results)."""
        self._run(batches.cancel_flow(self._engine.session, name))

    def results(self, job: BatchJob) -> Iterator[BatchResult]:
        """A succeeded job's results, one per input line (``ValueError`` for a job with
        no results file: not done, failed, or run on inline requests)."""
        if job.responses_file is None:
            raise ValueError(f"{job.name} ({job.state}) has no results file")
        data = self._run(batches.download_flow(self._engine.session, job.responses_file))
        return batches.read_results(data)


class AsyncFiles:
    """``async_client.files``: the same as :class:`Files`, awaitable."""

    def __init__(self, engine: Engine, run: AsyncRunner) -> None:
        self._engine = engine
        self._run = run

    async def upload(
        self,
        source: Any,
        mime_type: str | None = None,
        display_name: str | None = None,
        *,
        cache: bool = True,
    ) -> File:
        """See :meth:`Files.upload`."""
        flow = self._engine.upload_source(source, mime_type, display_name, cache=cache)
        return await self._run(flow)

    async def get(self, name_or_uri: str) -> File:
        """See :meth:`Files.get`."""
        return await self._run(get_flow(self._engine.session, name_or_uri))

    async def list(self, page_size: int | None = None) -> AsyncIterator[File]:
        """See :meth:`Files.list`."""
        token: str | None = None
        while True:
            page = list_page_flow(self._engine.session, page_size, token)
            files, token = await self._run(page)
            for file in files:
                yield file
            if not token:
                return

    async def delete(self, name_or_uri: str) -> None:
        """See :meth:`Files.delete`."""
        await self._run(delete_flow(self._engine.session, name_or_uri))
        self._engine.forget_file(file_name(name_or_uri))
