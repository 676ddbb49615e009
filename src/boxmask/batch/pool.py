"""An ordered, windowed map over worker processes that survives a lost worker.

:func:`ordered_map` runs ``func`` on each item in worker processes and yields the results
in input order, with a bounded number of items in flight (flat memory however long the
input). It is the one process pool of boxmask (batch conversion, evaluation parsing).

What :class:`multiprocessing.Pool` does not do, and this does:

- **A lost worker does not hang the run.** A worker killed mid-item (SIGKILL from the
  out-of-memory killer, a crash in native code) is replaced; each worker runs its items
  one after the other and sends each result as soon as it is done, so the item it was on
  is known exactly. That item runs once more; when it loses a worker a second time it
  gets ``on_failure(item, message, True)``, the message naming the signal or exit code.
  The other items that were queued on the lost worker run again without blame.
- **Workers die with the parent.** A worker holds the parent's stdout/stderr, so one
  outliving a killed parent keeps the parent's pipes open and a caller waiting for their
  end waits forever. Each worker watches a lifeline pipe only the parent writes to, and on
  Linux also asks the kernel for SIGKILL when its parent process goes
  (``PR_SET_PDEATHSIG``); on a normal end the parent stops them, on an exception or
  Ctrl-C it terminates them.
- **An item that cannot travel is not a crash.** An item that cannot be pickled (e.g. a
  JSON value nested deeper than pickle's recursion allows) runs in the parent; a result
  that cannot be pickled back, or ``func`` raising, gives ``on_failure(item, message,
  False)``.

Workers ignore SIGINT: Ctrl-C reaches the parent only, which stops them and re-raises.
Worker processes start with forkserver (spawn where there is none): a script calling
this with ``workers > 1`` needs the usual ``if __name__ == "__main__":`` guard, and
``func`` must be importable (a module-level function).
"""

from __future__ import annotations

import collections
import contextlib
import multiprocessing
import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any, Generic, TypeVar

__all__ = ["ordered_map"]

T = TypeVar("T")
R = TypeVar("R")

#: How many times an item may lose its worker before it is failed.
ATTEMPTS = 2
#: Chunks queued on one worker at a time (the next is there when the current one ends).
QUEUED_CHUNKS = 2
#: Seconds a stopping worker gets to exit before it is terminated, then killed.
STOP_GRACE = 5.0


def ordered_map(
    func: Callable[[T], R],
    items: Iterable[T],
    *,
    workers: int,
    on_failure: Callable[[T, str, bool], R],
    chunk: int = 8,
    window: int | None = None,
    initializer: Callable[..., object] | None = None,
    initargs: tuple[Any, ...] = (),
    preload: Sequence[str] = (),
) -> Generator[R, None, None]:
    """``func(item)`` for every item, in input order, on ``workers`` processes.

    With ``workers <= 1`` everything runs here, in this process, without helper threads
    (as a worker would). Items travel ``chunk`` at a time; at most ``window`` items (by
    default 4 chunks per worker) are in flight, results waiting for an earlier item
    included. ``on_failure(item, message, worker_lost)`` gives the result standing in for
    an item that has none (see the module doc). ``initializer(*initargs)`` runs in each
    worker; ``preload`` names modules the forkserver imports once for all workers.
    """
    if workers <= 1:
        from boxmask.threads import using

        with using(1):
            for item in items:
                yield _run_here(func, item, on_failure)
        return
    pool = _Pool(func, workers, on_failure, chunk, initializer, initargs, preload)
    try:
        yield from pool.results(iter(items), window or workers * 4 * chunk)
    except BaseException:
        pool.terminate()
        raise
    else:
        pool.stop()


def _run_here(func: Callable[[T], R], item: T, on_failure: Callable[[T, str, bool], R]) -> R:
    try:
        return func(item)
    except Exception as exc:  # func's contract is not to raise; keep the run going
        return on_failure(item, _bounded(f"internal error: {exc!r}"), False)


class _Worker:
    """One worker process with its task queue, result pipe and the items queued on it."""

    def __init__(self, context: Any, pool: _Pool[Any, Any]) -> None:
        self.tasks = context.Queue()
        self.results, sender = context.Pipe(duplex=False)
        self.process = context.Process(
            target=_serve,
            args=(pool.func, self.tasks, sender, pool.lifeline, pool.initializer, pool.initargs),
            daemon=True,
        )
        self.process.start()
        sender.close()  # the worker holds the only writing end now
        #: Sequence numbers sent to this worker and not yet answered, in its order.
        self.queued: collections.deque[int] = collections.deque()

    def close(self) -> None:
        self.tasks.close()
        self.tasks.cancel_join_thread()  # never wait to feed a worker that is gone
        self.results.close()


class _Pool(Generic[T, R]):
    def __init__(
        self,
        func: Callable[[T], R],
        workers: int,
        on_failure: Callable[[T, str, bool], R],
        chunk: int,
        initializer: Callable[..., object] | None,
        initargs: tuple[Any, ...],
        preload: Sequence[str],
    ) -> None:
        method = (
            "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        )
        self.context: Any = multiprocessing.get_context(method)
        if method == "forkserver" and preload:
            self.context.set_forkserver_preload(list(preload))
        self.func, self.on_failure, self.chunk = func, on_failure, chunk
        self.initializer, self.initargs = initializer, initargs
        # Workers read the lifeline; only this process writes it, so it ends with us.
        self.lifeline, self._lifeline_end = self.context.Pipe(duplex=False)
        self.workers: list[_Worker] = []
        try:
            for _ in range(workers):
                self.workers.append(_Worker(self.context, self))
        except BaseException:
            self.terminate()
            raise
        self.items: dict[int, T] = {}  # in flight, by sequence number
        self.done: dict[int, R] = {}
        self.retry: collections.deque[int] = collections.deque()
        self.losses: collections.Counter[int] = collections.Counter()

    def results(self, items: Iterator[T], window: int) -> Iterator[R]:
        next_in = next_out = 0
        exhausted = False
        while True:
            while not exhausted and len(self.items) < window:
                item = next(items, _END)
                if item is _END:
                    exhausted = True
                    break
                self.items[next_in] = item  # type: ignore[assignment]
                self.retry.append(next_in)
                next_in += 1
            self._dispatch()
            if next_out in self.done:
                while next_out in self.done:
                    del self.items[next_out]
                    yield self.done.pop(next_out)
                    next_out += 1
                continue  # room in the window again: fill it before waiting
            if exhausted and not self.items:
                return
            self._receive()

    def _dispatch(self) -> None:
        """Send the items waiting to be run, a chunk at a time, to workers with room."""
        for worker in self.workers:
            while self.retry and len(worker.queued) < QUEUED_CHUNKS * self.chunk:
                seqs = [self.retry.popleft() for _ in range(min(self.chunk, len(self.retry)))]
                self._send(worker, seqs)

    def _send(self, worker: _Worker, seqs: list[int]) -> None:
        """Queue ``seqs`` on ``worker``. Each item is pickled on its own, so that the
        worker unpickles it just before running it (an item that kills its worker even
        while it is unpickled is the one blamed); one that cannot be pickled runs here."""
        chunk: list[tuple[int, bytes]] = []
        for seq in seqs:
            try:
                chunk.append((seq, pickle.dumps(self.items[seq], protocol=pickle.HIGHEST_PROTOCOL)))
            except Exception:  # RecursionError (deep nesting), PicklingError, TypeError, ...
                self.done[seq] = _run_here(self.func, self.items[seq], self.on_failure)
        if chunk:
            worker.tasks.put(chunk)
            worker.queued.extend(seq for seq, _ in chunk)

    def _receive(self) -> None:
        """Wait for results or a lost worker (busy or idle), and take what came."""
        busy = [w.results for w in self.workers if w.queued]
        if not busy:  # pragma: no cover - every item in flight is queued on a worker
            raise RuntimeError("process pool: items in flight but no worker holds them")
        ready = set(wait(busy + [w.process.sentinel for w in self.workers]))
        for worker in list(self.workers):
            lost = worker.process.sentinel in ready
            if worker.results in ready:
                try:
                    self._take(worker)
                except (EOFError, OSError):  # the pipe broke: the worker is going
                    lost = True
            if lost:
                self._replace(worker)

    def _take(self, worker: _Worker) -> None:
        """Read one result (more while they are there) from ``worker``."""
        while True:
            seq, ok, value = pickle.loads(worker.results.recv_bytes())
            if worker.queued.popleft() != seq:  # pragma: no cover - a worker keeps order
                raise RuntimeError("process pool: a worker answered out of order")
            self.done[seq] = value if ok else self.on_failure(self.items[seq], value, False)
            if not worker.results.poll():
                return

    def _replace(self, worker: _Worker) -> None:
        """``worker`` is gone: take what it sent, blame the item it was on, start another."""
        with contextlib.suppress(EOFError, OSError):
            if worker.results.poll():
                self._take(worker)
        worker.process.join(STOP_GRACE)
        if worker.process.is_alive():  # its pipe broke but it lingers: it is of no use
            worker.process.kill()
            worker.process.join()
        how = _exit_description(worker.process.exitcode)
        if worker.queued:
            culprit = worker.queued.popleft()
            self.losses[culprit] += 1
            if self.losses[culprit] >= ATTEMPTS:
                message = (
                    f"the worker process running this job was lost {ATTEMPTS} times ({how}); "
                    "the job was not run again"
                )
                self.done[culprit] = self.on_failure(self.items[culprit], message, True)
            else:
                worker.queued.appendleft(culprit)
            self.retry.extendleft(reversed(worker.queued))  # first in line, in order
        worker.close()
        self.workers[self.workers.index(worker)] = _Worker(self.context, self)

    def stop(self) -> None:
        """The normal end: each worker is told to exit, then waited for."""
        for worker in self.workers:
            with contextlib.suppress(Exception):
                worker.tasks.put(None)
        for worker in self.workers:
            worker.process.join(STOP_GRACE)
        self.terminate()

    def terminate(self) -> None:
        """Stop every worker now (an exception, Ctrl-C, SIGTERM)."""
        for worker in self.workers:
            if worker.process.is_alive():
                worker.process.terminate()
        for worker in self.workers:
            worker.process.join(STOP_GRACE)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.close()
        self._lifeline_end.close()
        self.lifeline.close()


_END: Any = object()


def _bounded(text: str, limit: int = 2000) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _exit_description(code: int | None) -> str:
    if code is None:
        return "it stopped answering"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        why = ", e.g. by the out-of-memory killer" if -code == signal.SIGKILL else ""
        return f"killed by {name}{why}"
    return f"it exited with code {code}"


def _serve(
    func: Callable[[Any], Any],
    tasks: Any,
    results: Connection,
    lifeline: Connection,
    initializer: Callable[..., object] | None,
    initargs: tuple[Any, ...],
) -> None:
    """A worker's life: run the chunks it is sent, one result message per item."""
    _die_with_parent(lifeline)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    if initializer is not None:
        initializer(*initargs)
    while True:
        data = tasks.get()
        if data is None:
            return
        for seq, item in data:
            results.send_bytes(_run_in_worker(func, seq, item))


def _run_in_worker(func: Callable[[Any], Any], seq: int, item: bytes) -> bytes:
    """The pickled ``(seq, ok, result or message)`` answer for one pickled item."""
    try:
        result = func(pickle.loads(item))
    except Exception as exc:  # func's contract is not to raise; keep the run going
        return pickle.dumps((seq, False, _bounded(f"internal error: {exc!r}")))
    try:
        return pickle.dumps((seq, True, result), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # RecursionError, PicklingError, ...
        text = f"the job's result could not be sent back from its worker: {exc!r}"
        return pickle.dumps((seq, False, _bounded(text)))


def _die_with_parent(lifeline: Connection) -> None:
    """End this worker when the parent process goes, even if the parent was SIGKILLed."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            pr_set_pdeathsig = 1
            libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)

    def watch() -> None:
        with contextlib.suppress(EOFError, OSError):
            lifeline.recv_bytes()  # nothing is ever sent: this returns when the parent ends
        os._exit(1)

    threading.Thread(target=watch, name="boxmask-lifeline", daemon=True).start()
