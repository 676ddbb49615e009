"""``boxmask detect|segment|point`` with the answers journal, against the fake server:
resume after an interrupt, reuse rules, locks, faults, dry runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from boxmask.api import Client
from boxmask.batch.run import BatchOptions
from boxmask.cli.main import main
from boxmask.journal import Journal
from boxmask.request_run import RequestPlan, run_requests
from boxmask.testing.scenes import make_scene
from boxmask.testing.server import FakeGemini

KEY = "journal-test-key"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGemini]:
    with FakeGemini(api_keys=[KEY]) as server:
        yield server


@pytest.fixture
def env(tmp_path: Path, fake: FakeGemini, monkeypatch: pytest.MonkeyPatch) -> FakeGemini:
    fake.reset()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    monkeypatch.setenv("BOXMASK_BASE_URL", fake.base_url)
    return fake


def _images(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"img{i:04d}.png"
        path.write_bytes(
            make_scene(i, width=128, height=96, n_shapes=1 + i % 2, min_side=12).encode("PNG")
        )
        paths.append(path)
    return paths


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def test_a_folder_is_journaled_and_converts_to_the_same_coco(
    env: FakeGemini, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _images(tmp_path / "photos", 5)
    coco = tmp_path / "out" / "people.json"
    code = main(["segment", "photos", "shapes", "--coco", str(coco), "--quiet"])
    assert code == 0
    journal = tmp_path / "out" / "people.answers.jsonl"  # beside the COCO file
    lines = _lines(journal)
    assert len(lines) == 5 and len(env.model_requests()) == 5
    assert all(line["image"].startswith("../photos/") for line in lines)  # type: ignore[union-attr]
    assert all(line["sha256"] and line["usage"] and line["response"] for line in lines)
    assert KEY not in journal.read_text(encoding="utf-8")
    offline = tmp_path / "offline.json"
    assert main(["convert", "--manifest", str(journal), "--coco", str(offline), "--quiet"]) == 0
    assert offline.read_bytes() == coco.read_bytes()
    # Rerun: nothing is requested again, the same dataset is written.
    first = coco.read_bytes()
    assert main(["segment", "photos", "shapes", "--coco", str(coco), "--quiet"]) == 0
    assert len(env.model_requests()) == 5 and coco.read_bytes() == first
    assert "5 from the journal" in capsys.readouterr().err


def test_failed_ones_are_retried_and_other_prompts_not_reused(
    env: FakeGemini, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images = [str(p) for p in _images(tmp_path / "photos", 3)]
    journal = tmp_path / "answers.jsonl"
    env.add_fault("status", status=400, times=1)  # not retried within the run
    args = ["--answers", str(journal), "--quiet"]
    assert main(["detect", *images, "shapes", *args]) == 1
    assert "error" in capsys.readouterr().err
    assert sum("error" in line for line in _lines(journal)) == 1
    # A failed line converts as a failed row, not an abort.
    report = tmp_path / "report.json"
    offline = tmp_path / "x.json"
    code = main(["convert", "--manifest", str(journal), "--coco", str(offline),
                 "--report", str(report), "--quiet"])  # fmt: skip
    assert code in (0, 1) and json.loads(report.read_text())["summary"]["failed"] == 1
    assert len(json.loads(offline.read_text())["images"]) == 2
    assert main(["detect", *images, "shapes", *args]) == 0  # only the failed one again
    assert len(env.model_requests()) == 4
    assert main(["detect", *images, "other shapes", *args]) == 0  # another prompt
    assert main(["detect", *images, "shapes", "--max-items", "2", *args]) == 0  # option
    assert len(env.model_requests()) == 10


def test_a_torn_last_line_is_requested_again(
    env: FakeGemini, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images = [str(p) for p in _images(tmp_path / "photos", 3)]
    journal = tmp_path / "answers.jsonl"
    args = ["--answers", str(journal), "--quiet"]
    assert main(["point", *images, "shapes", *args]) == 0
    text = journal.read_text(encoding="utf-8")
    journal.write_text(text[: len(text) - 40], encoding="utf-8")  # died mid-write
    coco = tmp_path / "c.json"
    assert main(["point", *images, "shapes", *args, "--coco", str(coco)]) == 0
    assert "incomplete last line dropped" in capsys.readouterr().err
    assert len(env.model_requests()) == 4
    assert len(_lines(journal)) == 3 and len(json.loads(coco.read_text())["images"]) == 3


def test_a_locked_journal_is_refused(
    env: FakeGemini, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images = [str(p) for p in _images(tmp_path / "photos", 1)]
    journal = tmp_path / "answers.jsonl"
    with Journal(journal) as other_run:
        other_run.open()
        assert main(["detect", *images, "shapes", "--answers", str(journal)]) == 1
    err = capsys.readouterr().err
    assert "in use by another boxmask run" in err and "Traceback" not in err
    assert env.model_requests() == []


def test_an_unreadable_image_is_a_journaled_failure(
    env: FakeGemini, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a picture")
    good = _images(tmp_path / "photos", 1)[0]
    journal = tmp_path / "answers.jsonl"
    code = main(["detect", str(good), str(bad), str(tmp_path / "gone.png"), "shapes",
                 "--answers", str(journal), "--quiet"])  # fmt: skip
    assert code == 1
    lines = _lines(journal)
    assert len(lines) == 3 and sum("error" in line for line in lines) == 2


def test_a_429_storm_is_survived_with_a_shared_pause(
    env: FakeGemini, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images = [str(p) for p in _images(tmp_path / "photos", 4)]
    env.add_fault("status", status=429, times=4)
    journal = tmp_path / "answers.jsonl"
    code = main(["detect", *images, "shapes", "--answers", str(journal), "--rpm", "600"])
    assert code == 0, capsys.readouterr().err
    lines = _lines(journal)
    assert len(lines) == 4 and not any("error" in line for line in lines)
    assert len(env.model_requests()) == 8  # each 429 retried once more, nothing lost


def test_dry_run_sends_nothing(
    env: FakeGemini, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _images(tmp_path / "photos", 4)
    listing = tmp_path / "list.txt"
    listing.write_text("photos/img0000.png\nphotos/img0001.png\n")
    assert main(["detect", "photos", str(listing), "shapes", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "4 image(s)" in out and "input tokens" in out and "$" in out  # duplicates dropped
    assert env.model_requests() == [] and not (tmp_path / "boxmask-answers.jsonl").exists()


def _wait_for_lines(path: Path, count: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if path.exists() and path.read_bytes().count(b"\n") >= count:
            return
        time.sleep(0.02)  # polling the file, not synchronizing on time


def test_interrupt_and_resume_pay_each_image_once(tmp_path: Path) -> None:
    """The acceptance check: SIGINT a 120-image run halfway, rerun, count what was paid."""
    _images(tmp_path / "photos", 120)
    concurrency = 4
    with FakeGemini(api_keys=[KEY], latency=0.05) as fake:
        environment = {**os.environ, "GEMINI_API_KEY": KEY, "BOXMASK_BASE_URL": fake.base_url}
        command = [sys.executable, "-m", "boxmask.cli.main", "segment", "photos", "shapes",
                   "--coco", "out.json", "--overlay", "ov", "--concurrency", str(concurrency),
                   "--quiet"]  # fmt: skip
        journal = tmp_path / "out.answers.jsonl"
        process = subprocess.Popen(
            command, cwd=tmp_path, env=environment, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        _wait_for_lines(journal, 60, process)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=120)
        first = len(fake.model_requests())
        if process.returncode == 130:
            assert b"Run the same command again to resume" in err
            assert not (tmp_path / "out.json").exists()
        else:  # the run beat the signal: still a valid check of reuse below
            assert process.returncode == 0, err
        answered = len(_lines(journal))
        assert answered >= 60 and first <= answered + concurrency
        rerun = subprocess.run(command, cwd=tmp_path, env=environment, capture_output=True)
        assert rerun.returncode == 0, rerun.stderr
        paid = len(fake.model_requests())
    assert paid <= 120 + concurrency  # at most the ones in flight at the interrupt again
    assert paid == first + (120 - answered)  # the rerun asked only for the unanswered
    dataset = json.loads((tmp_path / "out.json").read_text())
    assert len(dataset["images"]) == 120
    assert len(list((tmp_path / "ov").glob("[!.]*"))) == 120
    offline = tmp_path / "offline.json"
    assert main(["convert", "--manifest", str(journal), "--coco", str(offline), "--quiet"]) == 0
    assert offline.read_bytes() == (tmp_path / "out.json").read_bytes()


class _Clock:
    """A clock that moves only when the run sleeps (records every wait, in seconds)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _plan(tmp_path: Path, images: list[str], **fields: object) -> RequestPlan:
    return RequestPlan(
        task="detect",
        what="shapes",
        images=images,
        journal=tmp_path / "answers.jsonl",
        outputs=BatchOptions(coco=tmp_path / "out.json"),
        model="gemini-2.5-flash",
        quiet=True,
        **fields,  # type: ignore[arg-type]
    )


def test_the_run_waits_as_the_server_asks(env: FakeGemini, tmp_path: Path) -> None:
    """Retry-After (seconds) and retry-after-ms are honoured by the run's own retry loop:
    a 503 waits that long on its worker, a 429 pauses every worker that long."""
    images = [str(p) for p in _images(tmp_path / "photos", 1)]
    env.add_fault("status", status=503, retry_after=7, times=1)
    env.add_fault("status", status=429, retry_after_ms=1500, times=1)
    clock = _Clock()
    client = Client(base_url=env.base_url, max_retries=0)
    code = run_requests(_plan(tmp_path, images), lambda: client, sleep=clock.sleep, clock=clock)
    assert code == 0
    assert len(env.model_requests()) == 3
    assert 7.0 in clock.sleeps and 1.5 in clock.sleeps


def test_a_wait_longer_than_the_cap_is_a_failed_line_saying_so(
    env: FakeGemini, tmp_path: Path
) -> None:
    images = [str(p) for p in _images(tmp_path / "photos", 1)]
    env.add_fault("status", status=429, retry_after=3600, times=1)
    clock = _Clock()
    client = Client(base_url=env.base_url, max_retries=0)
    code = run_requests(_plan(tmp_path, images), lambda: client, sleep=clock.sleep, clock=clock)
    assert code == 1 and clock.sleeps == [] and len(env.model_requests()) == 1
    (line,) = _lines(tmp_path / "answers.jsonl")
    assert "asks to wait 3600 s" in str(line["error"])
