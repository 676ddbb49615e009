"""The bad-input table of ``docs/reliability.md``: one test per row, with the exact
error text or the problem kind a user sees.

Huge answers, 100,000 items, deep nesting and bombs are in
``tests/test_reliability_bounds.py``; the 10,000-answer batch in
``tests/test_reliability_batch.py``.
"""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from fuzz.targets import SEED_PNGS
from PIL import Image

from boxmask import ParseError, parse
from boxmask.batch.jobs import Job
from boxmask.batch.run import BatchOptions, run_batch
from boxmask.errors import ExportError, ImageError
from boxmask.export.coco import CocoDataset
from boxmask.images import image_size, read_image
from boxmask.problems import ProblemKind

BOX = [100, 100, 600, 700]
GOOD_PNG = base64.b64encode(SEED_PNGS[0]).decode()


def problems(d: object) -> list[tuple[int | None, str, str, bool]]:
    return [(p.index, p.kind.value, p.message, p.dropped) for p in d.problems]  # type: ignore[attr-defined]


def masked(mask: object) -> list[dict[str, object]]:
    return [{"box_2d": BOX, "label": "a", "mask": mask}, {"box_2d": BOX, "label": "b"}]


# ------------------------------------------------------------------ answers
def test_truncated_answer_keeps_complete_items() -> None:
    d = parse('[{"box_2d": [10, 10, 500, 500], "label": "a"}, {"box_2d": [20, 2', width=9, height=9)
    assert d.labels == ["a"]
    assert problems(d) == [
        (
            1,
            "truncated",
            "answer ends mid-way (after 64 characters); kept the 1 complete item(s), "
            "item 1 was cut off",
            True,
        )
    ]
    fenced = parse('```json\n[{"box_2d": [1, 1, 5, 5], "label": "a"}', width=9, height=9)
    assert fenced.labels == ["a"] and fenced.problems[0].kind == ProblemKind.TRUNCATED


def test_truncated_by_the_token_limit_in_an_api_response() -> None:
    response = {
        "candidates": [
            {
                "content": {"parts": [{"text": '[{"box_2d": [1, 1, 5, 5], "label": "a"}]'}]},
                "finishReason": "MAX_TOKENS",
            }
        ]
    }
    d = parse(response, width=9, height=9)
    assert d.labels == ["a"] and d.answer is not None and d.answer.truncated
    assert problems(d) == [
        (None, "truncated", "finish reason MAX_TOKENS: the model hit its output limit", False)
    ]


def test_empty_and_unreadable_answers_are_parse_errors() -> None:
    with pytest.raises(ParseError, match=r"^the answer is empty$"):
        parse("  \n", width=9, height=9)
    with pytest.raises(ParseError, match=r"^no JSON list or object found in the answer"):
        parse("I cannot see any cats here.", width=9, height=9)
    with pytest.raises(ParseError, match="the response is an API error, not an answer: quota"):
        parse({"error": {"code": 429, "message": "quota"}}, width=9, height=9)


def test_invalid_base64_mask() -> None:
    d = parse(masked("this is not base64!"), width=64, height=48)
    assert d.labels == ["a", "b"]  # box and label kept
    assert problems(d) == [(0, "bad_mask", "mask string is not base64 (invalid characters)", False)]
    cut = parse(masked(GOOD_PNG[:-40]), width=64, height=48)  # base64 cut inside the IDAT
    assert cut.problems[0].kind == ProblemKind.BAD_MASK
    assert cut.problems[0].message.startswith("mask PNG is corrupt: its IDAT chunk declares")


def test_non_png_mask() -> None:
    jpeg = io.BytesIO()
    Image.new("L", (8, 8)).save(jpeg, format="JPEG")
    d = parse(masked(base64.b64encode(jpeg.getvalue()).decode()), width=64, height=48)
    assert problems(d) == [(0, "bad_mask", "mask is not a PNG (JPEG data)", False)]
    short = parse(masked(GOOD_PNG[:20]), width=64, height=48)
    assert short.problems[0].message == "mask PNG is cut short (15 bytes, no header)"
    corrupt = bytearray(SEED_PNGS[2])  # a filtered PNG: the libpng path
    corrupt[45:60] = bytes(15)
    d = parse(masked(base64.b64encode(bytes(corrupt)).decode()), width=64, height=48)
    assert problems(d) == [(0, "bad_mask", "mask PNG is corrupt (decoder refused it)", False)]


def test_png_bomb_mask() -> None:
    from tests.test_reliability_bounds import _zero_png

    d = parse(masked(base64.b64encode(_zero_png(5000, 5000)).decode()), width=64, height=48)
    assert problems(d) == [
        (
            0,
            "mask_too_large",
            "mask PNG declares 5000x5000 pixels, over the cap of 16777216 (possible "
            "decompression bomb); not decoded",
            False,
        )
    ]


@pytest.mark.parametrize(
    ("mask", "kind", "message"),
    [
        (
            {"counts": "PPYo0", "size": [4, 4]},
            "unknown_mask",
            "mask of type dict with keys counts, size is not a PNG string, a polygon or a "
            "mask object",
        ),
        (
            7,
            "unknown_mask",
            "mask of type int is not a PNG string, a polygon or a mask object",
        ),
        (
            "<start_of_mask><seg_12><seg_3>",
            "mask_tokens",
            "mask is <start_of_mask><seg_N> tokens, which cannot be decoded; box and label kept",
        ),
        (
            "data:image/webp;base64," + base64.b64encode(b"RIFF\0\0\0\0WEBPVP8 ").decode(),
            "bad_mask",
            "mask is not a PNG (WEBP data)",
        ),
        ([[1, 2], [3]], "bad_mask", "polygon points must be [x, y] pairs of numbers"),
        ("", "bad_mask", "mask string is empty"),
    ],
)
def test_unknown_mask_encodings(mask: object, kind: str, message: str) -> None:
    d = parse(masked(mask), width=64, height=48)
    assert d.labels == ["a", "b"]
    assert problems(d) == [(0, kind, message, False)]


def test_nan_inf_and_strings_in_boxes() -> None:
    answer = (
        '[{"box_2d": [NaN, 0, 500, 500], "label": "nan"},'
        ' {"box_2d": [0, Infinity, 5, 5], "label": "inf"},'
        ' {"box_2d": ["100", "200", "300", "400"], "label": "numeric strings"},'
        ' {"box_2d": ["a", "b", "c", "d"], "label": "words"},'
        ' {"box_2d": [1, 2, 3], "label": "three"}]'
    )
    d = parse(answer, width=100, height=100)
    assert d.labels == ["numeric strings"]
    assert d.boxes.tolist() == [[20.0, 10.0, 40.0, 30.0]]
    no_geometry = (
        "item has no usable box_2d, point, points, box_3d or polygon mask (keys: box_2d, label)"
    )
    assert problems(d) == [
        (0, "bad_box", "box_2d: value nan is not a finite number", False),
        (0, "no_geometry", no_geometry, True),
        (1, "bad_box", "box_2d: value inf is not a finite number", False),
        (1, "no_geometry", no_geometry, True),
        (2, "box_coerced", "box_2d held numbers as strings", False),
        (3, "bad_box", "box_2d: value 'a' is not a finite number", False),
        (3, "no_geometry", no_geometry, True),
        (4, "bad_box", "box_2d: expected 4 numbers, got 3", False),
        (4, "no_geometry", no_geometry, True),
    ]


def test_negative_and_inverted_sizes() -> None:
    answer = [
        {"box_2d": [-100, -50, 300, 400], "label": "negative"},
        {"box_2d": [500, 500, 100, 100], "label": "inverted"},
        {"box_2d": [100, 100, 100, 400], "label": "zero height"},
        {"box_2d": [-300, -300, -100, -100], "label": "outside"},
    ]
    d = parse(answer, width=100, height=100)
    assert d.labels == ["negative", "inverted"]
    assert d.boxes.tolist() == [[0.0, 0.0, 40.0, 30.0], [10.0, 10.0, 50.0, 50.0]]
    assert problems(d) == [
        (0, "box_clamped", "box_2d [-100, -50, 300, 400] leaves 0-1000; clamped to the image", False),
        (1, "box_swapped", "box_2d [500, 500, 100, 100] has min > max; corners sorted", False),
        (2, "empty_box", "box_2d [100, 100, 100, 400] has no area inside the image", True),
        (3, "box_clamped", "box_2d [-300, -300, -100, -100] leaves 0-1000; clamped to the image", False),
        (3, "empty_box", "box_2d [-300, -300, -100, -100] has no area inside the image", True),
    ]  # fmt: skip
    for width, height in ((-5, 10), (0, 10)):
        with pytest.raises(
            ValueError, match=rf"^width must be a positive int \(pixels\), got {width}$"
        ):
            parse(answer, width=width, height=height)


def test_negative_size_in_a_manifest_is_a_failed_job(tmp_path: Path) -> None:
    job = Job(source="m.jsonl:1", size=(-5, 10), answer_text='[{"box_2d": [1, 2, 3, 4]}]')
    report = run_batch([job], BatchOptions(report=tmp_path / "r.json"))
    assert report.failed == 1
    assert report.files[0]["error"] == "width must be a positive int (pixels), got -5"


# ------------------------------------------------------------------ images
@pytest.fixture
def bad_images(tmp_path: Path, fixtures_dir: Path) -> dict[str, Path]:
    jpeg = (fixtures_dir / "images" / "coffee.jpg").read_bytes()
    files = {
        "empty.jpg": b"",
        "text.png": b"hello, not an image\n",
        "header-only.jpg": jpeg[:300],
        "cut.jpg": jpeg[: len(jpeg) * 2 // 3],
    }
    paths = {}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        paths[name] = tmp_path / name
    (tmp_path / "folder.png").mkdir()
    paths["folder.png"] = tmp_path / "folder.png"
    paths["missing.jpg"] = tmp_path / "missing.jpg"
    return paths


def test_empty_image(bad_images: dict[str, Path]) -> None:
    path = bad_images["empty.jpg"]
    message = f"cannot read {path}: not an image format Pillow knows (PNG, JPEG, WebP, ...)"
    for reader in (image_size, read_image):
        with pytest.raises(ImageError) as info:
            reader(path)
        assert str(info.value) == message
    with pytest.raises(ImageError, match=r"^image array has no pixels \(5x0\)$"):
        read_image(np.zeros((0, 5, 3), dtype=np.uint8))


def test_unreadable_images(bad_images: dict[str, Path]) -> None:
    expected = {
        "text.png": "not an image format Pillow knows",
        "header-only.jpg": "Truncated File Read",
        "folder.png": "is a folder, not an image",
        "missing.jpg": "image not found",
    }
    for name, text in expected.items():
        with pytest.raises(ImageError, match=text):
            read_image(bad_images[name])
    # A JPEG cut inside its pixel data has a readable header (its size is known) but
    # cannot be decoded.
    assert image_size(bad_images["cut.jpg"]) == (600, 400)
    with pytest.raises(ImageError, match="image file is truncated"):
        read_image(bad_images["cut.jpg"])


def test_unreadable_images_in_a_batch_are_failed_entries(bad_images: dict[str, Path]) -> None:
    answer = '[{"box_2d": [1, 2, 300, 400], "label": "a"}]'
    jobs = [
        Job(source=f"{name}.txt", image=str(path), answer_text=answer)
        for name, path in sorted(bad_images.items())
    ]
    jobs.append(Job(source="ok.txt", size=(40, 30), answer_text=answer))
    folder = bad_images["empty.jpg"].parent / "out"
    report = run_batch(jobs, BatchOptions(coco=folder / "c.json", overlays=folder / "ov"))
    by_source = {f["answer"]: f for f in report.files}
    assert report.failed == 5 and report.images == 2  # every bad image, by its file
    assert "not an image format" in by_source["empty.jpg.txt"]["error"]
    assert "image not found" in by_source["missing.jpg.txt"]["error"]
    assert "items" in by_source["ok.txt"] and "error" not in by_source["ok.txt"]
    # cut.jpg: the header gives its size, so its annotations stay in the dataset; its
    # overlay needs the pixels: reported, not written.
    cut = by_source["cut.jpg.txt"]
    assert "error" not in cut and "overlay" not in cut
    assert [(p["stage"], p["kind"]) for p in cut["problems"]] == [("overlay", "not_written")]
    assert "image file is truncated" in cut["problems"][0]["message"]


def test_wrong_image_for_the_answer() -> None:
    """Answers are in 0-1000 units: nothing in them says which picture they describe.
    The result is scaled to whatever size is given; only what cannot be placed is
    reported (boxes or masks under one pixel)."""
    answer = [
        {"box_2d": [100, 100, 400, 500], "label": "a", "mask": GOOD_PNG},
        {"box_2d": [500, 500, 502, 502], "label": "speck", "mask": GOOD_PNG},
    ]
    big = parse(answer, width=4000, height=3000)
    small = parse(answer, width=40, height=30)
    np.testing.assert_allclose(big.boxes[0] / 100, small.boxes[0])
    assert big.problems == []
    assert problems(small) == [(1, "bad_mask", "box is under one pixel; mask dropped", False)]
    assert small.labels == ["a", "speck"]


def test_duplicate_file_names(tmp_path: Path) -> None:
    # Two pictures called photo.jpg in different folders, of different sizes.
    paths = []
    for folder, size in (("a", (40, 30)), ("b", (80, 60))):
        (tmp_path / folder).mkdir()
        paths.append(tmp_path / folder / "photo.jpg")
        Image.new("RGB", size).save(paths[-1])
    answer = '[{"box_2d": [1, 2, 300, 400], "label": "a"}]'
    jobs = [Job(source=f"{p.parent.name}.txt", image=str(p), answer_text=answer) for p in paths]
    jobs.append(Job(source="again.txt", image=str(paths[0]), answer_text=answer))
    out = tmp_path / "out"
    report = run_batch(
        jobs, BatchOptions(coco=out / "c.json", overlays=out / "ov", report=out / "r.json")
    )
    coco = json.loads((out / "c.json").read_text())
    assert [i["file_name"] for i in coco["images"]] == ["photo.jpg", "photo.jpg"]
    second = report.files[1]["problems"]
    assert second == [
        {
            "stage": "export",
            "kind": "name_collision",
            "image": str(paths[1]),
            "index": None,
            "message": "file name 'photo.jpg' already used by image 1 of another size; COCO "
            "tools that look images up by name will confuse them",
            "dropped": False,
        }
    ]
    # The same picture again (same name and size) is one image with both answers' items.
    assert report.files[2]["image_id"] == 1
    assert report.files[2]["notes"] == ["merged into image 1, which has the same file name"]
    assert len(coco["annotations"]) == 3
    assert sorted(p.name for p in (out / "ov").glob("[!.]*")) == [
        "photo-2.jpg",
        "photo-3.jpg",
        "photo.jpg",
    ]
    dataset = CocoDataset()
    d = parse(answer, width=40, height=30)
    dataset.add(d, file_name="photo.jpg")
    with pytest.raises(ExportError, match=r"^image 'photo\.jpg' was already added$"):
        dataset.add(d, file_name="photo.jpg")


def test_every_reference_in_the_reliability_doc_is_a_test() -> None:
    """docs/reliability.md names its proofs as ``file::test``; each must exist here."""
    import importlib

    doc = (Path(__file__).resolve().parent.parent / "docs" / "reliability.md").read_text()
    short = {"inputs", "bounds", "batch", "fuzz"}
    refs = re.findall(r"`([\w.]+)::(\w+)`", doc)
    assert len(refs) >= 30
    for module, name in refs:
        stem = f"test_reliability_{module}" if module in short else module.removesuffix(".py")
        assert hasattr(importlib.import_module(f"tests.{stem}"), name), f"{module}::{name}"
