"""The request stage on Ray Data: ask the model about many images with an actor pool.

``request_answers(images, "the cups")`` returns a lazy ``ray.data.Dataset`` with one answer
row per image, in input order; pass it to :func:`boxmask.distributed.convert_dataset` and
the whole way from images to a COCO dataset is one streaming pipeline::

    answers = request_answers(["s3://.../a.jpg", ...] or a Dataset, "the cups",
                              task="segment", actors=8, in_flight=4, requests_per_second=20)
    report = convert_dataset(answers, "out/")

Limits are global: ``actors`` × ``in_flight`` requests at most in flight (each actor holds
one :class:`boxmask.Client` and its connection pool), and ``requests_per_second`` shared
evenly among the actors (each spaces its requests by ``actors / requests_per_second``
seconds). Each request is retried by the client (HTTP 408/429/5xx, connection errors,
with backoff and the server's retry hints); a request that still fails is recorded in its
row's ``error`` and reported by the convert stage, so no image is lost.

**Journal** (``journal=FOLDER``): every answer is written, the moment it arrives and
before any conversion, as a line of the answers journal (:mod:`boxmask.journal`, the
format ``boxmask detect --answers`` writes: image, sha256, model, prompt, options, raw
response, usage, timing or the error), flushed and fsynced, each actor into its own
``answers-<random>.jsonl`` in the folder. Before each batch of rows an actor reads what
the folder holds (incrementally), so a local image whose (content, model, prompt,
options) already has an answer there is not requested again: a crashed actor's answers
serve its retried task, and rerunning ``request_answers`` + ``convert_dataset`` with the
same folder requests only the images not answered yet (failed ones are retried). The
journal files are ``boxmask convert --manifest`` inputs. URLs and Files API images are
requested every time (no content hash).

The API key: ``api_key=`` is shipped to the actors with the task (it is then held by Ray);
without it each actor reads ``GEMINI_API_KEY`` / ``GOOGLE_API_KEY`` from its own
environment (on a cluster, set it with ``runtime_env={"env_vars": {...}}``).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ANSWER_COLUMNS", "RequestSettings", "request_answers"]

#: Columns of the answer rows: ``source`` and ``image`` (the input image string),
#: ``width``/``height`` (upright pixels the model saw; null on failure), ``answer`` (the
#: model text), ``finish_reason``, ``model`` (version), ``usage`` (token counts as JSON
#: text), ``error`` (why the request failed, else null), ``seconds`` (wall time).
ANSWER_COLUMNS = (
    "source",
    "image",
    "width",
    "height",
    "answer",
    "finish_reason",
    "model",
    "usage",
    "error",
    "seconds",
)
TASKS = ("detect", "segment", "point")


@dataclass(frozen=True)
class RequestSettings:
    """What each request actor does: ``task`` (detect, segment, point) for ``what``, with
    the :class:`boxmask.Client` options; ``in_flight`` concurrent requests per actor,
    ``interval`` seconds between the starts of its requests (0: no rate limit), ``cwd`` the
    driver's folder (relative image paths are read from there)."""

    task: str
    what: str
    base_url: str | None = None
    api_key: str | None = None
    model: str | None = None
    api: str = "interactions"
    timeout: float | None = 300.0
    max_retries: int = 4
    retry: Any = None
    max_items: int | None = None
    prompt: str | None = None
    in_flight: int = 4
    interval: float = 0.0
    cwd: str = ""
    journal: str | None = None


class _Pacer:
    """Spaces calls by ``interval`` seconds (thread-safe, no bursts)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if self.interval <= 0:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            time.sleep(start - now)


class _Requester:
    """Ray actor (map_batches callable class): one client, rows of images → answer rows."""

    def __init__(self, settings: RequestSettings) -> None:
        from boxmask.api import Client
        from boxmask.api.http import DEFAULT_BASE_URL
        from boxmask.threads import set_threads

        set_threads(1)
        self.settings = settings
        options: dict[str, Any] = {
            "base_url": settings.base_url or DEFAULT_BASE_URL,
            "api": settings.api,
            "timeout": settings.timeout,
            "max_retries": settings.max_retries,
        }
        if settings.model:
            options["model"] = settings.model
        if settings.retry is not None:
            options["retry"] = settings.retry
        self.client = Client(settings.api_key, **options)
        self.pacer = _Pacer(settings.interval)
        self.journal = _ActorJournal(settings, self.client) if settings.journal else None

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa  # type: ignore[import-untyped, import-not-found]

        from boxmask.distributed.rows import working_directory

        rows = batch.to_pylist()
        if self.journal is not None:
            self.journal.folder.refresh()  # what other actors (or earlier runs) answered
        with working_directory(self.settings.cwd):
            outcomes = self.client.map(self._one, rows, concurrency=self.settings.in_flight)
        out = []
        for outcome in outcomes:
            if outcome.ok:
                out.append(outcome.value)
                continue
            row = outcome.item
            error = outcome.error
            out.append(_row(row, error=f"{type(error).__name__}: {error}"))
        return pa.Table.from_pylist(out, schema=_schema())

    def _one(self, row: dict[str, Any]) -> dict[str, Any]:
        image = row.get("image")
        if not isinstance(image, str) or not image:
            raise ValueError(f"'image' must be a path or URI string, got {image!r}")
        if self.journal is not None and self.journal.is_local(image):
            return self.journal.answer(row, image, self.pacer)
        self.pacer.wait()
        s = self.settings
        call = getattr(self.client, s.task)
        start = time.perf_counter()
        detections = call(
            image, s.what, max_items=s.max_items, prompt=s.prompt, allow_truncated=True
        )
        seconds = time.perf_counter() - start
        info = detections.answer
        return _row(
            row,
            width=detections.width,
            height=detections.height,
            answer=info.text if info is not None else "",
            finish_reason=info.finish_reason if info is not None else None,
            model=info.model if info is not None else None,
            usage=json.dumps(info.usage) if info is not None and info.usage else None,
            seconds=seconds,
        )


class _ActorJournal:
    """An actor's side of the journal folder: the reuse key of an image, the journaled
    answer when there is one, else the request, journaled before it becomes a row."""

    def __init__(self, settings: RequestSettings, client: Any) -> None:
        from boxmask.api.prompts import task_prompt
        from boxmask.journal import JournalFolder

        assert settings.journal is not None
        self.settings, self.client = settings, client
        self.folder = JournalFolder(settings.journal)
        self.prompt = task_prompt(settings.task, settings.what, settings.max_items, settings.prompt)
        self.model = settings.model or client.model
        #: What changes the answer besides the image and the model (as the CLI's journal).
        self.options = {"task": settings.task, "what": settings.what,
                        "max_items": settings.max_items, "api": settings.api}  # fmt: skip

    @staticmethod
    def is_local(image: str) -> bool:
        from boxmask.api.images import is_image_reference

        return not is_image_reference(image)

    def answer(self, row: dict[str, Any], image: str, pacer: _Pacer) -> dict[str, Any]:
        """The answer row of a local image: journaled already, or requested and
        journaled now (a failure is journaled too, then raised)."""
        from boxmask.journal import answer_key, file_sha256

        sha = file_sha256(image)
        key = answer_key(sha, self.model, self.prompt.text, self.options)
        entry = self.folder.lookup(key)
        if entry is not None:
            return self._answer_row(row, image, entry, seconds=0.0)
        entry = {"image": os.path.relpath(os.path.abspath(image), self.folder.folder),
                 "sha256": sha, "model": self.model, "prompt": self.prompt.text,
                 "options": self.options, "key": key}  # fmt: skip
        started = time.time()
        pacer.wait()
        try:
            response = self.client.generate(
                [self.prompt.text, Path(image)], **self.prompt.generate_keywords(self.settings.api)
            )
        except Exception as exc:
            entry.update(error=f"{type(exc).__name__}: {exc}", started=round(started, 3),
                         seconds=round(time.time() - started, 3))  # fmt: skip
            self.folder.append(entry)
            raise
        seconds = time.time() - started
        entry.update(response=response.raw, usage=response.usage,
                     finish_reason=response.finish_reason, started=round(started, 3),
                     seconds=round(seconds, 3))  # fmt: skip
        self.folder.append(entry)  # durable before it is converted
        sent = response.images[0] if response.images else None
        size = (sent.width, sent.height) if sent and sent.width and sent.height else None
        return self._answer_row(row, image, entry, seconds=seconds, size=size)

    def _answer_row(
        self,
        row: dict[str, Any],
        image: str,
        entry: dict[str, Any],
        *,
        seconds: float,
        size: tuple[int, int] | None = None,
    ) -> dict[str, Any]:
        from boxmask.api.wire import read_answer
        from boxmask.images import image_size

        api = (entry.get("options") or {}).get("api", self.settings.api)
        answer = read_answer(api, entry["response"])
        width, height = size or image_size(image)
        return _row(
            row,
            width=width,
            height=height,
            answer=answer.text,
            finish_reason=answer.finish_reason,
            model=answer.model,
            usage=json.dumps(answer.usage) if answer.usage else None,
            seconds=seconds,
        )


def _row(source_row: dict[str, Any], **values: Any) -> dict[str, Any]:
    image = source_row.get("image")
    image = image if isinstance(image, str) else None
    source = source_row.get("source")
    out: dict[str, Any] = dict.fromkeys(ANSWER_COLUMNS)
    out.update(source=str(source) if source is not None else image, image=image)
    out.update(values)
    return out


def _schema() -> Any:
    import pyarrow as pa  # type: ignore[import-untyped, import-not-found]

    return pa.schema(
        [
            ("source", pa.string()),
            ("image", pa.string()),
            ("width", pa.int64()),
            ("height", pa.int64()),
            ("answer", pa.large_string()),
            ("finish_reason", pa.string()),
            ("model", pa.string()),
            ("usage", pa.string()),
            ("error", pa.string()),
            ("seconds", pa.float64()),
        ]
    )


def request_answers(
    images: Any,
    what: str,
    *,
    task: str = "segment",
    actors: int = 2,
    in_flight: int = 4,
    requests_per_second: float | None = None,
    batch_size: int = 16,
    api_key: str | None = None,
    base_url: str | None = None,
    model: str | None = None,
    api: str = "interactions",
    timeout: float | None = 300.0,
    max_retries: int = 4,
    retry: Any = None,
    max_items: int | None = None,
    prompt: str | None = None,
    journal: str | os.PathLike[str] | None = None,
) -> Any:
    """A lazy ``ray.data.Dataset`` of answer rows (:data:`ANSWER_COLUMNS`), one per image.

    ``images``: a list of image paths / URLs / Files API URIs, or a Dataset with an
    ``image`` column (an optional ``source`` column names rows in reports). ``task`` is
    ``detect``, ``segment`` or ``point``; ``what`` what to look for; ``max_items`` and
    ``prompt`` as for :meth:`boxmask.Client.segment`. ``actors`` request actors (0 CPUs
    each: they wait on the network) each with ``in_flight`` concurrent requests, taking
    ``batch_size`` rows at a time; ``requests_per_second`` caps the total rate. Client
    options (``api_key``, ``base_url``, ``model``, ``api``, ``timeout`` seconds,
    ``max_retries``, ``retry``) as for :class:`boxmask.Client`. Nothing runs until the
    Dataset is consumed (e.g. by :func:`boxmask.distributed.convert_dataset`).
    ``journal``: a folder (shared by every actor, e.g. on a network file system) where
    every answer is journaled durably before conversion and from which a rerun reuses
    them (see the module notes).
    """
    from boxmask.distributed.cluster import _ray, pool_keywords

    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    if actors < 1 or in_flight < 1 or batch_size < 1:
        raise ValueError("actors, in_flight and batch_size must be >= 1")
    if requests_per_second is not None and requests_per_second <= 0:
        raise ValueError("requests_per_second must be > 0")
    ray = _ray()
    if isinstance(images, (str, os.PathLike)):
        raise TypeError("images must be a list of images or a Dataset, not one path")
    if isinstance(images, Sequence):
        dataset = ray.data.from_items([{"image": str(image)} for image in images])
    elif hasattr(images, "map_batches"):
        dataset = images
    else:
        raise TypeError(f"images must be a list or a ray.data.Dataset, got {type(images)}")
    settings = RequestSettings(
        task=task,
        what=what,
        base_url=base_url,
        api_key=api_key,
        model=model,
        api=api,
        timeout=timeout,
        max_retries=max_retries,
        retry=retry,
        max_items=max_items,
        prompt=prompt,
        in_flight=in_flight,
        interval=actors / requests_per_second if requests_per_second else 0.0,
        cwd=os.getcwd(),
        journal=os.path.abspath(journal) if journal is not None else None,
    )
    return dataset.map_batches(
        _Requester,
        fn_constructor_kwargs={"settings": settings},
        batch_size=batch_size,
        batch_format="pyarrow",
        num_cpus=0,
        **pool_keywords(actors, actors=True),
    )
