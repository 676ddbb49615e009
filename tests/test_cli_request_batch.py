"""``boxmask detect|segment|point --batch``: the Batch API path against the fake server,
which counts the jobs it created and the requests in them."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from boxmask.api import Client
from boxmask.batch.run import BatchOptions
from boxmask.cli.main import main
from boxmask.request_run import RequestPlan, run_requests
from boxmask.testing.scenes import make_scene
from boxmask.testing.server import FakeGemini

KEY = "batch-journal-key"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGemini]:
    with FakeGemini(api_keys=[KEY]) as server:
        yield server


@pytest.fixture
def env(tmp_path: Path, fake: FakeGemini, monkeypatch: pytest.MonkeyPatch) -> FakeGemini:
    fake.reset()
    fake.batch_polls = 2
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    monkeypatch.setenv("BOXMASK_BASE_URL", fake.base_url)
    return fake


def _images(folder: Path, count: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"img{i:04d}.png"
        scene = make_scene(100 + i, width=120, height=90, n_shapes=1 + i % 3, min_side=12)
        path.write_bytes(scene.encode("PNG"))
        paths.append(str(path))
    return paths


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _batch_requests(fake: FakeGemini) -> int:
    return sum(len(job.requests) for job in fake.batches.values())


def _plan(tmp_path: Path, images: list[str], **fields: object) -> RequestPlan:
    return RequestPlan(
        task="segment",
        what="shapes",
        images=images,
        journal=tmp_path / "answers.jsonl",
        outputs=BatchOptions(coco=tmp_path / "out.json"),
        model="gemini-2.5-flash",
        api="generate_content",
        batch=True,
        poll_interval=0.0,
        quiet=True,
        **fields,  # type: ignore[arg-type]
    )


def _run(plan: RequestPlan, fake: FakeGemini, sleep: Callable[[float], None]) -> int:
    client = Client(base_url=fake.base_url, api="generate_content")
    return run_requests(plan, lambda: client, sleep=sleep)


def test_a_batch_run_gives_the_online_dataset(
    env: FakeGemini, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _images(tmp_path / "photos", 20)
    online, batch = tmp_path / "online.json", tmp_path / "batch.json"
    common = ["segment", "photos", "shapes", "--api", "generate_content", "--quiet"]
    # One at a time: the online journal (and so the dataset) is then in input order.
    assert main([*common, "--coco", str(online), "--concurrency", "1"]) == 0
    assert len(env.model_requests()) == 20 and not env.batches
    env.reset()
    assert main([*common, "--coco", str(batch), "--batch", "--poll-interval", "0"]) == 0
    assert env.model_requests() == [] and len(env.batches) == 1 and _batch_requests(env) == 20
    assert batch.read_bytes() == online.read_bytes()
    journal = tmp_path / "batch.answers.jsonl"
    lines = _lines(journal)
    records = [line for line in lines if "journal" in line]
    assert [r["journal"] for r in records] == ["batch_job", "batch_done"]
    answers = [line for line in lines if "journal" not in line]
    assert len(answers) == 20 and all(a["response"] and a["usage"] for a in answers)
    assert KEY not in journal.read_text(encoding="utf-8")
    # The journal converts offline to the same dataset; the records are skipped.
    offline = tmp_path / "offline.json"
    assert main(["convert", "--manifest", str(journal), "--coco", str(offline), "--quiet"]) == 0
    assert offline.read_bytes() == batch.read_bytes()
    # A rerun pays for nothing: no new job, nothing online.
    assert main([*common, "--coco", str(batch), "--batch", "--poll-interval", "0"]) == 0
    assert len(env.batches) == 1 and env.model_requests() == []
    assert "20 from the journal" in capsys.readouterr().err


def test_interrupted_while_polling_reattaches_and_pays_once(
    env: FakeGemini, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images = _images(tmp_path / "photos", 20)
    env.batch_polls = 3
    plan = _plan(tmp_path, images)

    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    assert _run(plan, env, interrupt) == 130
    err = capsys.readouterr().err
    assert "keeps running on the service" in err and "reattach" in err
    assert not (tmp_path / "out.json").exists()
    (record,) = _lines(tmp_path / "answers.jsonl")  # the job, journaled at once
    assert record["journal"] == "batch_job" and str(record["batch"]).startswith("batches/")
    waits: list[float] = []
    assert _run(plan, env, waits.append) == 0
    assert len(env.batches) == 1 and _batch_requests(env) == 20  # one job, one request each
    assert env.model_requests() == []
    assert waits and all(w >= 0 for w in waits)
    dataset = json.loads((tmp_path / "out.json").read_text())
    assert len(dataset["images"]) == 20
    assert _run(plan, env, waits.append) == 0  # done: neither a new job nor a poll
    assert len(env.batches) == 1


def test_a_per_request_error_is_a_failed_row_retried_by_a_new_job(
    env: FakeGemini, tmp_path: Path
) -> None:
    images = _images(tmp_path / "photos", 4)
    plan = _plan(tmp_path, images, upload=True)  # images through the Files API

    def expire_one_image(seconds: float) -> None:  # the job runs after this poll
        for stored in list(env.files.values()):
            if (stored.display_name or "").endswith("img0002.png"):
                env.expire_file(stored.id)

    assert _run(plan, env, expire_one_image) == 1
    answers = [line for line in _lines(tmp_path / "answers.jsonl") if "journal" not in line]
    failed = [a for a in answers if "error" in a]
    assert len(answers) == 4 and len(failed) == 1
    assert str(failed[0]["image"]).endswith("img0002.png")
    assert "PERMISSION_DENIED" in str(failed[0]["error"])
    report = json.loads((tmp_path / "out.json").read_text())
    assert len(report["images"]) == 3
    # The rerun asks only for the failed image, in a new job (the old one is closed).
    assert _run(plan, env, lambda s: None) == 0
    assert len(env.batches) == 2 and _batch_requests(env) == 5
    assert len(json.loads((tmp_path / "out.json").read_text())["images"]) == 4


@pytest.mark.parametrize("state", ["EXPIRED", "FAILED", "CANCELLED"])
def test_a_job_that_ends_badly_fails_its_images_and_a_rerun_retries(
    env: FakeGemini, tmp_path: Path, state: str
) -> None:
    images = _images(tmp_path / "photos", 3)
    plan = _plan(tmp_path, images)

    def end_the_job(seconds: float) -> None:
        for job in env.batches.values():
            env.finish_batch(job.name, state)

    assert _run(plan, env, end_the_job) == 1
    answers = [line for line in _lines(tmp_path / "answers.jsonl") if "journal" not in line]
    assert len(answers) == 3
    assert all(f"ended BATCH_STATE_{state}" in str(a["error"]) for a in answers)
    assert _run(plan, env, lambda s: None) == 0
    assert len(env.batches) == 2


def test_unbatchable_images_are_failed_lines_and_the_rest_go(
    env: FakeGemini, tmp_path: Path
) -> None:
    good = _images(tmp_path / "photos", 2)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a picture")
    images = [*good, str(bad), str(tmp_path / "gone.png"), "https://example.com/a.png"]
    assert _run(_plan(tmp_path, images), env, lambda s: None) == 1
    answers = [line for line in _lines(tmp_path / "answers.jsonl") if "journal" not in line]
    assert len(answers) == 5 and sum("error" in a for a in answers) == 3
    assert _batch_requests(env) == 2


def test_batch_dry_run_prices_at_half(
    env: FakeGemini, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _images(tmp_path / "photos", 2)
    assert main(["detect", "photos", "shapes", "--batch", "--dry-run"]) == 0
    assert "half price" in capsys.readouterr().out
    assert not env.batches
