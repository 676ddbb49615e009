"""boxmask.review: the static site names every image, links problems, works offline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from boxmask.cli.main import main
from boxmask.errors import ExportError
from boxmask.review import build_review
from tests.fixture_paths import FIXTURES

ROOT = Path(__file__).resolve().parents[1]


class Page(HTMLParser):
    """Every tag with its attributes, the text, and the ids."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if dict(attrs).get("id"):
            self.ids.add(str(dict(attrs)["id"]))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse_page(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def page_data(site: Path) -> dict[str, Any]:
    text = (site / "data.js").read_text(encoding="utf-8")
    assert text.startswith("window.BOXMASK_REVIEW=") and text.rstrip().endswith(";")
    data: dict[str, Any] = json.loads(text[len("window.BOXMASK_REVIEW=") :].rstrip()[:-1])
    return data


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture answers converted by ``boxmask convert``: coco.json + report.json."""
    out = tmp_path_factory.mktemp("converted")
    code = main(
        [
            "convert",
            str(FIXTURES),
            "--coco",
            str(out / "coco.json"),
            "--report",
            str(out / "report.json"),
        ]
    )
    assert code == 0
    return out


@pytest.fixture(scope="module")
def site(converted: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    result = build_review(
        converted / "coco.json",
        out,
        report=converted / "report.json",
        images=FIXTURES / "images",
    )
    assert result.index == out / "index.html"
    assert result.thumbnails == result.images == 4
    return out


def test_the_page_names_every_image_and_label(site: Path, converted: Path) -> None:
    coco = json.loads((converted / "coco.json").read_text())
    page = parse_page(site / "index.html")
    text = " ".join(page.text)
    for image in coco["images"]:
        assert image["file_name"] in text
        assert any(a.get("href") == f"#img-{image['id']}" for t, a in page.tags if t == "a")
    counts: dict[str, int] = {}
    for ann in coco["annotations"]:
        name = next(c["name"] for c in coco["categories"] if c["id"] == ann["category_id"])
        counts[name] = counts.get(name, 0) + 1
    rows = [a for t, a in page.tags if t == "tr" and "data-label" in a]
    assert len(rows) == len(coco["categories"])
    for name in counts:
        assert name in text
    assert {"grid", "label", "kind", "all-images", "problems"} <= page.ids
    scripts = [a.get("src") for t, a in page.tags if t == "script"]
    assert "data.js" in scripts


def test_problems_are_attached_to_their_images_and_link_to_the_report(
    site: Path, converted: Path
) -> None:
    report = json.loads((converted / "report.json").read_text())
    data = page_data(site)
    total = sum(len(f.get("problems", [])) for f in report["files"])
    assert len(data["problems"]) == total == 5
    assert json.loads((site / "report.json").read_text()) == report
    assert data["report"] == "report.json"
    page = parse_page(site / "index.html")
    for n, problem in enumerate(data["problems"]):
        assert f"problem-{n}" in page.ids
        row = next(r for r in data["images"] if r[0] == problem[1])
        assert n in row[7]
        assert problem[5].startswith("files[")
    kinds = set(data["kinds"])
    assert {"point_only", "truncated"} <= kinds
    assert sum(data["kind_counts"]) == total


def test_the_site_is_self_contained(site: Path) -> None:
    page = parse_page(site / "index.html")
    links = [a.get("src") or a.get("href") or "" for _, a in page.tags]
    assert not [x for x in links if x.startswith(("http:", "https:", "//"))]
    data = page_data(site)
    for row in data["images"]:
        thumb = site / row[4]
        assert thumb.is_file() and thumb.read_bytes()[:2] == b"\xff\xd8"
        assert (site / row[5]).is_file()  # the full image, relative to the site
    assert (site / data["coco"]).is_file()


def test_missing_images_still_get_a_card_that_says_why(converted: Path, tmp_path: Path) -> None:
    coco = tmp_path / "moved" / "coco.json"
    coco.parent.mkdir()
    shutil.copy(converted / "coco.json", coco)
    result = build_review(coco, tmp_path / "site")
    assert result.thumbnails == 0 and len(result.without_thumbnail) == 4
    data = page_data(tmp_path / "site")
    assert all(row[4] == "" for row in data["images"])
    assert all("not found" in note for note in data["thumb_notes"].values())
    fast = build_review(coco, tmp_path / "fast", thumbnails=False)
    assert fast.images == 4 and fast.without_thumbnail == {}


def test_bad_inputs_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="no such file"):
        build_review(tmp_path / "nope.json", tmp_path / "site")
    bad = tmp_path / "bad.json"
    bad.write_text('{"annotations": []}')
    with pytest.raises(ExportError, match="not a COCO file"):
        build_review(bad, tmp_path / "site")


def test_review_command(
    converted: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "review",
            str(converted / "coco.json"),
            "--report",
            str(converted / "report.json"),
            "--images",
            str(FIXTURES / "images"),
            "-o",
            str(tmp_path / "site"),
        ]
    )
    assert code == 0
    assert "4 images, 4 thumbnails, 5 problems" in capsys.readouterr().out
    assert main(["review", str(tmp_path / "none.json"), "-o", str(tmp_path / "x")]) == 1
    assert "no such file" in capsys.readouterr().err


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(_chromium() is None, reason="chromium is not installed")
def test_the_page_renders_in_headless_chromium(site: Path, tmp_path: Path) -> None:
    exe = _chromium()
    assert exe is not None
    base = [
        exe,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tempfile.mkdtemp(dir=tmp_path)}",
    ]
    url = (site / "index.html").resolve().as_uri()
    dom = subprocess.run(
        [*base, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=False
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    rendered = Page()
    rendered.feed(dom.stdout)
    cards = [a for t, a in rendered.tags if t == "div" and "card" in (a.get("class") or "")]
    assert len(cards) == 4  # the script drew one card per image
    assert sum(1 for t, a in rendered.tags if t == "img" and "thumbs/" in (a.get("src") or "")) == 4
    shot = tmp_path / "shot.png"
    done = subprocess.run(
        [*base, f"--screenshot={shot}", "--window-size=1280,900", url],
        capture_output=True,
        timeout=120,
        check=False,
        env={**os.environ},
    )
    assert done.returncode == 0 and shot.is_file()
    from PIL import Image

    with Image.open(shot) as im:
        colors = im.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colors is not None and len(colors) > 200  # not blank: text, thumbnails
