"""``client.batches`` (boxmask.api.batches) against the fake service: the Batch API on
boxmask's own httpx client, no google-genai needed."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from boxmask.api import Client
from boxmask.api.batches import BatchJob, read_results, request_line
from boxmask.errors import NotFoundError
from boxmask.testing.scenes import make_scene
from boxmask.testing.server import FakeGemini

KEY = "batches-api-key"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGemini]:
    with FakeGemini(api_keys=[KEY], batch_polls=2) as server:
        yield server


@pytest.fixture
def client(fake: FakeGemini) -> Iterator[Client]:
    fake.reset()
    fake.batch_polls = 2
    with Client(KEY, base_url=fake.base_url, api="generate_content") as c:
        yield c


def _request(client: Client, seed: int) -> dict[str, object]:
    image = make_scene(seed, width=100, height=80, n_shapes=2).encode("PNG")
    return client.generate_request(["Detect the 2d bounding boxes of the shapes", image])


def test_a_job_runs_and_its_keyed_results_come_back(client: Client, fake: FakeGemini) -> None:
    lines = [request_line(f"k{i}", _request(client, i)) for i in range(3)]
    lines.insert(1, b"{broken\n")  # a bad line is an error result, not a failed job
    upload = client.batches.upload_requests(b"".join(lines), display_name="in.jsonl")
    assert upload.mime_type == "application/jsonl" and upload.state == "ACTIVE"
    job = client.batches.create(upload, display_name="shapes")
    assert job.name.startswith("batches/") and job.state == "BATCH_STATE_PENDING"
    assert not job.done and job.display_name == "shapes" and job.requests == 4
    with pytest.raises(ValueError, match="no results file"):
        list(client.batches.results(job))
    states = [client.batches.get(job.name).state, client.batches.get(job.name.split("/")[1]).state]
    assert states == ["BATCH_STATE_RUNNING", "BATCH_STATE_SUCCEEDED"]
    done = client.batches.get(job.name)
    assert done.done and done.succeeded == 3 and done.failed == 1 and done.responses_file
    results = list(client.batches.results(done))
    assert [r.key for r in results] == ["k0", None, "k1", "k2"]
    assert results[1].response is None and "INVALID_ARGUMENT" in str(results[1].error)
    assert all(r.response and r.response["candidates"] for r in results if r.key)
    assert fake.model_requests() == []  # batch items are not online calls


def test_cancel_and_a_failed_job(client: Client, fake: FakeGemini) -> None:
    data = request_line("a", _request(client, 1))
    first = client.batches.create(client.batches.upload_requests(data))
    client.batches.cancel(first.name)
    cancelled = client.batches.get(first.name)
    assert cancelled.state == "BATCH_STATE_CANCELLED" and cancelled.responses_file is None
    second = client.batches.create(client.batches.upload_requests(data))
    fake.finish_batch(second.name, "FAILED")
    failed = client.batches.get(second.name)
    assert failed.done and failed.error and "failed" in failed.error


def test_a_missing_job_is_not_found_without_the_key(client: Client) -> None:
    with pytest.raises(NotFoundError) as gone:
        client.batches.get("batches/nope")
    assert KEY not in str(gone.value) and KEY not in repr(client)
    with pytest.raises(ValueError, match="not a batch job name"):
        client.batches.get("batches/a/b")


def test_from_api_reads_both_casings_and_a_bare_batch() -> None:
    op = {"name": "batches/x", "done": True, "metadata": {"state": "BATCH_STATE_SUCCEEDED",
          "batch_stats": {"request_count": 2, "successful_request_count": "2"},
          "output": {"responses_file": "files/r"}}}  # fmt: skip
    job = BatchJob.from_api(op)
    assert job.done and job.requests == 2 and job.succeeded == 2 and job.responses_file == "files/r"
    bare = BatchJob.from_api({"name": "batches/y", "state": "BATCH_STATE_RUNNING"})
    assert bare.name == "batches/y" and not bare.done


def test_read_results_never_raises() -> None:
    data = b'{"key": "a", "response": {"candidates": []}}\n\n[1]\nnot json\n{"key": 3}\n'
    results = list(read_results(data))
    assert [r.key for r in results] == ["a", None, None, "3"]
    assert results[0].response == {"candidates": []}
    assert "line 3" in str(results[1].error) and results[3].error == "no response"


def test_request_line_round_trips() -> None:
    line = request_line("k", {"contents": [{"parts": [{"text": "é"}]}]})
    assert line.endswith(b"\n") and json.loads(line) == {
        "key": "k", "request": {"contents": [{"parts": [{"text": "é"}]}]}
    }  # fmt: skip


def test_the_batch_path_does_not_need_the_google_sdk() -> None:
    code = (
        "import sys, boxmask.api.client, boxmask.api.batches, boxmask.request_batch, "
        "boxmask.request_run; assert not any(m.startswith('google') for m in sys.modules)"
    )
    src = Path(__file__).resolve().parent.parent / "src"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=src)


def test_a_results_file_larger_than_max_response_bytes_is_read(fake: FakeGemini) -> None:
    fake.reset()
    fake.batch_polls = 0
    cap = 2048
    with Client(KEY, base_url=fake.base_url, max_response_bytes=cap) as small:
        data = b"".join(request_line(f"k{i}", _request(small, i)) for i in range(6))
        job = small.batches.create(small.batches.upload_requests(data))
        assert job.done and job.responses_file
        size = len(fake.files[job.responses_file.removeprefix("files/")].data)
        assert size > cap  # the cap of model answers does not cut the job's results
        assert len([r for r in small.batches.results(job) if r.response]) == 6
