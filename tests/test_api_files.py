"""The Files API against the fake server: resumable upload, states, paging, cache, expiry."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from boxmask import errors
from boxmask.api import AsyncClient, Client, File, FileCache, ImageRef, RetryPolicy
from boxmask.api.files import file_name
from boxmask.testing.scenes import make_scene
from boxmask.testing.server import FakeGemini

KEY = "test-key"
FAST = RetryPolicy(initial_delay=0.001, max_delay=0.01)
SCENE = make_scene(21, width=400, height=300, n_shapes=3)
PNG = SCENE.encode("PNG")  # about 2 KB
CHUNK = 512


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGemini]:
    with FakeGemini(api_keys=[KEY]) as server:
        yield server


@pytest.fixture(autouse=True)
def _clean(fake: FakeGemini) -> None:
    fake.reset()
    fake.processing_polls = 0
    fake.chunk_granularity = 1


def make(fake: FakeGemini, **kwargs: object) -> Client:
    options = {"retry": FAST, "poll_interval": 0.001, "upload_chunk_size": CHUNK, **kwargs}
    return Client(KEY, base_url=fake.base_url, **options)  # type: ignore[arg-type]


def chunk_requests(fake: FakeGemini) -> list[dict[str, str]]:
    return [r.headers for r in fake.requests if r.endpoint == "upload_chunk"]


def test_multi_chunk_upload_follows_the_protocol(fake: FakeGemini) -> None:
    fake.chunk_granularity = 256
    with make(fake) as c:
        f = c.files.upload(PNG, display_name="scene.png")
    assert isinstance(f, File) and f.state == "ACTIVE" and f.size_bytes == len(PNG)
    assert f.mime_type == "image/png" and f.display_name == "scene.png"
    assert f.uri == f"{fake.base_url}/v1beta/{f.name}"
    assert f.expiration_time and f.expiration_time > datetime.now(timezone.utc) + timedelta(
        hours=47
    )
    assert fake.files[f.name.removeprefix("files/")].data == PNG
    start = next(r for r in fake.requests if r.endpoint == "upload_start")
    assert start.headers["x-goog-upload-protocol"] == "resumable"
    assert start.headers["x-goog-upload-header-content-length"] == str(len(PNG))
    assert start.json() == {"file": {"display_name": "scene.png"}}
    chunks = chunk_requests(fake)
    expected = -(-len(PNG) // CHUNK)
    assert len(chunks) == expected > 1
    assert [h["x-goog-upload-offset"] for h in chunks] == [str(i * CHUNK) for i in range(expected)]
    assert [h["x-goog-upload-command"] for h in chunks] == ["upload"] * (expected - 1) + [
        "upload, finalize"
    ]


def test_lost_chunk_answer_resumes_from_the_status_query(fake: FakeGemini) -> None:
    fake.add_fault("lose_response", endpoint="upload_chunk")  # chunk 1 arrives, answer lost
    fake.add_fault("status", status=503, endpoint="upload_chunk")  # the query: 503, retried
    with make(fake) as c:
        f = c.files.upload(PNG)
    assert fake.files[f.name.removeprefix("files/")].data == PNG
    commands = [h["x-goog-upload-command"] for h in chunk_requests(fake)]
    assert commands.count("query") == 2
    # the query says chunk 0 arrived: it is not sent again, the upload goes on from there
    offsets = [
        h.get("x-goog-upload-offset")
        for h in chunk_requests(fake)
        if "upload" in h["x-goog-upload-command"]
    ]
    assert offsets == [str(i * CHUNK) for i in range(len(offsets))]


def test_lost_final_answer_reads_the_file_from_the_query(fake: FakeGemini) -> None:
    small = make_scene(1, width=40, height=30, n_shapes=0).encode("PNG")
    fake.add_fault("lose_response", endpoint="upload_chunk")
    with make(fake) as c:
        f = c.files.upload(small)
    assert f.state == "ACTIVE" and len(fake.files) == 1


def test_upload_gives_up_with_upload_error(fake: FakeGemini) -> None:
    fake.add_fault("drop", endpoint="upload_chunk", times=50)
    with make(fake, max_retries=2) as c, pytest.raises(errors.ApiConnectionError):
        c.files.upload(PNG)


def test_unsupported_mime_and_bad_offset_are_upload_errors(fake: FakeGemini) -> None:
    with make(fake) as c:
        with pytest.raises(errors.UploadError, match="Unsupported MIME type"):
            c.files.upload(b"\x00" * 10, mime_type="bad/mime")
        fake.chunk_granularity = 500  # 512-byte chunks are not multiples: refused
        with pytest.raises(errors.UploadError, match="not a multiple"):
            c.files.upload(PNG, cache=False)


def test_processing_then_active_and_failed(fake: FakeGemini) -> None:
    fake.processing_polls = 3
    with make(fake) as c:
        f = c.files.upload(PNG)
        assert f.state == "ACTIVE"
        gets = [r for r in fake.requests if r.method == "GET" and r.endpoint == "files"]
        assert len(gets) == 3
        fake.add_fault("fail_processing")
        other = make_scene(2).encode("PNG")
        with pytest.raises(errors.UploadError, match="failed processing"):
            c.files.upload(other)


def test_get_list_paging_and_delete(fake: FakeGemini) -> None:
    with make(fake) as c:
        uploaded = [c.files.upload(make_scene(i, n_shapes=1).encode("PNG")) for i in range(7)]
        assert c.files.get(uploaded[0].uri).name == uploaded[0].name
        assert c.files.get(uploaded[0].name.removeprefix("files/")).state == "ACTIVE"
        listed = list(c.files.list(page_size=3))
        assert sorted(f.name for f in listed) == sorted(f.name for f in uploaded)
        pages = [r.query.get("pageToken") for r in fake.requests if r.path == "/v1beta/files"]
        assert len(pages) == 3 and pages[0] is None and all(pages[1:])
        c.files.delete(uploaded[0].name)
        assert len(list(c.files.list())) == 6
        with pytest.raises(errors.PermissionDeniedError, match="may not exist"):
            c.files.get(uploaded[0].name)


def test_cache_reuses_uploads_and_persists_without_the_key(
    fake: FakeGemini, tmp_path: Path
) -> None:
    path = tmp_path / "files.json"
    with make(fake, file_cache=str(path)) as c:
        first = c.files.upload(PNG)
        assert c.files.upload(PNG) == first
        d = c.detect(PNG, "shapes", upload=True)
    assert len([r for r in fake.requests if r.endpoint == "upload_start"]) == 1
    assert len(d) == 3 and d.answer and d.answer.extra["image"]["how"] == "file"
    assert KEY not in path.read_text()
    # a new client (a new run) reads the cache file and uploads nothing
    with make(fake, file_cache=FileCache(path)) as again:
        again.detect(PNG, "shapes", upload=True)
        assert len([r for r in fake.requests if r.endpoint == "upload_start"]) == 1
    # another key is another account: it uploads its own copy
    fake.api_keys = {KEY, "other-key"}
    try:
        with Client("other-key", base_url=fake.base_url, file_cache=FileCache(path)) as other:
            other.files.upload(PNG)
        assert len([r for r in fake.requests if r.endpoint == "upload_start"]) == 2
    finally:
        fake.api_keys = {KEY}
    data = json.loads(path.read_text())
    assert len(data["accounts"]) == 2
    assert path.stat().st_mode & 0o777 == 0o600  # the user's own upload list
    assert [p.name for p in tmp_path.iterdir()] == ["files.json"]  # no temp file left


def test_expired_or_deleted_cached_file_is_uploaded_again(fake: FakeGemini) -> None:
    with make(fake) as c:
        first = c.files.upload(PNG)
        fake.expire_file(first.name)  # expired on the service, not yet in the cache
        d = c.detect(PNG, "shapes", upload=True)
    assert len(d) == 3
    assert len([r for r in fake.requests if r.endpoint == "upload_start"]) == 2


def test_cache_drops_entries_close_to_expiry() -> None:
    cache = FileCache(margin=3600)
    soon = datetime.now(timezone.utc) + timedelta(minutes=30)
    f = File("files/abc", "u", "image/png", 3, "ACTIVE", expiration_time=soon)
    cache.put("acct", "sha", f, 1, 1)
    assert cache.get("acct", "sha") is None


def test_inline_limit_sends_large_images_through_the_files_api(fake: FakeGemini) -> None:
    big = make_scene(3, width=400, height=300).encode("PNG")
    small = make_scene(4, width=100, height=80, n_shapes=1, min_side=20).encode("PNG")
    with make(fake, inline_limit=len(big)) as c:
        response = c.generate(["compare", big, small])
    assert [i.how for i in response.images] == ["file", "inline"]
    parts = fake.model_requests()[-1].json()["input"]
    assert "uri" in parts[1] and "data" in parts[2]
    with make(fake, inline_limit=10) as c:
        assert [i.how for i in c.generate(["x", small], upload=False).images] == ["inline"]


def test_files_uris_names_and_file_objects_as_inputs(fake: FakeGemini) -> None:
    with make(fake, api="generate_content") as c:
        f = c.files.upload(PNG)
        by_file = c.detect(f, "shapes")
        by_uri = c.detect(f.uri, "shapes")
        by_name = c.detect(f.name, "shapes")
        np.testing.assert_allclose(by_file.boxes, by_uri.boxes)
        np.testing.assert_allclose(by_file.boxes, by_name.boxes)
        assert (by_name.width, by_name.height) == (400, 300)
    part = fake.model_requests()[-1].json()["contents"][0]["parts"][1]
    assert part == {"fileData": {"fileUri": f.uri, "mimeType": "image/png"}}
    # a client that did not upload it needs the size
    with make(fake) as stranger:
        with pytest.raises(errors.ImageError, match="ImageRef"):
            stranger.detect(f.uri, "shapes")
        d = stranger.detect(ImageRef(f.uri, width=400, height=300), "shapes")
        assert len(d) == 3
        assert "Image 1" in stranger.ask(f.name, "describe")  # mime type fetched by GET


def test_file_name_forms() -> None:
    assert file_name("abc-1") == "files/abc-1"
    assert file_name("files/abc") == "files/abc"
    assert file_name("https://x/v1beta/files/zyg60km4wauf") == "files/zyg60km4wauf"
    with pytest.raises(ValueError):
        file_name("Not A Name!")


def test_async_files(fake: FakeGemini) -> None:
    async def run() -> list[File]:
        async with AsyncClient(
            KEY, base_url=fake.base_url, retry=FAST, upload_chunk_size=CHUNK
        ) as c:
            f = await c.files.upload(PNG)
            assert (await c.files.get(f.name)).state == "ACTIVE"
            listed = [x async for x in c.files.list(page_size=1)]
            await c.files.delete(f.name)
            return listed

    assert len(asyncio.run(run())) == 1
    assert fake.files == {}
