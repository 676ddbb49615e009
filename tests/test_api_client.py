"""End to end against the local fake server: image → request → answer → Detections → truth."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import boxmask
from boxmask.api import AsyncClient, Client, ImageRef, RetryPolicy
from boxmask.errors import MissingApiKeyError
from boxmask.testing.scenes import make_scene
from boxmask.testing.server import FakeGemini

KEY = "test-key"
FAST = RetryPolicy(initial_delay=0.001, max_delay=0.05)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGemini]:
    with FakeGemini(api_keys=[KEY]) as server:
        yield server


@pytest.fixture(autouse=True)
def _clean(fake: FakeGemini) -> None:
    fake.reset()


def client(fake: FakeGemini, **kwargs: object) -> Client:
    return Client(KEY, base_url=fake.base_url, retry=FAST, **kwargs)  # type: ignore[arg-type]


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def matched(detections: boxmask.Detections, truth: np.ndarray) -> np.ndarray:
    """For each true box, the max IoU with a detected box."""
    out = []
    for t in truth:
        best = 0.0
        for b in detections.boxes:
            ix = max(0.0, min(t[2], b[2]) - max(t[0], b[0]))
            iy = max(0.0, min(t[3], b[3]) - max(t[1], b[1]))
            inter = ix * iy
            union = (t[2] - t[0]) * (t[3] - t[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
            best = max(best, inter / union)
        out.append(best)
    return np.array(out)


@pytest.mark.parametrize("api", ["interactions", "generate_content"])
def test_detect_finds_every_shape_with_pixel_accuracy(fake: FakeGemini, api: str) -> None:
    scene = make_scene(3, width=400, height=300, n_shapes=4)
    with client(fake, api=api) as c:
        d = c.detect(scene.encode("PNG"), "the shapes")
    assert (d.width, d.height) == (400, 300)
    assert len(d) == 4
    assert sorted(d.labels) == sorted(s.label for s in scene.shapes)
    # 0-1000 quantization costs at most half a unit: 0.2 px at 400 px.
    for shape, box in zip(scene.shapes, scene.boxes(), strict=True):
        got = d.boxes[d.labels.index(shape.label)]
        assert np.abs(got - box).max() <= 0.5
    assert d.answer is not None and d.answer.usage and d.answer.text.startswith("[")
    assert d.answer.extra["api"] == api
    request = fake.model_requests()[-1].json()
    if api == "interactions":
        assert request["store"] is False and "response_format" in request
        assert [b["type"] for b in request["input"]] == ["text", "image"]
        assert request["generation_config"]["thinking_level"] == "low"
    else:
        config = request["generationConfig"]
        assert config["responseMimeType"] == "application/json"
        assert config["responseJsonSchema"]["maxItems"] == 25
        assert config["temperature"] == 0.5
        assert list(request["contents"][0]["parts"][1]) == ["inlineData"]


@pytest.mark.parametrize("api", ["interactions", "generate_content"])
def test_the_response_envelope_is_read_once(
    fake: FakeGemini, api: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boxmask.answer

    def again(value: object) -> object:
        raise AssertionError("parse read the response envelope a second time")

    monkeypatch.setattr(boxmask.answer, "unwrap_envelope", again)
    scene = make_scene(4, width=200, height=150, n_shapes=2)
    with client(fake, api=api) as c:
        d = c.segment(scene.encode("PNG"), "the shapes")
    assert len(d) == 2 and d.masks is not None
    assert d.answer is not None and d.answer.usage and d.answer.finish_reason


@pytest.mark.parametrize(
    ("api", "model", "mask_kind"),
    [
        ("interactions", "gemini-2.5-flash", "png"),
        ("generate_content", "gemini-2.5-flash", "png"),
        ("interactions", "gemini-3.5-flash", "polygon"),
    ],
)
def test_segment_masks_match_ground_truth(
    fake: FakeGemini, api: str, model: str, mask_kind: str
) -> None:
    scene = make_scene(7, width=360, height=270, n_shapes=3, min_side=40)
    with client(fake, api=api, model=model) as c:
        d = c.segment(scene.encode("PNG"), "every shape")
    assert d.masks is not None and len(d) == 3 and not d.problems
    dense = d.masks.to_dense()
    for shape, truth in zip(scene.shapes, scene.masks(), strict=True):
        assert iou(dense[d.labels.index(shape.label)], truth) > 0.9
    text = d.answer.text if d.answer else ""
    assert ("data:image/png;base64," in text) == (mask_kind == "png")
    body = fake.model_requests()[-1].json()
    if api == "generate_content":
        assert body["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 0}
    else:
        assert body["generation_config"]["thinking_level"] == "minimal"


def test_point_lands_inside_the_shape(fake: FakeGemini) -> None:
    scene = make_scene(5, n_shapes=3)
    target = scene.shapes[1]
    with client(fake) as c:
        d = c.point(scene.encode("PNG"), f"the {target.color} shape")
    assert len(d) == 1 and d.points is not None
    x, y = d.points[0]
    assert scene.masks()[1][int(y), int(x)]


def test_every_local_input_kind_gives_the_same_answer(fake: FakeGemini, tmp_path: Path) -> None:
    scene = make_scene(11, n_shapes=2)
    png = scene.encode("PNG")
    path = tmp_path / "scene.png"
    path.write_bytes(png)
    inputs = [png, str(path), path, Image.open(io.BytesIO(png)), scene.render(), bytearray(png)]
    with client(fake) as c:
        results = [c.detect(i, "shapes") for i in inputs]
    for d in results:
        np.testing.assert_allclose(d.boxes, results[0].boxes)
        assert d.labels == results[0].labels
    assert len(results[0]) == 2


def test_url_input_is_sent_as_uri_and_downloaded_without_the_key(fake: FakeGemini) -> None:
    scene = make_scene(12, n_shapes=2)
    url = fake.add_static("scene.png", scene.encode("PNG"))
    with client(fake) as c:
        d = c.detect(url, "shapes")
        caption = c.ask(url, "Describe")
    assert len(d) == 2 and "2 shape(s)" in caption
    downloads = [r for r in fake.requests if r.endpoint == "static"]
    assert downloads and not any(r.has_key for r in downloads)
    sent = fake.model_requests()[0].json()["input"][1]
    assert sent["uri"] == url and sent["mime_type"] == "image/png"
    # only detect downloads (to read the size); ask passes the URL through
    assert len(downloads) == 1


def test_url_with_size_given_skips_the_download(fake: FakeGemini) -> None:
    url = fake.add_static("s.png", make_scene(1).encode("PNG"))
    with client(fake) as c:
        d = c.detect(ImageRef(url, "image/png", 320, 240), "shapes")
    assert len(d) == 3
    assert [r.endpoint for r in fake.requests].count("static") == 0


def test_exif_rotated_jpeg_is_sent_upright(fake: FakeGemini) -> None:
    scene = make_scene(2, width=300, height=200, n_shapes=2)
    upright = Image.fromarray(scene.render())
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # sideways, as a phone stores it
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view"
    buf = io.BytesIO()
    stored.save(buf, "JPEG", quality=98, exif=exif)
    with client(fake) as c:
        d = c.detect(buf.getvalue(), "shapes")
    assert (d.width, d.height) == (300, 200)
    assert matched(d, scene.boxes()).min() > 0.85


def test_several_images_keep_their_order(fake: FakeGemini) -> None:
    one = make_scene(1, n_shapes=1).encode("PNG")
    three = make_scene(2, n_shapes=3).encode("PNG")
    with client(fake, api="generate_content") as c:
        text = c.ask([one, three], "How many shapes in each image?")
    assert text.index("Image 1: A 320x240 image with 1 shape") < text.index("Image 2")
    assert "Image 2: A 320x240 image with 3 shape" in text
    parts = fake.model_requests()[-1].json()["contents"][0]["parts"]
    assert "text" in parts[0] and "inlineData" in parts[1] and "inlineData" in parts[2]


def test_generate_keeps_the_callers_part_order(fake: FakeGemini) -> None:
    png = make_scene(1).encode("PNG")
    with client(fake) as c:
        response = c.generate(
            ["first", png, "last"], system_instruction="Be brief.", max_output_tokens=500
        )
    body = fake.model_requests()[-1].json()
    assert [b["type"] for b in body["input"]] == ["text", "image", "text"]
    assert body["system_instruction"] == "Be brief."
    assert body["generation_config"] == {"max_output_tokens": 500}
    assert response.finish_reason == "COMPLETED" and response.images[0].how == "inline"
    assert response.usage and response.usage["input_tokens_by_modality"][1]["tokens"] == 258


def test_prompt_overrides_reach_the_wire(fake: FakeGemini) -> None:
    png = make_scene(1).encode("PNG")
    with client(fake) as c:
        c.detect(
            png,
            "red shapes",
            prompt="Find the bounding boxes of {what}, please.",
            system_instruction="",
            max_items=2,
            thinking="off",
        )
    body = fake.model_requests()[-1].json()
    assert body["input"][0]["text"] == "Find the bounding boxes of red shapes, please."
    assert "system_instruction" not in body
    assert body["response_format"]["schema"]["maxItems"] == 2
    assert body["generation_config"]["thinking_level"] == "minimal"


def test_media_resolution_on_both_apis(fake: FakeGemini) -> None:
    png = make_scene(1).encode("PNG")
    with client(fake, model="gemini-3-flash-preview") as c:
        r = c.generate(["hi", png], media_resolution="low")
    assert fake.model_requests()[-1].json()["input"][1]["resolution"] == "low"
    assert r.usage and r.usage["input_tokens_by_modality"][1]["tokens"] == 280
    with client(fake, api="generate_content", model="gemini-3-flash-preview") as c:
        c.generate(["hi", png], media_resolution="ultra_high")
    part = fake.model_requests()[-1].json()["contents"][0]["parts"][1]
    assert part["mediaResolution"] == {"level": "MEDIA_RESOLUTION_ULTRA_HIGH"}


def test_async_client_detects_like_the_sync_one(fake: FakeGemini) -> None:
    scene = make_scene(4, n_shapes=3)

    async def run() -> boxmask.Detections:
        async with AsyncClient(KEY, base_url=fake.base_url, retry=FAST) as c:
            return await c.detect(scene.encode("PNG"), "shapes")

    d = asyncio.run(run())
    assert len(d) == 3 and matched(d, scene.boxes()).min() > 0.95


# ----------------------------------------------------------------------- the key
def test_missing_key_fails_at_first_call_not_construction(
    fake: FakeGemini, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    c = Client(base_url=fake.base_url)
    with pytest.raises(MissingApiKeyError, match="GEMINI_API_KEY"):
        c.ask(make_scene(1).encode("PNG"), "hi")
    assert fake.requests == []
    monkeypatch.setenv("GOOGLE_API_KEY", KEY)
    assert "Image 1" in c.ask(make_scene(1).encode("PNG"), "hi")
    monkeypatch.setenv("GEMINI_API_KEY", "wrong-key")  # GEMINI_API_KEY wins
    with pytest.raises(boxmask.errors.AuthenticationError):
        c.ask(make_scene(1).encode("PNG"), "hi")


def test_key_never_in_logs_messages_or_reprs(
    fake: FakeGemini, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "sk-very-secret-0123456789"
    png = make_scene(1).encode("PNG")
    caplog.set_level(logging.DEBUG)
    fake.add_fault("status", status=503, times=1)
    good = Client(KEY, base_url=fake.base_url, retry=FAST)
    good.ask(png, "hi")  # a retried call logs at INFO
    bad = Client(secret, base_url=fake.base_url, retry=FAST)
    fake.api_keys = {KEY, secret}
    fake.add_fault("status", status=400, message=f"bad request for key {secret}")
    with pytest.raises(boxmask.errors.InvalidRequestError) as info:
        bad.ask(png, "hi")
    fake.api_keys = {KEY}
    with pytest.raises(boxmask.errors.AuthenticationError) as auth:
        bad.ask(png, "hi")
    texts = [str(info.value), repr(info.value), str(auth.value), repr(bad), repr(bad.files)]
    texts += [r.getMessage() for r in caplog.records]
    assert any("retry" in t for t in texts)
    for text in texts:
        assert secret not in text and KEY not in text
    assert "***" in str(info.value)
    assert all(not any(secret in q for q in r.query.values()) for r in fake.requests)


# ------------------------------------------------------------- issue 14's client fixes
@pytest.mark.parametrize("api", ["interactions", "generate_content"])
def test_a_url_without_an_extension_is_typed_by_its_bytes(fake: FakeGemini, api: str) -> None:
    url = fake.add_static("picture", make_scene(5, n_shapes=2).encode("JPEG"), "image/jpeg")
    with client(fake, api=api) as c:
        caption = c.ask(url, "Describe")
    assert "2 shape(s)" in caption
    body = fake.model_requests()[-1].json()
    if api == "interactions":
        sent = body["input"][1]
        assert sent["uri"] == url and sent["mime_type"] == "image/jpeg"
    else:
        sent = body["contents"][0]["parts"][1]["fileData"]
        assert sent == {"fileUri": url, "mimeType": "image/jpeg"}


def test_a_url_that_is_not_an_image_asks_for_the_mime_type(fake: FakeGemini) -> None:
    from boxmask.errors import ImageError

    url = fake.add_static("page", b"<html>not a picture</html>", "text/html")
    with client(fake) as c, pytest.raises(ImageError, match=r"pass ImageRef\(url, mime_type="):
        c.ask(url, "Describe")
    assert fake.model_requests() == []


@pytest.mark.parametrize("api", ["interactions", "generate_content"])
def test_generate_and_ask_read_a_url_string_the_same_way(fake: FakeGemini, api: str) -> None:
    from boxmask.api import TextPart

    url = fake.add_static("same.png", make_scene(6, n_shapes=3).encode("PNG"))
    with client(fake, api=api) as c:
        via_ask = c.ask(url, "Describe")
        via_generate = c.generate(["Describe", url]).text
        c.generate(["Describe", TextPart(url)])  # explicitly text
    assert via_ask == via_generate and "3 shape(s)" in via_generate
    bodies = [r.json() for r in fake.model_requests()]

    def kinds(body: dict[str, object]) -> list[str]:
        if api == "interactions":
            return [p["type"] for p in body["input"]]  # type: ignore[attr-defined]
        parts = body["contents"][0]["parts"]  # type: ignore[index]
        return ["text" if "text" in p else "image" for p in parts]

    assert [kinds(b) for b in bodies] == [["text", "image"], ["text", "image"], ["text", "text"]]


@pytest.mark.parametrize("api", ["interactions", "generate_content"])
def test_the_text_prompt_goes_before_a_single_image(fake: FakeGemini, api: str) -> None:
    """The Gemini image-understanding guide's tip: text first, then the image."""
    png = make_scene(7, n_shapes=2).encode("PNG")
    with client(fake, api=api) as c:
        c.ask(png, "Describe")
        c.ask([png, png], "Compare")
        c.detect(png, "shapes")
        c.segment(png, "shapes")
        c.point(png, "shapes")
    for request in fake.model_requests():
        body = request.json()
        if api == "interactions":
            order = [p["type"] for p in body["input"]]
        else:
            order = ["text" if "text" in p else "image" for p in body["contents"][0]["parts"]]
        assert order[0] == "text" and set(order[1:]) == {"image"}, order


def test_upload_session_url_is_followed_on_the_base_host_only(fake: FakeGemini) -> None:
    """The start's X-Goog-Upload-URL may name another host: the key goes to base_url's."""
    from boxmask.api.files import _same_host
    from boxmask.api.http import Session

    session = Session(base_url=fake.base_url, api_key=KEY)
    moved = _same_host(session, "https://uploads.example.com/upload/v1beta/files?upload_id=7")
    assert moved == f"{fake.base_url}/upload/v1beta/files?upload_id=7"
