"""``boxmask convert`` and ``boxmask demo`` through a real subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import boxmask
from boxmask.testing.answers import make_items, to_answer_text


def run(
    *args: str, stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "boxmask.cli.main", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )


def make_folder(
    folder: Path, n: int, *, masks: int = 3, size: tuple[int, int] = (320, 240)
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", size, (90, 90, 90)).save(folder / f"p{i:04d}.png")
        (folder / f"p{i:04d}.txt").write_text(to_answer_text(make_items(masks, seed=i)))


def test_single_answer_with_image_writes_coco_and_overlay(
    tmp_path: Path, fixtures_dir: Path
) -> None:
    out = run(
        "convert",
        str(fixtures_dir / "answers" / "coffee.seg-png.txt"),
        "--image",
        str(fixtures_dir / "images" / "coffee.jpg"),
        "--coco",
        str(tmp_path / "c.json"),
        "--overlay",
        str(tmp_path / "o.png"),
    )
    assert out.returncode == 0, out.stderr
    data = json.loads((tmp_path / "c.json").read_text())
    assert len(data["annotations"]) == 4
    # The worker draws (in BGR, for the encoder) exactly what draw() gives
    image = fixtures_dir / "images" / "coffee.jpg"
    answer = (fixtures_dir / "answers" / "coffee.seg-png.txt").read_text()
    expected = boxmask.draw(image, boxmask.parse(answer, width=600, height=400))
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "o.png")), expected)


def test_stdin_with_size_and_polygons(tmp_path: Path) -> None:
    out = run(
        "convert",
        "-",
        "--size",
        "640x480",
        "--coco",
        str(tmp_path / "c.json"),
        "--masks",
        "polygon",
        stdin=to_answer_text(make_items(4, seed=3)),
    )
    assert out.returncode == 0, out.stderr
    data = json.loads((tmp_path / "c.json").read_text())
    assert all(isinstance(a["segmentation"], (list, dict)) for a in data["annotations"])


def test_strict_exit_code_and_report(tmp_path: Path) -> None:
    make_folder(tmp_path / "d", 3)
    (tmp_path / "d" / "p0001.txt").write_text('[{"box_2d": [1, 2, 3], "label": "x"}]')
    args = [
        "convert",
        str(tmp_path / "d"),
        "--coco",
        str(tmp_path / "c.json"),
        "--report",
        str(tmp_path / "r.json"),
    ]
    relaxed = run(*args, "--workers", "1")
    assert relaxed.returncode == 0, relaxed.stderr
    assert "p0001.txt: item 0: bad_box" in relaxed.stdout
    strict = run(*args, "--force", "--strict")
    assert strict.returncode == 1
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["summary"]["problems"] >= 1


@pytest.mark.parametrize(
    "args",
    [
        ["convert"],
        ["convert", "missing.txt", "--size", "10x10"],
        ["convert", "x.txt"],
        ["convert", "--manifest", "missing.jsonl"],
        ["convert", "a.txt", "--size", "10x10", "--threshold", "400"],
    ],
)
def test_usage_errors_exit_2_with_a_message(args: list[str], tmp_path: Path) -> None:
    out = run(*args, cwd=tmp_path)
    assert out.returncode == 2
    assert "error" in out.stderr and "Traceback" not in out.stderr


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    make_folder(tmp_path / "d", 1)
    (tmp_path / "c.json").write_text("{}")
    out = run("convert", str(tmp_path / "d"), "--coco", str(tmp_path / "c.json"))
    assert out.returncode == 2 and "--force" in out.stderr
    assert (tmp_path / "c.json").read_text() == "{}"


def test_manifest_with_inline_response(tmp_path: Path) -> None:
    make_folder(tmp_path, 1)
    text = to_answer_text(make_items(2, seed=1))
    line = {
        "image": "p0000.png",
        "response": {"candidates": [{"content": {"parts": [{"text": text}]}}]},
    }
    (tmp_path / "m.jsonl").write_text(json.dumps(line) + "\n")
    out = run(
        "convert", "--manifest", str(tmp_path / "m.jsonl"), "--coco", str(tmp_path / "c.json")
    )
    assert out.returncode == 0, out.stderr
    assert len(json.loads((tmp_path / "c.json").read_text())["annotations"]) == 2


def test_identical_output_for_one_and_two_workers(tmp_path: Path) -> None:
    make_folder(tmp_path / "d", 10)
    for w in ("1", "2"):
        out = run(
            "convert", str(tmp_path / "d"), "--coco", str(tmp_path / f"c{w}.json"), "--workers", w
        )
        assert out.returncode == 0, out.stderr
    assert (tmp_path / "c1.json").read_bytes() == (tmp_path / "c2.json").read_bytes()


@pytest.mark.parametrize(
    "sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["SIGINT", "SIGTERM", "SIGKILL"]
)
def test_interrupted_run_leaves_no_partial_output(tmp_path: Path, sig: int) -> None:
    # A long batch that is cheap to set up: 20 answers, listed 3,000 times (size only).
    for i in range(20):
        (tmp_path / f"a{i}.txt").write_text(to_answer_text(make_items(20, seed=i)))
    lines = [
        json.dumps({"answer": f"a{k % 20}.txt", "width": 1280, "height": 720}) for k in range(3000)
    ]
    (tmp_path / "m.jsonl").write_text("\n".join(lines) + "\n")
    target = tmp_path / "out" / "coco.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "boxmask.cli.main",
            "convert",
            "--manifest",
            str(tmp_path / "m.jsonl"),
            "--coco",
            str(target),
            "--workers",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while (
        not list((tmp_path / "out").glob(".coco.json.annotations.*"))
        and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    time.sleep(0.3)
    assert proc.poll() is None, "the batch finished before it could be interrupted"
    os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=180)
    assert not target.exists()
    if sig != signal.SIGKILL:  # Ctrl-C 130, SIGTERM 143: workers stopped, parts removed
        code = 130 if sig == signal.SIGINT else 143
        assert proc.returncode == code, err.decode(errors="replace")[-2000:]
        assert list((tmp_path / "out").iterdir()) == []


def test_demo_writes_coco_overlays_and_report(tmp_path: Path, fixtures_dir: Path) -> None:
    out = run("demo", "--fixtures", str(fixtures_dir), "--out", str(tmp_path / "out"))
    assert out.returncode == 0, out.stderr
    coco = json.loads((tmp_path / "out" / "coco.json").read_text())
    assert len(coco["images"]) == 4 and len(coco["annotations"]) >= 15
    overlays = sorted(p.name for p in (tmp_path / "out" / "overlays").glob("[!.]*"))
    assert "coffee.jpg" in overlays and len(overlays) == 6
    assert "truncated" in out.stdout
