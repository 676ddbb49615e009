"""The fake server itself, spoken to with plain httpx: protocol rules and the scene "model"."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from PIL import Image

import boxmask
from boxmask.testing.scenes import (
    find_regions,
    make_scene,
    masks_answer,
    points_answer,
    select_regions,
)
from boxmask.testing.server import FakeGemini

KEY = "test-key"
PNG = make_scene(1).encode("PNG")


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGemini]:
    with FakeGemini(api_keys=[KEY]) as server:
        yield server


@pytest.fixture
def http(fake: FakeGemini) -> Iterator[httpx.Client]:
    fake.reset()
    with httpx.Client(base_url=fake.base_url, headers={"x-goog-api-key": KEY}) as client:
        yield client


def gc_body(text: str = "Describe", **config: object) -> dict[str, object]:
    image = {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(PNG).decode()}}
    body: dict[str, object] = {"contents": [{"parts": [image, {"text": text}]}]}
    if config:
        body["generationConfig"] = config
    return body


GC = "/v1beta/models/gemini-2.5-flash:generateContent"


def test_auth_rules(fake: FakeGemini) -> None:
    with httpx.Client(base_url=fake.base_url) as anon:
        missing = anon.post(GC, json=gc_body())
        assert missing.status_code == 401 and missing.json()["error"]["status"] == "UNAUTHENTICATED"
        wrong = anon.post(GC, json=gc_body(), headers={"x-goog-api-key": "nope"})
        assert wrong.status_code == 400
        assert wrong.json()["error"]["details"][0]["reason"] == "API_KEY_INVALID"
        by_query = anon.post(GC, params={"key": KEY}, json=gc_body())
        assert by_query.status_code == 200
    assert not any("key" in r.query for r in fake.requests)


def test_generate_content_response_shape(http: httpx.Client) -> None:
    body = http.post(GC, json=gc_body()).json()
    candidate = body["candidates"][0]
    assert (
        candidate["finishReason"] == "STOP"
        and "3 shape(s)" in candidate["content"]["parts"][0]["text"]
    )
    usage = body["usageMetadata"]
    assert usage["promptTokensDetails"][1] == {"modality": "IMAGE", "tokenCount": 258}
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"]
    assert body["modelVersion"] == "gemini-2.5-flash"


def test_strict_fields_and_bad_requests(http: httpx.Client) -> None:
    typo = http.post(GC, json=gc_body(temprature=0.5))
    assert typo.status_code == 400
    assert typo.json()["error"]["message"] == (
        "Invalid JSON payload received. Unknown name \"temprature\" at 'generation_config': "
        "Cannot find field."
    )
    no_temp = {"model": "gemini-2.5-flash", "input": "hi", "generation_config": {"temperature": 1}}
    assert http.post("/v1beta/interactions", json=no_temp).status_code == 400
    bad_mime = gc_body()
    bad_mime["contents"][0]["parts"][0]["inlineData"]["mimeType"] = "image/x-foo"  # type: ignore[index]
    assert "Unsupported MIME" in http.post(GC, json=bad_mime).json()["error"]["message"]
    assert http.post(GC, content=b"{not json").status_code == 400
    missing_model = http.post("/v1beta/models/llama:generateContent", json=gc_body())
    assert missing_model.status_code == 404


def test_interactions_create_get_delete(http: httpx.Client) -> None:
    created = http.post(
        "/v1beta/interactions",
        json={
            "model": "gemini-3-flash-preview",
            "input": [{"type": "user_input", "content": [{"type": "text", "text": "hello"}]}],
        },
    ).json()
    assert created["status"] == "completed" and created["steps"][-1]["type"] == "model_output"
    assert created["usage"]["input_tokens_by_modality"][0]["modality"] == "text"
    path = f"/v1beta/interactions/{created['id']}"
    fetched = http.get(path, params={"include_input": "true"}).json()
    assert fetched["steps"][0]["type"] == "user_input"
    assert http.delete(path).json() == {}
    assert http.get(path).status_code == 404
    unstored = http.post(
        "/v1beta/interactions", json={"model": "gemini-2.5-flash", "input": "x", "store": False}
    ).json()
    assert http.get(f"/v1beta/interactions/{unstored['id']}").status_code == 404


def start_upload(http: httpx.Client, size: int, mime: str = "image/png") -> str:
    reply = http.post(
        "/upload/v1beta/files",
        json={"file": {"display_name": "x"}},
        headers={
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": str(size),
            "X-Goog-Upload-Header-Content-Type": mime,
        },
    )
    assert reply.headers["x-goog-upload-status"] == "active"
    return reply.headers["x-goog-upload-url"]


def chunk(http: httpx.Client, url: str, data: bytes, offset: int, command: str) -> httpx.Response:
    return http.post(
        url,
        content=data,
        headers={"X-Goog-Upload-Offset": str(offset), "X-Goog-Upload-Command": command},
    )


def test_upload_offsets_lengths_and_query(http: httpx.Client, fake: FakeGemini) -> None:
    url = start_upload(http, len(PNG))
    assert chunk(http, url, PNG[:100], 0, "upload").headers["x-goog-upload-status"] == "active"
    wrong = chunk(http, url, PNG[100:200], 50, "upload")
    assert wrong.status_code == 400 and "expected 100" in wrong.json()["error"]["message"]
    query = http.post(url, headers={"X-Goog-Upload-Command": "query"})
    assert query.headers["x-goog-upload-size-received"] == "100"
    short = chunk(http, url, PNG[100:200], 100, "upload, finalize")
    assert (
        short.status_code == 400 and "differs from the declared" in short.json()["error"]["message"]
    )
    url = start_upload(http, len(PNG))
    done = chunk(http, url, PNG, 0, "upload, finalize")
    assert done.headers["x-goog-upload-status"] == "final"
    file = done.json()["file"]
    assert file["sizeBytes"] == str(len(PNG)) and file["state"] == "ACTIVE"
    assert (
        http.post(url, headers={"X-Goog-Upload-Command": "query"}).headers["x-goog-upload-status"]
        == "final"
    )
    assert (
        http.post(
            "/upload/v1beta/files?upload_id=nope", headers={"X-Goog-Upload-Command": "query"}
        ).status_code
        == 404
    )
    # the file works as an image in both APIs, until it expires
    uri = file["uri"]
    ok = http.post(
        GC, json={"contents": [{"parts": [{"fileData": {"fileUri": uri}}, {"text": "hi"}]}]}
    )
    assert ok.status_code == 200
    fake.expire_file(file["name"])
    gone = http.post(
        "/v1beta/interactions",
        json={"model": "gemini-2.5-flash", "input": [{"type": "image", "uri": uri}]},
    )
    assert gone.status_code == 403 and "may not exist" in gone.json()["error"]["message"]


def test_list_paging(http: httpx.Client) -> None:
    for _ in range(5):
        url = start_upload(http, 3)
        chunk(http, url, b"abc", 0, "upload, finalize")
    first = http.get("/v1beta/files", params={"pageSize": 2}).json()
    assert len(first["files"]) == 2 and first["nextPageToken"]
    names = [f["name"] for f in first["files"]]
    token = first["nextPageToken"]
    while token:
        page = http.get("/v1beta/files", params={"pageSize": 2, "pageToken": token}).json()
        names += [f["name"] for f in page["files"]]
        token = page.get("nextPageToken")
    assert len(set(names)) == 5


def test_server_only_listens_on_loopback() -> None:
    with pytest.raises(ValueError, match="loopback"):
        FakeGemini(host="0.0.0.0")
    with pytest.raises(ValueError, match="unknown fault"):
        FakeGemini().add_fault("explode")


# ------------------------------------------------------------------- the model
def test_scene_truth_and_color_segmentation_on_jpeg() -> None:
    scene = make_scene(8, width=400, height=300, n_shapes=5)
    assert make_scene(8, width=400, height=300, n_shapes=5) == scene  # deterministic
    with Image.open(io.BytesIO(scene.encode("JPEG", quality=90))) as im:
        rgb = np.asarray(im.convert("RGB"))
    regions = find_regions(rgb)
    assert sorted(r.label for r in regions) == sorted(s.label for s in scene.shapes)
    for region in regions:
        shape = next(s for s in scene.shapes if s.label == region.label)
        assert np.abs(np.subtract(region.box, shape.box)).max() <= 1


def test_region_selection_by_words() -> None:
    scene = make_scene(8, width=400, height=300, n_shapes=5)
    regions = find_regions(scene.render())
    red = [s for s in scene.shapes if s.color == "red"]
    assert [r.label for r in select_regions(regions, "the red ones")] == [s.label for s in red]
    circles = select_regions(regions, "all circles and ellipses")
    assert circles and all(r.kind in ("circle", "ellipse") for r in circles)
    assert len(select_regions(regions, "2d bounding boxes of the shapes")) == 5


@pytest.mark.parametrize("fmt", ["png", "polygon"])
def test_mask_answers_decode_to_the_truth(fmt: str) -> None:
    scene = make_scene(9, width=300, height=220, n_shapes=3, min_side=40)
    items = masks_answer(find_regions(scene.render()), 300, 220, mask_format=fmt)
    d = boxmask.parse(json.dumps(items), width=300, height=220)
    assert d.masks is not None and not d.problems
    dense = d.masks.to_dense()
    for shape, truth in zip(scene.shapes, scene.masks(), strict=True):
        got = dense[d.labels.index(shape.label)]
        assert (got & truth).sum() / (got | truth).sum() > 0.9


def test_token_masks_and_points() -> None:
    scene = make_scene(9, n_shapes=2)
    regions = find_regions(scene.render())
    d = boxmask.parse(
        json.dumps(masks_answer(regions, 320, 240, mask_format="tokens")), width=320, height=240
    )
    assert [p.kind.value for p in d.problems] == ["mask_tokens", "mask_tokens"]
    points = points_answer(regions, 320, 240)
    assert all(len(p["point"]) == 2 for p in points)
