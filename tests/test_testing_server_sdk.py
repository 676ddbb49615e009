"""Google's official ``google-genai`` SDK, unchanged, against ``FakeGemini`` over real HTTP:
every call it makes works, and every answer parses into the shapes drawn in the scene."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from collections.abc import Iterator

import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from boxmask.testing.scenes import make_scene
from boxmask.testing.server import FakeGemini
from boxmask.tokens import estimate
from tests.server_checks import assert_drawn_shapes

KEY = "sdk-key"
SCENE = make_scene(5, width=360, height=280, n_shapes=3, min_side=36)
PNG = SCENE.encode("PNG")
BOXES = "Detect the 2d bounding boxes of the shapes"
MASKS = "Give the segmentation masks for the shapes"
POINTS = "Point to the shapes"
#: Generous: the machine may be loaded; nothing waits on this unless the fake is broken.
TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGemini]:
    with FakeGemini(api_keys=[KEY]) as server:
        yield server


def sdk(fake: FakeGemini, api_version: str | None = None) -> genai.Client:
    options = types.HttpOptions(base_url=fake.base_url, timeout=TIMEOUT_MS)
    if api_version is not None:
        options.api_version = api_version
    return genai.Client(api_key=KEY, http_options=options)


@pytest.fixture
def client(fake: FakeGemini) -> Iterator[genai.Client]:
    fake.reset()
    with sdk(fake) as c:
        yield c


def interaction_input(prompt: str) -> list[dict[str, str]]:
    data = base64.b64encode(PNG).decode()
    return [
        {"type": "text", "text": prompt},
        {"type": "image", "data": data, "mime_type": "image/png"},
    ]


def image_part() -> types.Part:
    return types.Part.from_bytes(data=PNG, mime_type="image/png")


def test_only_base_url_changed_defaults_work(fake: FakeGemini) -> None:
    c = genai.Client(api_key=KEY, http_options={"base_url": fake.base_url})
    answer = c.models.generate_content(model="gemini-2.5-flash", contents=[BOXES, image_part()])
    assert_drawn_shapes(answer.text or "", SCENE, "boxes")
    # the SDK's default API version is v1, and it sends URL-safe base64
    request = fake.model_requests()[-1]
    assert request.path.startswith("/v1/models/") and request.has_key


@pytest.mark.parametrize("api_version", ["v1", "v1beta"])
@pytest.mark.parametrize(
    ("prompt", "task"), [(BOXES, "boxes"), (MASKS, "masks"), (POINTS, "points")]
)
def test_generate_content_inline_both_versions(
    fake: FakeGemini, api_version: str, prompt: str, task: str
) -> None:
    with sdk(fake, api_version) as c:
        answer = c.models.generate_content(
            model="gemini-2.5-flash",
            contents=[prompt, image_part()],
            config=types.GenerateContentConfig(
                temperature=0.5,
                thinking_config=types.ThinkingConfig(thinking_budget=0),
                system_instruction="Return JSON only.",
                response_mime_type="application/json",
            ),
        )
    assert answer.candidates and answer.candidates[0].finish_reason == types.FinishReason.STOP
    assert_drawn_shapes(answer.text or "", SCENE, task)
    assert fake.model_requests()[-1].path.startswith(f"/{api_version}/")
    usage = answer.usage_metadata
    assert usage is not None and usage.prompt_tokens_details
    image = [d for d in usage.prompt_tokens_details if d.modality == types.MediaModality.IMAGE]
    assert image[0].token_count == estimate(360, 280, model="gemini-2.5-flash")


def test_url_safe_base64_is_accepted(client: genai.Client, fake: FakeGemini) -> None:
    # bytes whose base64 holds '+' or '/' in the standard alphabet: the SDK sends '-' / '_'
    noisy = make_scene(11, width=300, height=200).encode("JPEG", quality=93)
    assert "+" in base64.b64encode(noisy).decode() or "/" in base64.b64encode(noisy).decode()
    part = types.Part.from_bytes(data=noisy, mime_type="image/jpeg")
    answer = client.models.generate_content(model="gemini-2.5-flash", contents=["Describe", part])
    assert "shape(s)" in (answer.text or "")
    sent = fake.model_requests()[-1].json()["contents"][0]["parts"][1]["inlineData"]["data"]
    assert "+" not in sent and "/" not in sent  # really the URL-safe alphabet


def test_gemini3_polygons_and_pil_image(client: genai.Client) -> None:
    from PIL import Image

    with Image.open(io.BytesIO(PNG)) as im:
        answer = client.models.generate_content(
            model="gemini-3-flash-preview", contents=[MASKS, im.copy()]
        )
    assert_drawn_shapes(answer.text or "", SCENE, "masks")
    items = json.loads((answer.text or "").removeprefix("```json").removesuffix("```"))
    assert all(isinstance(item["mask"], list) for item in items)  # Gemini 3: polygons


def test_uploaded_file_and_file_uri(client: genai.Client, fake: FakeGemini) -> None:
    uploaded = client.files.upload(
        file=io.BytesIO(PNG), config={"mime_type": "image/png", "display_name": "scene"}
    )
    assert uploaded.name and uploaded.state == types.FileState.ACTIVE
    assert uploaded.size_bytes == len(PNG) and uploaded.display_name == "scene"
    # the byte upload carried no key: the upload URL authorized it
    chunks = [r for r in fake.requests if r.endpoint == "upload_chunk"]
    assert chunks and not any(r.has_key for r in chunks)
    by_file = client.models.generate_content(model="gemini-2.5-flash", contents=[BOXES, uploaded])
    assert_drawn_shapes(by_file.text or "", SCENE, "boxes")
    uri_part = types.Part.from_uri(file_uri=uploaded.uri or "", mime_type="image/png")
    by_uri = client.models.generate_content(model="gemini-2.5-flash", contents=[POINTS, uri_part])
    assert_drawn_shapes(by_uri.text or "", SCENE, "points")


def test_upload_from_a_path(client: genai.Client, tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "scene.png"
    path.write_bytes(PNG)
    uploaded = client.files.upload(file=path)
    assert uploaded.mime_type == "image/png" and uploaded.size_bytes == len(PNG)


def test_files_get_list_delete(client: genai.Client) -> None:
    names = [
        client.files.upload(file=io.BytesIO(PNG), config={"mime_type": "image/png"}).name
        for _ in range(3)
    ]
    got = client.files.get(name=names[0] or "")
    assert got.name == names[0] and got.sha256_hash
    listed = [f.name for f in client.files.list(config={"page_size": 2})]  # pages followed
    assert sorted(listed) == sorted(names)
    client.files.delete(name=names[0] or "")
    assert sorted(f.name for f in client.files.list()) == sorted(names[1:])
    with pytest.raises(genai_errors.ClientError) as caught:
        client.files.get(name=names[0] or "")
    assert caught.value.code == 403 and caught.value.status == "PERMISSION_DENIED"


def test_stream_generate_content_chunks(client: genai.Client, fake: FakeGemini) -> None:
    chunks = list(
        client.models.generate_content_stream(
            model="gemini-2.5-flash", contents=[MASKS, image_part()]
        )
    )
    assert len(chunks) >= 2
    assert fake.model_requests()[-1].query.get("alt") == "sse"
    # as the service: one responseId, finishReason only on the last chunk, usage on each
    assert len({c.response_id for c in chunks}) == 1
    reasons = [c.candidates[0].finish_reason if c.candidates else None for c in chunks]
    assert reasons[-1] == types.FinishReason.STOP and not any(reasons[:-1])
    assert all(c.usage_metadata and c.usage_metadata.prompt_token_count for c in chunks)
    counts = [c.usage_metadata.candidates_token_count or 0 for c in chunks]  # type: ignore[union-attr]
    assert counts == sorted(counts) and counts[0] > 0  # cumulative, as the service counts
    assert_drawn_shapes("".join(c.text or "" for c in chunks), SCENE, "masks")


def test_count_tokens_uses_the_image_rules(client: genai.Client) -> None:
    big = make_scene(2, width=1600, height=900).encode("PNG")
    part = types.Part.from_bytes(data=big, mime_type="image/png")
    counted = client.models.count_tokens(model="gemini-2.5-flash", contents=["hi", part])
    tiles = estimate(1600, 900, model="gemini-2.5-flash")
    assert tiles == 6 * 258 and counted.total_tokens == tiles + 1
    g3 = client.models.count_tokens(model="gemini-3-flash-preview", contents=["hi", part])
    assert g3.total_tokens == 1120 + 1
    answer = client.models.generate_content(model="gemini-2.5-flash", contents=["hi", part])
    assert answer.usage_metadata and answer.usage_metadata.prompt_token_count == tiles + 1


def test_models_get_and_list(client: genai.Client) -> None:
    model = client.models.get(model="gemini-2.5-flash")
    assert model.name == "models/gemini-2.5-flash" and model.input_token_limit
    assert "generateContent" in (model.supported_actions or [])
    names = [m.name for m in client.models.list(config={"page_size": 3})]
    assert "models/gemini-2.5-flash" in names and len(names) == len(set(names)) > 3
    with pytest.raises(genai_errors.ClientError) as caught:
        client.models.get(model="llama-3")
    assert caught.value.code == 404
    assert caught.value.message and caught.value.message.startswith(
        "models/llama-3 is not found for API version v1,"
    )


def test_generate_errors_are_typed_and_shaped(client: genai.Client) -> None:
    with pytest.raises(genai_errors.ClientError) as missing:
        client.models.generate_content(model="not-a-model", contents="hi")
    assert missing.value.code == 404 and "models/not-a-model is not found" in str(missing.value)
    assert "models//" not in str(missing.value)
    bad = types.Part.from_bytes(data=PNG, mime_type="image/x-nope")
    with pytest.raises(genai_errors.ClientError) as mime:
        client.models.generate_content(model="gemini-2.5-flash", contents=["hi", bad])
    assert mime.value.code == 400 and mime.value.status == "INVALID_ARGUMENT"
    assert "Unsupported MIME type" in (mime.value.message or "")


def test_interactions_create_get_delete(client: genai.Client) -> None:
    created = client.interactions.create(
        model="gemini-3-flash-preview",
        input=interaction_input(BOXES),
    )
    assert created.status == "completed"
    text = created.steps[-1].content[0].text  # type: ignore[union-attr,index]
    assert_drawn_shapes(text, SCENE, "boxes")
    fetched = client.interactions.get(id=created.id)
    assert fetched.id == created.id and fetched.usage is not None
    client.interactions.delete(id=created.id)
    with pytest.raises(Exception) as gone:
        client.interactions.get(id=created.id)
    assert "404" in str(gone.value) or "not found" in str(gone.value).lower()


def test_interactions_stream(client: genai.Client) -> None:
    events = list(
        client.interactions.create(
            model="gemini-2.5-flash",
            input=interaction_input(MASKS),
            stream=True,
        )
    )
    kinds = [e.event_type for e in events]
    assert kinds[0] == "interaction.created" and kinds[-1] == "interaction.completed"
    text = "".join(
        e.delta.text
        for e in events
        if e.event_type == "step.delta"  # type: ignore[union-attr]
    )
    assert_drawn_shapes(text, SCENE, "masks")
    assert events[-1].interaction.usage is not None  # type: ignore[union-attr]


def test_async_client_generate_and_stream(client: genai.Client) -> None:
    async def run() -> tuple[str, str]:
        whole = await client.aio.models.generate_content(
            model="gemini-2.5-flash", contents=[BOXES, image_part()]
        )
        pieces = []
        async for chunk in await client.aio.models.generate_content_stream(
            model="gemini-2.5-flash", contents=[POINTS, image_part()]
        ):
            pieces.append(chunk.text or "")
        return whole.text or "", "".join(pieces)

    boxes, points = asyncio.run(run())
    assert_drawn_shapes(boxes, SCENE, "boxes")
    assert_drawn_shapes(points, SCENE, "points")


def test_interaction_with_an_uploaded_file(client: genai.Client) -> None:
    uploaded = client.files.upload(file=io.BytesIO(PNG), config={"mime_type": "image/png"})
    created = client.interactions.create(
        model="gemini-2.5-flash",
        input=[
            {"type": "text", "text": POINTS},
            {"type": "image", "uri": uploaded.uri or "", "mime_type": "image/png"},
        ],
    )
    text = created.steps[-1].content[0].text  # type: ignore[union-attr,index]
    assert_drawn_shapes(text, SCENE, "points")


def test_a_stream_cut_mid_way_is_an_error_not_a_short_answer(
    client: genai.Client, fake: FakeGemini
) -> None:
    fake.add_fault("cut", endpoint="generate_content", keep=0.5)
    received = []
    # the SDK lets its HTTP library's RemoteProtocolError through
    with pytest.raises(Exception, match="incomplete chunked read"):
        for chunk in client.models.generate_content_stream(
            model="gemini-2.5-flash", contents=[BOXES, image_part()]
        ):
            received.append(chunk)
    assert received and not any(
        c.candidates and c.candidates[0].finish_reason for c in received
    )  # what arrived never claims to be finished
