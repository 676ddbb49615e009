"""``boxmask detect|segment|point`` over many images: a durable, streaming request run.

Each answer is journaled (:mod:`boxmask.journal`) the moment it arrives, then converted
by exactly the ``boxmask convert --manifest`` path (:func:`~boxmask.batch.jobs.job_from_entry`,
:func:`~boxmask.batch.worker.convert_job`, :class:`~boxmask.batch.run.ResultCollector`)
in journal order, so converting the journal offline gives the same COCO bytes. Images
already answered in the journal (same content, model, prompt and options) are not
requested again. Memory stays flat: nothing per image is kept but the report rows.
"""

from __future__ import annotations

import concurrent.futures as futures
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from boxmask.batch.jobs import IMAGE_SUFFIXES, job_from_entry
from boxmask.batch.run import BatchOptions, ResultCollector, overlay_names, worker_options
from boxmask.batch.worker import JobResult, WorkerOptions, convert_job
from boxmask.errors import BoxmaskError
from boxmask.journal import Journal, JournalIndex, answer_key, file_sha256
from boxmask.pricing import PriceTable
from boxmask.progress import Progress
from boxmask.ratelimit import RateLimiter
from boxmask.terminal import safe_json, safe_text

__all__ = ["RequestPlan", "default_journal", "expand_images", "run_requests"]

EXIT_INTERRUPTED = 130
#: What the Batch API costs against the online price.
BATCH_PRICE_FACTOR = 0.5
#: Retries of one request after 429/5xx/timeouts/connection errors.
MAX_RETRIES = 4


@dataclass(frozen=True)
class RequestPlan:
    """One run: ``task`` on ``images`` looking for ``what``; outputs in ``outputs``."""

    task: str
    what: str
    images: list[str]
    journal: Path
    outputs: BatchOptions
    model: str
    api: str = "interactions"
    base_url: str = "https://generativelanguage.googleapis.com"
    timeout: float = 300.0
    max_items: int | None = None
    upload: bool | None = None
    concurrency: int = 4
    rpm: float | None = None
    tpm: float | None = None
    quiet: bool = False
    json_lines: bool = False
    prices: PriceTable | None = None
    #: Run the requests as one Gemini Batch API job (half price, answers within 24 h).
    batch: bool = False
    #: Seconds before the first poll of a batch job (then ×1.5 per poll, 5 minutes at most).
    poll_interval: float = 10.0


def is_remote(image: str) -> bool:
    from boxmask.api.images import is_url

    return is_url(image) or image.startswith("files/")


def expand_images(arguments: list[str]) -> list[str]:
    """Image arguments → image paths: a folder gives its images (``IMAGE_SUFFIXES``,
    sorted, recursively), a ``.jsonl``/``.txt`` manifest one image per line (a path or
    ``{"image": path}``, relative to the manifest), anything else itself. Duplicates
    are dropped."""
    seen: dict[str, str] = {}  # absolute path (or URL) -> the spelling given first

    def add(image: str) -> None:
        seen.setdefault(image if is_remote(image) else os.path.abspath(image), image)

    for argument in arguments:
        path = Path(argument)
        if not is_remote(argument) and path.is_dir():
            for found in sorted(path.rglob("*")):
                if found.is_file() and found.suffix.lower() in IMAGE_SUFFIXES:
                    add(str(found))
        elif path.suffix.lower() in (".jsonl", ".txt") and path.is_file():
            for line in _manifest_images(path):
                add(line)
        else:
            add(argument)
    return list(seen.values())


def _manifest_images(manifest: Path) -> Iterator[str]:
    with manifest.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            text = line.strip()
            if not text:
                continue
            if text.startswith("{"):
                try:
                    text = str(json.loads(text)["image"])
                except (ValueError, KeyError, TypeError):
                    raise BoxmaskError(
                        f'{manifest.name}:{number}: want {{"image": path}}'
                    ) from None
            yield text if is_remote(text) else str(manifest.parent / text)


def default_journal(options: BatchOptions) -> Path:
    """Beside the first output: ``out.json`` → ``out.answers.jsonl``; a YOLO or overlay
    folder ``DIR`` → ``DIR.answers.jsonl``; else ``./boxmask-answers.jsonl``."""
    if options.coco is not None:
        return options.coco.with_suffix(".answers.jsonl")
    for folder in (options.yolo, options.overlays):
        if folder is not None:
            return folder.parent / f"{folder.name}.answers.jsonl"
    return Path("boxmask-answers.jsonl")


class _Asker:
    """Sends one image's request with the task's prompt; shared backoff on 429."""

    def __init__(
        self,
        plan: RequestPlan,
        client: Any,
        limiter: RateLimiter,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        from boxmask.api.prompts import task_prompt

        self.prompt = task_prompt(plan.task, plan.what, plan.max_items)
        self.plan, self.client, self.limiter, self.sleep = plan, client, limiter, sleep
        #: What changes the answer besides the image and the model.
        self.options = {"task": plan.task, "what": plan.what, "max_items": plan.max_items,
                        "api": plan.api}  # fmt: skip

    def key(self, sha256: str) -> str:
        return answer_key(sha256, self.plan.model, self.prompt.text, self.options)

    def estimate_tokens(self, image: str) -> int:
        from boxmask.images import image_size
        from boxmask.tokens import TILE_TOKENS, estimate, text_tokens

        try:
            width, height = image_size(image)
            tokens = estimate(width, height, model=self.plan.model)
        except (BoxmaskError, OSError, ValueError):
            tokens = TILE_TOKENS
        return tokens + text_tokens(self.prompt.text + (self.prompt.system_instruction or ""))

    def request_args(self, image: str) -> tuple[list[Any], dict[str, Any]]:
        """The parts and keywords of ``client.generate`` (or ``generate_request``, for
        the Batch API) for ``image``: the same request either way."""
        from boxmask.api.images import ImageRef

        tp = self.prompt
        part = ImageRef(image) if is_remote(image) else Path(image)
        settings = {**tp.generate_keywords(self.plan.api), "upload": self.plan.upload}
        return [tp.text, part], settings

    def entry(self, image: str, sha: str | None, base: Path) -> dict[str, Any]:
        """A journal line's fields before the answer: where, what, which model, the key."""
        entry: dict[str, Any] = {"image": _image_field(image, base), "sha256": sha,
                                 "model": self.plan.model, "prompt": self.prompt.text,
                                 "options": self.options}  # fmt: skip
        if sha:
            entry["key"] = self.key(sha)
        return entry

    def ask(self, image: str) -> Any:
        """The response to ``image``'s request, retried after 429/5xx/timeouts/connection
        errors (429s pause every worker through the limiter)."""
        from boxmask.errors import ApiConnectionError, ApiTimeoutError, RateLimitError, ServerError

        parts, settings = self.request_args(image)
        tokens = self.estimate_tokens(image) if self.limiter.tpm else 0
        for attempt in range(MAX_RETRIES + 1):
            self.limiter.acquire(tokens)
            try:
                response = self.client.generate(parts, **settings)
            except (RateLimitError, ServerError, ApiTimeoutError, ApiConnectionError) as exc:
                if attempt == MAX_RETRIES:
                    raise
                self.wait_before_retry(exc, attempt)
                continue
            self.limiter.succeeded()
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def wait_before_retry(self, error: Any, attempt: int) -> None:
        """Wait as the server asked (``error.retry_after``: ``retry-after-ms``,
        ``Retry-After`` or ``RetryInfo``, read by :func:`boxmask.api.retry.retry_hint`),
        else back off exponentially. A 429 pauses every worker (the limiter); a hint
        longer than the policy's ``max_delay`` is not waited for: the error is raised."""
        from boxmask.errors import RateLimitError

        hint = error.retry_after
        policy = self.limiter.policy
        if hint is not None and hint > policy.max_delay:
            error.args = (
                f"{error.args[0]} The server asks to wait {hint:.0f} s, longer than "
                f"{policy.max_delay:.0f} s: run the same command again after that.",
            )
            raise error
        if isinstance(error, RateLimitError):
            self.limiter.back_off(hint)
        else:
            self.sleep(hint if hint is not None else policy.backoff(attempt))


def _image_field(image: str, base: Path) -> str:
    """The image as the manifest reader resolves it: relative to the journal's folder."""
    if is_remote(image):
        return image
    return os.path.relpath(os.path.abspath(image), os.path.abspath(base))


class _Run:
    def __init__(self, plan: RequestPlan, journal: Journal, collector: ResultCollector) -> None:
        self.plan, self.journal, self.collector = plan, journal, collector
        self.base = plan.journal.parent
        self.names = overlay_names(plan.outputs)
        options = worker_options(plan.outputs)
        # Always export (the per-image report lists the items); the writers only write
        # what was asked.
        self.worker_options: WorkerOptions = replace(
            options, export=replace(options.export, coco=True)
        )
        self.progress: Progress | None = None
        self.index = 0

    def feed(self, line: int, entry: dict[str, Any], image: str, *, reused: bool) -> None:
        """Convert one journal line exactly as ``convert --manifest`` does."""
        where = f"{self.journal.path.name}:{line}"
        job = job_from_entry(entry, self.base, where)
        target = self.names.target(job.image, job.file_name)
        result = convert_job((self.index, job, self.worker_options, target))
        self.index += 1
        self.collector.add(result)
        if entry.get("error") is not None:
            result.error = str(entry["error"])
        assert self.progress is not None
        self.progress.update(ok=result.error is None, usage=entry.get("usage"), reused=reused)
        _print_result(result, entry, image, self.plan)


def _print_result(result: JobResult, entry: dict[str, Any], image: str, plan: RequestPlan) -> None:
    if plan.json_lines:
        record: dict[str, Any] = {"image": image, "width": result.width, "height": result.height}
        if result.error is not None:
            record["error"] = result.error
        else:
            record.update(items=result.items, masks=result.masks, points=result.points)
            record["annotations"] = _items(result)
            problems = [*result.problems, *(result.fragment.problems if result.fragment else [])]
            record["problems"] = [p.to_dict() for p in problems]
            record["usage"] = entry.get("usage")
        print(safe_json(record, indent=None))  # model text: terminal escapes neutralized
        return
    if result.error is not None:
        print(safe_text(f"{image}: error: {result.error}"), file=sys.stderr)
        return
    if plan.quiet:
        return
    print(safe_text(f"{image} ({result.width}x{result.height}): {result.items} item(s)"))


def _items(result: JobResult) -> list[dict[str, Any]]:
    if result.fragment is None:
        return []
    items = []
    for annotation in result.fragment.annotations:
        x, y, w, h = annotation.bbox
        item: dict[str, Any] = {
            "label": annotation.label,
            "box": [round(x, 2), round(y, 2), round(x + w, 2), round(y + h, 2)],
            "area": annotation.area,
        }
        if annotation.score is not None:
            item["score"] = annotation.score
        items.append(item)
    return items


def run_requests(
    plan: RequestPlan,
    make_client: Callable[[], Any],
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Run ``plan``; the exit code (0 all answered, 1 some failed, 130 interrupted).
    ``sleep(seconds)`` is how the run waits (backoff, budgets, batch polls) and ``clock()``
    its monotonic time in seconds (both replaceable in tests)."""
    prices = plan.prices or PriceTable.load()
    journal = Journal(plan.journal)
    index = journal.open()
    try:
        collector = ResultCollector(replace(plan.outputs, force=True))
        run = _Run(plan, journal, collector)
        if not plan.quiet:
            print(f"boxmask: journal: {plan.journal}", file=sys.stderr)
        with make_client() as client, _sigterm_as_interrupt():
            limiter = RateLimiter(plan.rpm, plan.tpm, sleep=sleep, clock=clock)
            asker = _Asker(plan, client, limiter, sleep)
            return _drive(plan, run, asker, index, prices)
    finally:
        journal.close()


def _drive(
    plan: RequestPlan,
    run: _Run,
    asker: _Asker,
    index: JournalIndex,
    prices: PriceTable,
) -> int:
    journal = run.journal
    answered = index.answers
    todo: list[tuple[str, str | None]] = []  # (image, sha256)
    reuse: list[tuple[int, int, str]] = []  # (line, offset, image)
    for image in plan.images:
        sha = None
        if not is_remote(image):
            try:
                sha = file_sha256(image)
            except OSError:
                sha = None  # journaled as a failure when requested
        hit = answered.get(asker.key(sha)) if sha else None
        if hit is not None:
            reuse.append((hit[0], hit[1], image))
        else:
            todo.append((image, sha))
    run.progress = progress = Progress(
        len(plan.images), model=plan.model, prices=prices, quiet=plan.quiet,
        price_factor=BATCH_PRICE_FACTOR if plan.batch else 1.0,
    )  # fmt: skip
    try:
        moved = []
        for line, offset, image in sorted(reuse):
            entry = journal.read(offset)
            if entry.get("image") == _image_field(image, run.base):
                run.feed(line, entry, image, reused=True)
            else:  # same picture at a new path: journal it under this path, at no cost
                moved.append((image, {**entry, "image": _image_field(image, run.base)}))
        for image, entry in moved:
            run.feed(journal.append(entry), entry, image, reused=True)
        if plan.batch:
            from boxmask.request_batch import request_batch

            request_batch(plan, run, asker, todo, index)
        else:
            _request_all(plan, run, asker, todo)
    except KeyboardInterrupt:
        run.collector.abort()
        progress.close()
        print(progress.summary(), file=sys.stderr)
        print(
            f"boxmask: interrupted; {journal.lines} answer line(s) are safe in "
            f"{plan.journal}. Run the same command again to resume.",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    except BaseException:
        run.collector.abort()
        raise
    finally:
        progress.close()
    report = run.collector.finish()
    for path in (plan.outputs.coco,):
        if path is not None:
            print(f"wrote {path}", file=sys.stderr)
    print(progress.summary(), file=sys.stderr)
    return 1 if report.failed else 0


def _request_all(
    plan: RequestPlan, run: _Run, asker: _Asker, todo: list[tuple[str, str | None]]
) -> None:
    """Request ``todo`` on ``concurrency`` threads; feed answers in journal order."""
    journal = run.journal
    stop = threading.Event()

    def one(image: str, sha: str | None) -> tuple[int, dict[str, Any], str]:
        entry = asker.entry(image, sha, run.base)
        started = time.time()
        try:
            if stop.is_set():
                raise KeyboardInterrupt
            if sha is None and not is_remote(image):
                raise BoxmaskError(f"cannot read {image}")
            response = asker.ask(image)
            entry["response"] = response.raw
            entry["usage"] = response.usage
            entry["finish_reason"] = response.finish_reason
            if is_remote(image) and response.images:
                entry["width"], entry["height"] = (
                    response.images[0].width,
                    response.images[0].height,
                )
        except (BoxmaskError, OSError, ValueError) as exc:
            entry["error"] = str(exc) or type(exc).__name__
        entry["started"] = round(started, 3)
        entry["seconds"] = round(time.time() - started, 3)
        return journal.append(entry), entry, image

    window = max(1, plan.concurrency) * 2
    pending: set[futures.Future[tuple[int, dict[str, Any], str]]] = set()
    ready: dict[int, tuple[dict[str, Any], str]] = {}
    next_line = journal.lines + 1
    queue = iter(todo)
    pool = futures.ThreadPoolExecutor(max(1, plan.concurrency), thread_name_prefix="boxmask")
    try:
        while True:
            for image, sha in queue:
                pending.add(pool.submit(one, image, sha))
                if len(pending) >= window:
                    break
            if not pending:
                break
            done, pending = futures.wait(pending, return_when=futures.FIRST_COMPLETED)
            for future in done:
                line, entry, image = future.result()
                ready[line] = (entry, image)
            while next_line in ready:  # journal order, whatever order threads finished
                entry, image = ready.pop(next_line)
                run.feed(next_line, entry, image, reused=False)
                next_line += 1
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)  # answers in flight are journaled


class _sigterm_as_interrupt:
    """SIGTERM behaves like Ctrl-C (answers in flight are journaled, exit 130)."""

    def __enter__(self) -> None:
        self.previous: Any = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGTERM, _raise_interrupt)

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def dry_run(plan: RequestPlan) -> int:
    """Count images and estimate input tokens and cost; send nothing."""
    prices = plan.prices or PriceTable.load()
    asker = _Asker(plan, None, RateLimiter())
    tokens = sum(asker.estimate_tokens(image) for image in plan.images)
    known = prices.knows(plan.model)
    factor = BATCH_PRICE_FACTOR if plan.batch else 1.0
    price = prices.cost(plan.model, tokens, 0) * factor
    cost = f"~${price:.4f}" if known else "cost unknown (no price)"
    if known and plan.batch:
        cost += " at the Batch API's half price"
    print(
        f"boxmask: dry run: {len(plan.images)} image(s), ~{tokens} input tokens on "
        f"{plan.model}, {cost} for the input (output tokens not estimated); nothing sent"
    )
    return 0
