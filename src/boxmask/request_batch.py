"""``boxmask detect|segment|point --batch``: the requests as one Gemini Batch API job.

The images not answered in the journal become the lines of a JSONL input (the same
``generateContent`` request the online path sends, built by
:meth:`boxmask.Client.generate_request`), uploaded through the Files API; the job is
created and its name journaled **at once** (a ``batch_job`` record, see
:mod:`boxmask.journal`). The job is polled with a growing interval (``poll_interval``
seconds, ×1.5 per poll, 5 minutes at most); its results are journaled as ordinary answer
lines (or failed lines: a per-request error, a failed, cancelled or expired job) and fed
to the same writers, then a ``batch_done`` record closes the job.

Ctrl-C (or SIGTERM) while waiting leaves the job running on the service: rerunning the
same command reattaches to the journaled job (same model, prompt and options) instead of
creating and paying for a new one. Images a job did not answer are requested by a new
job on the next run.
"""

from __future__ import annotations

import mmap
import sys
import tempfile
import time
from typing import TYPE_CHECKING, Any

from boxmask.errors import BoxmaskError, NotFoundError

if TYPE_CHECKING:  # pragma: no cover
    from boxmask.api.batches import BatchJob, BatchResult
    from boxmask.journal import JournalIndex
    from boxmask.request_run import RequestPlan, _Asker, _Run

__all__ = ["MAX_POLL_INTERVAL", "request_batch"]

#: The longest wait between two polls of a job, in seconds.
MAX_POLL_INTERVAL = 300.0


def request_batch(
    plan: RequestPlan,
    run: _Run,
    asker: _Asker,
    todo: list[tuple[str, str | None]],
    index: JournalIndex,
) -> None:
    """Answer ``todo`` ((image, sha256) pairs) through the Batch API: first any job
    a previous run left open for this model, prompt and options, then a new one for
    what is still unanswered."""
    waiting = {(asker.entry(image, sha, run.base)["image"], sha): image for image, sha in todo}
    answered = set(index.answers)
    for name, record in list(index.batches.items()):
        if _same_request(record, asker):
            _note(plan, f"reattaching to {name} (journaled by an earlier run)")
            _finish_job(plan, run, asker, (name, record), waiting, answered, reattached=True)
    if waiting:
        created, new_record = _start_job(plan, run, asker, waiting)
        if created is not None:
            _finish_job(plan, run, asker, (created, new_record), waiting, answered,
                        reattached=False)  # fmt: skip


def _same_request(record: dict[str, Any], asker: _Asker) -> bool:
    return (
        record.get("model") == asker.plan.model
        and record.get("prompt") == asker.prompt.text
        and record.get("options") == asker.options
    )


def _note(plan: RequestPlan, text: str) -> None:
    if not plan.quiet:
        print(f"boxmask: {text}", file=sys.stderr)


def _fail(run: _Run, asker: _Asker, image: str, sha: str | None, error: str, **more: Any) -> None:
    """Journal and feed one failed image (retried by the next run)."""
    entry = {**asker.entry(image, sha, run.base), **more, "error": error}
    run.feed(run.journal.append(entry), entry, image, reused=False)


def _start_job(
    plan: RequestPlan, run: _Run, asker: _Asker, waiting: dict[tuple[str, str | None], str]
) -> tuple[str | None, dict[str, Any]]:
    """Build the input, upload it, create the job and journal its record; returns the
    job name (None when no image could go into it) and the record."""
    from boxmask.api.batches import request_line

    client = asker.client
    items: list[list[str | None]] = []
    # The input goes to a temporary file beside the journal, uploaded through an mmap:
    # memory does not grow with the number of (inline) images.
    with tempfile.TemporaryFile(dir=run.journal.path.parent, prefix=".boxmask-batch-") as spool:
        for (field, sha), image in list(waiting.items()):
            problem = _unbatchable(image, sha)
            request = None
            if problem is None:
                parts, settings = asker.request_args(image)
                try:
                    request = client.generate_request(parts, model=plan.model, **settings)
                except (BoxmaskError, OSError, ValueError) as exc:
                    problem = str(exc) or type(exc).__name__
            if request is None:
                del waiting[(field, sha)]
                _fail(run, asker, image, sha, problem or "not sent")
                continue
            spool.write(request_line(str(len(items)), request))
            items.append([field, sha])
        if not items:
            return None, {}
        spool.flush()
        label = f"boxmask-{plan.task}-{len(items)}"
        with mmap.mmap(spool.fileno(), 0, access=mmap.ACCESS_READ) as data:
            upload = client.batches.upload_requests(data, display_name=label + ".jsonl")
    job = client.batches.create(upload.name, model=plan.model, display_name=label)
    record = {"journal": "batch_job", "batch": job.name, "input_file": upload.name,
              "model": plan.model, "prompt": asker.prompt.text, "options": asker.options,
              "created": round(time.time(), 3), "items": items}  # fmt: skip
    run.journal.append(record)  # at once: an interrupted run reattaches to this job
    _note(plan, f"batch job {job.name} created for {len(items)} image(s); journaled in "
                f"{run.journal.path}")  # fmt: skip
    return job.name, record


def _unbatchable(image: str, sha: str | None) -> str | None:
    from boxmask.api.images import is_url

    if is_url(image) or image.startswith("files/"):
        return "--batch sends local image files only (drop --batch for URLs and Files API names)"
    if sha is None:
        return f"cannot read {image}"
    return None


def _finish_job(
    plan: RequestPlan,
    run: _Run,
    asker: _Asker,
    job_record: tuple[str, dict[str, Any]],
    waiting: dict[tuple[str, str | None], str],
    answered: set[str],
    *,
    reattached: bool,
) -> None:
    """Wait for the job, journal and feed its answers (``answered``: reuse keys already
    journaled), close its record."""
    name, record = job_record
    try:
        job = _wait(plan, run, asker, name)
    except NotFoundError:
        job = None
    except KeyboardInterrupt:
        print(
            f"boxmask: the batch job {name} keeps running on the service; run the same "
            "command again to reattach to it (it is not created or paid for again)",
            file=sys.stderr,
        )
        raise
    items = [i if isinstance(i, list) else [] for i in record.get("items") or []]
    journal_item = _ItemJournal(run, asker, name, items, waiting, answered)
    journal_item.started = float(record.get("created") or time.time())
    why = f"the batch job {name} is gone (deleted, or older than its retention)"
    done: set[int] = set()
    if job is not None and job.state == "BATCH_STATE_SUCCEEDED":
        why = f"the batch job {name} returned no result for this request"
        for result in asker.client.batches.results(job):  # journaled as they are read
            number = int(result.key) if result.key and result.key.isdigit() else -1
            if 0 <= number < len(items) and number not in done:
                done.add(number)
                journal_item(number, result, why)
    elif job is not None:
        why = f"the batch job {name} ended {job.state}" + (f": {job.error}" if job.error else "")
    for number in range(len(items)):
        if number not in done:
            journal_item(number, None, why)
    state = job.state if job is not None else "NOT_FOUND"
    run.journal.append({"journal": "batch_done", "batch": name, "state": state})
    if reattached:
        _note(plan, f"{name} {state}: its answers are journaled")


class _ItemJournal:
    """Journals (and feeds) the result of one request of a job, by its item number."""

    def __init__(
        self,
        run: _Run,
        asker: _Asker,
        name: str,
        items: list[list[Any]],
        waiting: dict[tuple[str, str | None], str],
        answered: set[str],
    ) -> None:
        self.run, self.asker, self.name, self.items = run, asker, name, items
        self.waiting, self.answered = waiting, answered
        self.started = time.time()

    def __call__(self, number: int, result: BatchResult | None, why: str) -> None:
        field, sha = [*self.items[number], None, None][:2]
        if not isinstance(field, str):
            return
        image = self.waiting.pop((field, sha), None)
        key = self.asker.key(sha) if isinstance(sha, str) else None
        if image is None and (key is None or key in self.answered):
            return  # answered already
        entry = _answer_entry(self.asker, self.run, image or field, sha, result, why)
        entry.update(image=field, batch=self.name, started=round(self.started, 3),
                     seconds=round(time.time() - self.started, 3))  # fmt: skip
        line = self.run.journal.append(entry)
        if key is not None and "response" in entry:
            self.answered.add(key)
        if image is not None:
            self.run.feed(line, entry, image, reused=False)
        # else: paid for but not asked for by this command: journaled, not in its outputs


def _answer_entry(
    asker: _Asker,
    run: _Run,
    image: str,
    sha: str | None,
    result: BatchResult | None,
    why: str,
) -> dict[str, Any]:
    """The journal line of one batch result: the same fields as an online answer."""
    from boxmask.api.tasks import raise_for_answer
    from boxmask.api.wire import read_answer

    entry = asker.entry(image, sha, run.base)
    if result is None:
        entry["error"] = why
        return entry
    if result.response is None:
        entry["error"] = f"the batch request failed: {result.error}"
        return entry
    try:
        answer = read_answer("generate_content", result.response)
        raise_for_answer(answer, f"batch answer for {entry['image']}")
    except (BoxmaskError, ValueError) as exc:
        entry["error"] = str(exc)
        return entry
    entry.update(response=result.response, usage=answer.usage, finish_reason=answer.finish_reason)
    return entry


def _wait(plan: RequestPlan, run: _Run, asker: _Asker, name: str) -> BatchJob:
    """Poll until the job is done; the state shows in the progress."""
    delay = max(0.0, plan.poll_interval)
    polls = 0
    last = ""
    while True:
        job = asker.client.batches.get(name)
        polls += 1
        if job.state != last and run.progress is not None:
            run.progress.note(f"{name}: {job.state.removeprefix('BATCH_STATE_')}")
            last = job.state
        if job.done:
            return job
        asker.sleep(delay)
        delay = min(max(delay, 1.0) * 1.5, MAX_POLL_INTERVAL)
