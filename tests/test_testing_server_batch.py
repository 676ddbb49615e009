"""The fake's Gemini Batch API, driven by the official ``google-genai`` SDK
(``client.batches.create/get/list/cancel/delete``) and by plain httpx for the wire details."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from boxmask.testing.scenes import make_scene
from boxmask.testing.server import FakeGemini
from tests.server_checks import assert_drawn_shapes

KEY = "batch-key"
SCENES = [make_scene(20 + i, width=300, height=220, n_shapes=1 + i % 3) for i in range(3)]
BOXES = "Detect the 2d bounding boxes of the shapes"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGemini]:
    with FakeGemini(api_keys=[KEY], batch_polls=2) as server:
        yield server


@pytest.fixture
def client(fake: FakeGemini) -> Iterator[genai.Client]:
    fake.reset()
    fake.batch_polls = 2
    options = types.HttpOptions(base_url=fake.base_url, timeout=120_000)
    with genai.Client(api_key=KEY, http_options=options) as c:
        yield c


def request(scene_index: int, prompt: str = BOXES, mime: str = "image/png") -> dict[str, Any]:
    data = base64.b64encode(SCENES[scene_index].encode("PNG")).decode()
    parts = [{"text": prompt}, {"inline_data": {"mime_type": mime, "data": data}}]
    return {"contents": [{"parts": parts, "role": "user"}]}


def poll(client: genai.Client, name: str) -> list[types.JobState]:
    """The states seen until the job is done (bounded: never an endless loop)."""
    seen = []
    for _ in range(20):
        job = client.batches.get(name=name)
        assert job.state is not None
        seen.append(job.state)
        if job.state.name in ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"):
            return seen
    raise AssertionError(f"the job never finished: {seen}")


def test_inline_batch_progresses_and_answers_in_order(client: genai.Client) -> None:
    src = [
        {"contents": request(i)["contents"], "metadata": {"key": f"scene-{i}"}} for i in range(3)
    ]
    job = client.batches.create(
        model="gemini-2.5-flash",
        src=src,
        config={"display_name": "shapes"},  # type: ignore[arg-type]
    )
    assert job.name and job.name.startswith("batches/") and job.display_name == "shapes"
    assert job.state == types.JobState.JOB_STATE_PENDING and job.dest is None
    states = poll(client, job.name)
    assert states == [types.JobState.JOB_STATE_RUNNING, types.JobState.JOB_STATE_SUCCEEDED]
    done = client.batches.get(name=job.name)
    assert done.end_time is not None and done.dest and done.dest.inlined_responses
    results = done.dest.inlined_responses
    assert [r.metadata for r in results] == [{"key": f"scene-{i}"} for i in range(3)]
    for scene, result in zip(SCENES, results, strict=True):
        assert result.response is not None and result.error is None
        assert_drawn_shapes(result.response.text or "", scene, "boxes")


def test_one_bad_request_does_not_fail_the_batch(client: genai.Client, fake: FakeGemini) -> None:
    fake.batch_polls = 1
    bad_mime = request(1, mime="image/x-nope")
    typo = request(2)
    typo["generation_config"] = {"temprature": 1}
    body = {"batch": {"display_name": "mixed", "input_config": {"requests": {"requests": [
        {"request": request(0)}, {"request": bad_mime}, {"request": typo}]}}}}  # fmt: skip
    with httpx.Client(base_url=fake.base_url, headers={"x-goog-api-key": KEY}) as http:
        created = http.post("/v1beta/models/gemini-2.5-flash:batchGenerateContent", json=body)
        assert created.status_code == 200 and created.json()["done"] is False
        done = http.get(f"/v1beta/{created.json()['name']}").json()
    assert done["done"] is True and done["metadata"]["state"] == "BATCH_STATE_SUCCEEDED"
    stats = done["metadata"]["batchStats"]
    assert stats == {"requestCount": "3", "successfulRequestCount": "1", "failedRequestCount": "2"}
    inlined = done["metadata"]["output"]["inlinedResponses"]["inlinedResponses"]
    assert "response" in inlined[0]
    assert inlined[1]["error"]["status"] == "INVALID_ARGUMENT"
    assert 'Unknown name "temprature"' in inlined[2]["error"]["message"]
    assert done["response"]["inlinedResponses"] == done["metadata"]["output"]["inlinedResponses"]


def test_file_batch_results_file_keyed_and_downloadable(
    client: genai.Client, fake: FakeGemini
) -> None:
    lines = [json.dumps({"key": f"img-{i}", "request": request(i)}) for i in (2, 0, 1)]
    lines.insert(1, "{not json")  # a broken line is an error result, not a failed job
    jsonl = ("\n".join(lines) + "\n").encode()
    uploaded = client.files.upload(
        file=io.BytesIO(jsonl), config={"mime_type": "application/jsonl"}
    )
    job = client.batches.create(model="gemini-2.5-flash", src=uploaded.name or "")
    assert poll(client, job.name or "")[-1] == types.JobState.JOB_STATE_SUCCEEDED
    done = client.batches.get(name=job.name or "")
    assert done.dest and done.dest.file_name and done.dest.file_name.startswith("files/")
    result_file = client.files.get(name=done.dest.file_name)
    assert result_file.source == types.FileSource.GENERATED and result_file.download_uri
    raw = client.files.download(file=done.dest.file_name)
    results = [json.loads(line) for line in raw.decode().splitlines()]
    assert [r.get("key") for r in results] == ["img-2", None, "img-0", "img-1"]
    assert results[1]["error"]["code"] == 400
    for index, result in zip((2, 0, 1), (results[0], results[2], results[3]), strict=True):
        text = result["response"]["candidates"][0]["content"]["parts"][0]["text"]
        assert_drawn_shapes(text, SCENES[index], "boxes")
    # the download URI the file names works too (the service's /download/ path)
    with httpx.Client(headers={"x-goog-api-key": KEY}) as http:
        assert http.get(result_file.download_uri).content == raw
        # uploaded files cannot be downloaded, as with the service
        refused = http.get(f"{fake.base_url}/v1/{uploaded.name}:download", params={"alt": "media"})
        assert refused.status_code == 400


def test_list_cancel_delete(client: genai.Client, fake: FakeGemini) -> None:
    names = [
        client.batches.create(model="gemini-2.5-flash", src=[request(i)]).name  # type: ignore[list-item]
        for i in range(3)
    ]
    listed = [j.name for j in client.batches.list(config={"page_size": 2})]
    assert sorted(listed) == sorted(names)  # type: ignore[type-var]
    client.batches.cancel(name=names[0] or "")
    cancelled = client.batches.get(name=names[0] or "")
    assert cancelled.state == types.JobState.JOB_STATE_CANCELLED and cancelled.dest is None
    client.batches.delete(name=names[1] or "")
    with pytest.raises(genai_errors.ClientError) as gone:
        client.batches.get(name=names[1] or "")
    assert gone.value.code == 404
    fake.finish_batch(names[2] or "", "FAILED")
    failed = client.batches.get(name=names[2] or "")
    assert failed.state == types.JobState.JOB_STATE_FAILED and failed.dest is None


def test_finish_immediately_and_item_faults(client: genai.Client, fake: FakeGemini) -> None:
    fake.batch_polls = 0
    fake.add_fault("truncate", match="the red ones")
    src = [request(0), request(1, prompt="Detect the 2d bounding boxes of the red ones")]
    job = client.batches.create(model="gemini-2.5-flash", src=src)  # type: ignore[arg-type]
    assert job.state == types.JobState.JOB_STATE_SUCCEEDED and job.dest  # done at create
    assert poll(client, job.name or "") == [types.JobState.JOB_STATE_SUCCEEDED]
    results = client.batches.get(name=job.name or "").dest.inlined_responses  # type: ignore[union-attr]
    assert results and results[0].response and results[1].response
    assert results[1].response.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS  # type: ignore[index]
    assert results[0].response.candidates[0].finish_reason == types.FinishReason.STOP  # type: ignore[index]


def test_batch_create_errors(client: genai.Client, fake: FakeGemini) -> None:
    with pytest.raises(genai_errors.ClientError) as model:
        client.batches.create(model="llama", src=[request(0)])  # type: ignore[list-item]
    assert model.value.code == 404 and "models/llama is not found" in str(model.value)
    with pytest.raises(genai_errors.ClientError) as missing:
        client.batches.create(model="gemini-2.5-flash", src="files/nope")
    assert missing.value.code == 403
    with httpx.Client(base_url=fake.base_url, headers={"x-goog-api-key": KEY}) as http:
        empty = http.post(
            "/v1/models/gemini-2.5-flash:batchGenerateContent",
            json={"batch": {"input_config": {"requests": {"requests": []}}}},
        )
        assert empty.status_code == 400 and empty.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_racing_polls_run_a_job_once(fake: FakeGemini) -> None:
    fake.reset()
    fake.batch_polls = 3
    body = json.dumps({"key": "k", "request": request(0)}).encode()
    with httpx.Client(base_url=fake.base_url, headers={"x-goog-api-key": KEY}) as http:
        upload = fake.new_file(body, "application/jsonl", "in")
        created = http.post(
            "/v1beta/models/gemini-2.5-flash:batchGenerateContent",
            json={"batch": {"input_config": {"file_name": upload.name}}},
        ).json()
        with ThreadPoolExecutor(8) as pool:
            states = list(
                pool.map(
                    lambda _: http.get(f"/v1beta/{created['name']}").json()["metadata"]["state"],
                    range(16),
                )
            )
    assert states.count("BATCH_STATE_RUNNING") == 2
    assert states.count("BATCH_STATE_SUCCEEDED") == 14
    assert sum(f.source == "GENERATED" for f in fake.files.values()) == 1
    with pytest.raises(ValueError, match="finish as one of"):
        fake.finish_batch(created["name"], "RUNNING")
    with pytest.raises(KeyError):
        fake.finish_batch("batches/nope")
