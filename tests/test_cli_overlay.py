"""``boxmask overlay`` through a real subprocess: output file, options, clean errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from boxmask.images import read_image
from tests.fixture_paths import FIXTURE_IMAGES

ROOT = Path(__file__).resolve().parents[1]
IMAGE = FIXTURE_IMAGES / "chelsea.jpg"
ANSWER = (
    '```json\n[{"box_2d": [200, 300, 600, 700], "label": "face",'
    ' "mask": [[300, 220], [700, 220], [700, 580], [300, 580]]},'
    ' {"box_2d": [700, 100, 950, 400], "label": "paw", "confidence": 0.8}]\n```'
)


def boxmask(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "boxmask.cli.main", *args],
        capture_output=True,
        text=True,
        input=stdin,
        cwd=ROOT,
        check=False,
    )


def answer_file(tmp_path: Path, text: str = ANSWER) -> Path:
    path = tmp_path / "chelsea.answer.txt"
    path.write_text(text, encoding="utf-8")
    return path


def test_overlay_writes_the_picture(tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    done = boxmask("overlay", str(answer_file(tmp_path)), "--image", str(IMAGE), "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stdout and "2 items" in done.stdout
    drawn = read_image(out)
    source = read_image(IMAGE)
    assert drawn.shape == source.shape
    assert (drawn != source).any()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_options_and_stdin(tmp_path: Path) -> None:
    plain = tmp_path / "plain.png"
    done = boxmask(
        "overlay", "-", "--image", str(IMAGE), "-o", str(plain),
        "--alpha", "0", "--no-labels", "--no-boxes", "--no-outline", "--no-points",
        stdin=ANSWER,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    np.testing.assert_array_equal(read_image(plain), read_image(IMAGE))
    jpg = tmp_path / "out.jpg"
    done = boxmask(
        "overlay", str(answer_file(tmp_path)), "--image", str(IMAGE), "-o", str(jpg),
        "--alpha", "0.7", "--thickness", "3", "--text-size", "18", "--no-scores",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert read_image(jpg).shape == (300, 451, 3)


def test_problems_are_reported_on_stderr(tmp_path: Path) -> None:
    cut = answer_file(tmp_path, ANSWER[: ANSWER.index('{"box_2d": [700') + 30])
    done = boxmask("overlay", str(cut), "--image", str(IMAGE), "-o", str(tmp_path / "o.png"))
    assert done.returncode == 0, done.stderr
    assert "truncated" in done.stderr


def test_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    answer = str(answer_file(tmp_path))
    out = str(tmp_path / "o.png")
    cases = [
        (["--image", str(tmp_path / "nope.jpg"), "-o", out], "image not found", 1),
        (["--image", answer, "-o", out], "not an image", 1),
        (["--image", str(IMAGE), "-o", str(tmp_path / "o.gif")], "unknown image suffix", 1),
        (["--image", str(IMAGE), "-o", out, "--font", "no-such-font-xyz"], "cannot load font", 2),
        (["--image", str(IMAGE), "-o", out, "--alpha", "1.5"], "alpha must be between", 2),
    ]
    for args, message, code in cases:
        done = boxmask("overlay", answer, *args)
        assert done.returncode == code, (args, done.stderr)
        assert message in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr
    nested = tmp_path / "new" / "o.jpg"  # missing folders are made (boxmask.io)
    assert boxmask("overlay", answer, "--image", str(IMAGE), "-o", str(nested)).returncode == 0
    assert nested.read_bytes()[:2] == b"\xff\xd8"
    done = boxmask("overlay", str(tmp_path / "missing.txt"), "--image", str(IMAGE), "-o", out)
    assert done.returncode == 2 and "cannot read" in done.stderr
    done = boxmask(
        "overlay", str(answer_file(tmp_path, "no json here")), "--image", str(IMAGE), "-o", out
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr


def test_existing_output_needs_force_as_in_convert(tmp_path: Path) -> None:
    answer = str(answer_file(tmp_path))
    out = tmp_path / "o.jpg"
    out.write_bytes(b"mine")
    done = boxmask("overlay", answer, "--image", str(IMAGE), "-o", str(out))
    assert done.returncode == 2 and "pass --force" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and out.read_bytes() == b"mine"
    done = boxmask("overlay", answer, "--image", str(IMAGE), "-o", str(out), "--force")
    assert done.returncode == 0, done.stderr
    assert out.read_bytes()[:2] == b"\xff\xd8"
    folder = tmp_path / "folder.jpg"
    folder.mkdir()
    done = boxmask("overlay", answer, "--image", str(IMAGE), "-o", str(folder), "--force")
    assert done.returncode == 2 and "is a folder" in done.stderr


def test_output_is_never_the_image_even_through_links(tmp_path: Path) -> None:
    picture = tmp_path / "pic.jpg"
    picture.write_bytes(IMAGE.read_bytes())
    before = picture.read_bytes()
    symlink = tmp_path / "sym.jpg"
    symlink.symlink_to(picture)
    hardlink = tmp_path / "hard.jpg"
    os.link(picture, hardlink)
    answer = str(answer_file(tmp_path))
    for target in (picture, symlink, hardlink, tmp_path / "." / "pic.jpg"):
        for force in ([], ["--force"]):
            done = boxmask("overlay", answer, "--image", str(picture), "-o", str(target), *force)
            assert done.returncode == 2, (target, force, done.stderr)
            assert "is an input of this run" in done.stderr and "Traceback" not in done.stderr
            assert len(done.stderr.strip().splitlines()) == 1
    # the image given through a link is the same file too
    done = boxmask("overlay", answer, "--image", str(hardlink), "-o", str(picture), "--force")
    assert done.returncode == 2 and "is an input" in done.stderr
    assert picture.read_bytes() == before and hardlink.read_bytes() == before
