"""The ordered process pool: order, window, lost workers, workers dying with the parent.

Worker functions live at module level here so that a forkserver/spawn worker imports
them; no production code knows about them. Timeouts are hang guards only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from boxmask.batch.pool import ordered_map
from tests.fixture_paths import ROOT

Failure = tuple[str, Any, str, bool]


def _failed(item: Any, message: str, worker_lost: bool) -> Failure:
    return ("failed", item, message, worker_lost)


def double(item: int) -> int:
    return item * 2


def kill_on_seven(item: int) -> int:
    """Kills its own worker process on item 7, as the out-of-memory killer would."""
    if item == 7:
        os.kill(os.getpid(), signal.SIGKILL)
    return item * 2


def kill_once(item: tuple[int, str]) -> int:
    """Kills its worker the first time it sees a marker-less item (then succeeds)."""
    number, marker = item
    if marker and not os.path.exists(marker):
        Path(marker).write_text("killed once")
        os.kill(os.getpid(), signal.SIGKILL)
    return number


def raise_on_three(item: int) -> int:
    if item == 3:
        raise ValueError("three")
    return item


def worker_pid(item: int) -> int:
    return os.getpid()


def kind_name(item: Any) -> str:
    return type(item).__name__


@pytest.mark.parametrize("workers", [1, 3])
def test_results_come_in_input_order(workers: int) -> None:
    items = iter(range(500))  # an iterator: read lazily, never as a whole list
    out = list(ordered_map(double, items, workers=workers, on_failure=_failed, chunk=4))
    assert out == [2 * i for i in range(500)]


def test_at_most_window_items_are_taken_from_the_input_ahead_of_the_consumer() -> None:
    taken: list[int] = []

    def source() -> Any:
        for i in range(1000):
            taken.append(i)
            yield i

    results = ordered_map(double, source(), workers=2, on_failure=_failed, chunk=4, window=16)
    for count, value in enumerate(results, start=1):
        assert value == 2 * (count - 1)
        assert len(taken) - count <= 16
        if count == 100:
            break
    results.close()


def test_a_job_that_kills_its_worker_twice_fails_and_the_rest_go_on() -> None:
    """Regression: a worker killed by SIGKILL made multiprocessing.Pool wait forever."""
    out = list(ordered_map(kill_on_seven, range(40), workers=2, on_failure=_failed, chunk=4))
    assert len(out) == 40
    assert [v for i, v in enumerate(out) if i != 7] == [2 * i for i in range(40) if i != 7]
    kind, item, message, worker_lost = out[7]
    assert (kind, item, worker_lost) == ("failed", 7, True)
    assert "killed by SIGKILL" in message and "lost 2 times" in message


def test_a_job_that_kills_its_worker_once_runs_again(tmp_path: Path) -> None:
    items = [(i, str(tmp_path / "marker") if i == 5 else "") for i in range(20)]
    out = list(ordered_map(kill_once, items, workers=2, on_failure=_failed, chunk=4))
    assert out == list(range(20))
    assert (tmp_path / "marker").exists()  # it did kill a worker


@pytest.mark.parametrize("workers", [1, 2])
def test_a_raising_function_gives_a_failure_not_an_exception(workers: int) -> None:
    out = list(ordered_map(raise_on_three, range(6), workers=workers, on_failure=_failed))
    assert out[:3] == [0, 1, 2] and out[4:] == [4, 5]
    assert out[3][0] == "failed" and "ValueError('three')" in out[3][2] and not out[3][3]


def test_an_item_that_cannot_be_pickled_runs_in_the_parent() -> None:
    deep: list[Any] = []
    for _ in range(50_000):  # far past pickle's recursion limit
        deep = [deep]
    items: list[Any] = [1, deep, "x", lambda: None]
    out = list(ordered_map(kind_name, items, workers=2, on_failure=_failed))
    assert out == ["int", "list", "str", "function"]


def test_workers_are_gone_when_the_consumer_stops_early() -> None:
    results = ordered_map(worker_pid, range(1000), workers=2, on_failure=_failed, chunk=2)
    pids = {next(results) for _ in range(50)}
    results.close()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def sleep_long(item: int) -> int:
    if item >= 4:
        import time

        time.sleep(600)
    return os.getpid()


_PARENT = textwrap.dedent(
    """
    import sys
    from boxmask.batch.pool import ordered_map
    from tests.test_batch_pool import _failed, sleep_long

    if __name__ == "__main__":
        results = ordered_map(sleep_long, range(100), workers=2, on_failure=_failed, chunk=1)
        for _ in range(4):
            print(next(results), flush=True)
        print("busy", flush=True)
        for _ in results:
            pass
    """
)


def test_workers_die_with_a_killed_parent(tmp_path: Path) -> None:
    """Regression: a SIGKILLed parent left workers holding its stdout/stderr, so whoever
    waited for the end of those pipes (a shell, ``communicate()``) waited forever."""
    script = tmp_path / "parent.py"
    script.write_text(_PARENT)
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    guard = threading.Timer(300, proc.kill)  # a hang guard only: a parent that never gets busy
    guard.start()
    try:
        lines = [proc.stdout.readline() for _ in range(5)]
    finally:
        guard.cancel()
    assert lines[-1] == "busy\n", lines
    # The workers are now asleep inside jobs: only the parent-death guard can end them.
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=120)  # the pipes end only when no worker holds them
    assert proc.returncode == -signal.SIGKILL
