"""The answers journal, the price table and the shared rate limiter, without a server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from boxmask.batch.jobs import jobs_from_manifest
from boxmask.batch.worker import WorkerOptions, convert_job
from boxmask.journal import Journal, JournalError, answer_key, file_sha256
from boxmask.pricing import PriceTable, usage_tokens
from boxmask.ratelimit import RateLimiter


def _entry(key: str, **extra: object) -> dict[str, object]:
    return {"image": "a.png", "key": key, "response": {"candidates": []}, **extra}


def test_append_index_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal(path) as journal:
        assert journal.open().answers == {}
        assert journal.append(_entry("k1")) == 1
        assert journal.append({"image": "b.png", "key": "k2", "error": "HTTP 500"}) == 2
        assert journal.append(_entry("k3")) == 3
    with Journal(path) as journal:
        index = journal.open()
        assert set(index.answers) == {"k1", "k3"} and index.failed == 1 and index.lines == 3
        line, offset = index.answers["k3"]
        assert line == 3 and journal.read(offset)["key"] == "k3"


def test_a_second_run_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal(path) as first:
        first.open()
        with pytest.raises(JournalError, match="in use by another boxmask run"):
            Journal(path).open()
    with Journal(path) as again:  # released on close
        again.open()


def test_a_torn_last_line_is_cut_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "j.jsonl"
    good = json.dumps(_entry("k1")) + "\n"
    path.write_text(good + json.dumps(_entry("k2"))[:25], encoding="utf-8")
    with Journal(path) as journal:
        index = journal.open()
        assert set(index.answers) == {"k1"} and index.lines == 1
        assert journal.append(_entry("k3")) == 2
    assert "j.jsonl:2: incomplete last line dropped" in capsys.readouterr().err
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["key"] for line in lines] == ["k1", "k3"]


def test_a_bad_middle_line_is_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "j.jsonl"
    path.write_text("[1]\n" + json.dumps(_entry("k1")) + "\n", encoding="utf-8")
    with Journal(path) as journal:
        index = journal.open()
    assert set(index.answers) == {"k1"} and index.answers["k1"][0] == 2 and index.skipped == 1
    assert "j.jsonl:1: not a JSON object" in capsys.readouterr().err


def test_keys_differ_by_model_prompt_and_options(tmp_path: Path) -> None:
    image = tmp_path / "x.bin"
    image.write_bytes(b"pixels")
    sha = file_sha256(image)
    assert len(sha) == 64
    base = answer_key(sha, "m", "p", {"max_items": 3})
    assert base == answer_key(sha, "m", "p", {"max_items": 3})
    others = [
        answer_key(sha, "m2", "p", {"max_items": 3}),
        answer_key(sha, "m", "p2", {"max_items": 3}),
        answer_key(sha, "m", "p", {"max_items": 4}),
        answer_key("0" * 64, "m", "p", {"max_items": 3}),
    ]
    assert base not in others


def test_a_failed_line_is_a_failed_job_and_extra_keys_are_ignored(tmp_path: Path) -> None:
    from boxmask.testing.scenes import make_scene

    (tmp_path / "a.png").write_bytes(make_scene(0, width=96, height=72, n_shapes=1).encode("PNG"))
    path = tmp_path / "j.jsonl"
    lines = [
        {"image": "a.png", "error": "HTTP 503", "sha256": "x", "model": "m", "usage": None},
        {"image": "a.png", "response": {"candidates": []}, "key": "k", "prompt": "p"},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    jobs = list(jobs_from_manifest(path))
    failed = convert_job((0, jobs[0], WorkerOptions(), None))
    assert failed.error is not None and "HTTP 503" in failed.error
    assert jobs[1].response == {"candidates": []} and jobs[1].image == str(tmp_path / "a.png")


def test_prices_usage_and_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert usage_tokens({"promptTokenCount": 10, "candidatesTokenCount": 3,
                         "thoughtsTokenCount": 2}) == (10, 5)  # fmt: skip
    assert usage_tokens({"total_input_tokens": 7, "total_output_tokens": 1}) == (7, 1)
    assert usage_tokens(None) == (0, 0)
    table = PriceTable({"m": (1.0, 2.0)})
    assert table.cost("models/m", 1_000_000, 500_000) == pytest.approx(2.0)
    assert table.cost("unknown", 10, 10) == 0.0 and not table.knows("unknown")
    override = tmp_path / "prices.json"
    override.write_text(json.dumps({"my-model": [3, 4]}))
    monkeypatch.setenv("BOXMASK_PRICES", str(override))
    loaded = PriceTable.load()
    assert loaded.knows("my-model") and loaded.knows("gemini-2.5-flash")
    override.write_text("{not json")
    with pytest.raises(Exception, match="USD per 1M tokens"):
        PriceTable.load()


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_rpm_budget_waits_for_the_window() -> None:
    clock = _Clock()
    limiter = RateLimiter(rpm=2, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    limiter.acquire()
    assert clock.slept == []
    limiter.acquire()  # the third request of the minute waits for the first to expire
    assert clock.now == pytest.approx(60.0)


def test_tpm_budget_and_a_request_bigger_than_the_budget() -> None:
    clock = _Clock()
    limiter = RateLimiter(tpm=1000, clock=clock, sleep=clock.sleep)
    limiter.acquire(600)
    clock.now = 10.0
    limiter.acquire(600)  # waits until the first 600 leave the window (t = 60)
    assert clock.now == pytest.approx(60.0)
    limiter.acquire(5000)  # alone once the window is empty
    assert clock.now == pytest.approx(120.0)


def test_a_429_pauses_every_worker_and_grows() -> None:
    clock = _Clock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    first = limiter.back_off()
    assert limiter.back_off() == pytest.approx(first)  # the same wave: one pause
    limiter.acquire()  # any worker now waits for the shared pause
    assert clock.now >= first and 0.5 <= first <= 1.0
    second = limiter.back_off()  # a new wave before any success: longer
    assert 1.0 <= second <= 2.0
    limiter.acquire()
    limiter.succeeded()
    assert limiter.back_off() <= 1.0


def test_batch_records_are_indexed_and_skipped_as_answers(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    job = {"journal": "batch_job", "batch": "batches/a", "items": [["x.png", "s"]]}
    with Journal(path) as journal:
        journal.open()
        journal.append(job)
        journal.append({**job, "batch": "batches/b"})
        journal.append(_entry("k1"))
        journal.append({"journal": "batch_done", "batch": "batches/a", "state": "X"})
        journal.append({"journal": "some_future_kind"})
    with Journal(path) as journal:
        index = journal.open()
    assert list(index.batches) == ["batches/b"] and index.batches["batches/b"]["items"]
    assert set(index.answers) == {"k1"} and index.failed == 0 and index.skipped == 0
    jobs = list(jobs_from_manifest(path))  # convert --manifest skips the records
    assert len(jobs) == 1 and jobs[0].error is None and jobs[0].source.endswith(":3")
