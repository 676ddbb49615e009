"""The request commands against the fake server, and ``boxmask serve-fake`` as a process."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from boxmask.cli.main import main
from boxmask.testing.scenes import make_scene
from boxmask.testing.server import FakeGemini

KEY = "test-key"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGemini]:
    with FakeGemini(api_keys=[KEY]) as server:
        yield server


@pytest.fixture
def images(tmp_path: Path, fake: FakeGemini, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    fake.reset()
    monkeypatch.chdir(tmp_path)  # the default journal goes to the working folder
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    monkeypatch.setenv("BOXMASK_BASE_URL", fake.base_url)
    paths = []
    for i, n in enumerate((2, 3)):
        path = tmp_path / f"scene{i}.png"
        path.write_bytes(make_scene(i, n_shapes=n).encode("PNG"))
        paths.append(path)
    return paths


def test_detect_json_for_several_images(
    images: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["detect", *map(str, images), "the shapes", "--json", "--api", "generate_content"])
    assert code == 0
    # One line per image as the answers arrive (journal order, not input order).
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    report = sorted(lines, key=lambda r: str(r["image"]))
    assert [r["image"] for r in report] == [str(p) for p in images]
    assert [r["items"] for r in report] == [2, 3]
    assert all(len(item["box"]) == 4 for r in report for item in r["annotations"])
    assert report[0]["width"] == 320 and report[0]["usage"]["promptTokenCount"] > 0


def test_segment_table_and_a_failing_image(
    images: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.png"
    code = main(["segment", str(images[1]), str(missing), "every shape"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "3 item(s)" in out
    assert "missing.png: error" in err


def test_coco_and_overlay_outputs(
    images: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    coco = tmp_path / "out.json"
    overlays = tmp_path / "overlays"
    code = main(
        ["segment", *map(str, images), "shapes", "--coco", str(coco), "--overlay", str(overlays)]
    )
    assert code == 0
    dataset = json.loads(coco.read_text())
    assert sorted(i["file_name"] for i in dataset["images"]) == [p.name for p in images]
    assert len(dataset["annotations"]) == 5
    assert sorted(p.name for p in overlays.glob("[!.]*")) == [
        "scene0.jpg",
        "scene1.jpg",
    ]


def test_point_and_ask(images: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["point", str(images[0]), "shapes", "--json", "--max-items", "1"]) == 0
    (entry,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert entry["items"] == 1 and entry["points"] == 1
    assert main(["ask", *map(str, images), "How many shapes?"]) == 0
    out = capsys.readouterr().out
    assert "Image 1: A 320x240 image with 2 shape(s)" in out and "Image 2" in out


def test_missing_key_is_a_clear_error(
    images: list[Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GEMINI_API_KEY")
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    assert main(["ask", str(images[0]), "hi"]) == 1
    assert "GEMINI_API_KEY" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["detect", "only-one-argument"])


def test_serve_fake_runs_as_a_process() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "boxmask.cli.main", "serve-fake", "--port", "0", "--duration", "30"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        url = first.split(" on ", 1)[1].split(" ", 1)[0]
        assert url.startswith("http://127.0.0.1:")
        png = make_scene(1).encode("PNG")
        import base64

        body = {
            "contents": [
                {
                    "parts": [
                        {
                            "inlineData": {
                                "mimeType": "image/png",
                                "data": base64.b64encode(png).decode(),
                            }
                        },
                        {"text": "hi"},
                    ]
                }
            ]
        }
        reply = httpx.post(
            f"{url}/v1beta/models/gemini-2.5-flash:generateContent",
            json=body,
            headers={"x-goog-api-key": "anything"},
            timeout=10,
        )
        assert reply.status_code == 200 and "3 shape(s)" in reply.text
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_ask_sends_the_prompt_before_a_single_image(
    images: list[Path], fake: FakeGemini, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ask", str(images[0]), "Describe", "--api", "generate_content"]) == 0
    parts = fake.model_requests()[-1].json()["contents"][0]["parts"]
    assert parts[0] == {"text": "Describe"} and "inlineData" in parts[1]


def test_coco_shards_from_requests(
    images: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    coco = tmp_path / "out.json"
    assert (
        main(["segment", *map(str, images), "shapes", "--coco", str(coco), "--shard-size", "1"])
        == 0
    )
    index = json.loads(coco.read_text())
    assert [s["file"] for s in index["shards"]] == ["out-00000.json", "out-00001.json"]
    shards = [json.loads((tmp_path / s["file"]).read_text()) for s in index["shards"]]
    assert sum(len(s["annotations"]) for s in shards) == index["annotations"] == 5
    assert all(s["categories"] == index["categories"] for s in shards)
    capsys.readouterr()
    for args in (["--coco", str(coco), "--shard-size", "0"], ["--shard-size", "2"]):
        assert main(["detect", str(images[0]), "shapes", *args]) == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1
