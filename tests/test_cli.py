"""The boxmask command line, through a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from boxmask.testing.answers import make_items, to_answer_text


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "boxmask.cli.main", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_parse_prints_table_and_problems(tmp_path: Path) -> None:
    answer = tmp_path / "a.txt"
    answer.write_text(
        '[{"box_2d": [1, 2, 3], "label": "x"}, {"box_2d": [0, 0, 10, 10], "label": "y"}]'
    )
    out = run("parse", str(answer), "--size", "100x100")
    assert out.returncode == 0, out.stderr
    assert "a.txt" in out.stdout and "bad_box" in out.stdout


def test_parse_json_from_stdin() -> None:
    out = run("parse", "-", "--size", "640x480", "--json", stdin=to_answer_text(make_items(3)))
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report[0]["items"] == 3 and report[0]["masks"] == 3


def test_unreadable_answer_exit_code_and_message(tmp_path: Path) -> None:
    answer = tmp_path / "prose.txt"
    answer.write_text("No objects found.")
    out = run("parse", str(answer), "--size", "10x10")
    assert out.returncode == 1 and "unreadable" in out.stdout
    assert "Traceback" not in out.stderr


def test_usage_errors_exit_2() -> None:
    assert run("parse", "x.txt", "--size", "ten").returncode == 2
    assert run().returncode == 2
    missing = run("parse", "/nonexistent/answer.txt", "--size", "10x10")
    assert missing.returncode == 2 and "not found" in missing.stderr


def test_demo_runs_on_fixtures(fixtures_dir: Path, tmp_path: Path) -> None:
    out = run("demo", "--fixtures", str(fixtures_dir), "--out", str(tmp_path / "out"))
    assert out.returncode == 0, out.stderr
    assert "coffee.seg-png.txt" in out.stdout and "truncated" in out.stdout


def test_bench_covers_box_only_png_and_polygon_answers() -> None:
    for kind in ("boxes", "polygon", "png"):
        done = run("bench", "--kind", kind, "--masks", "4", "--repeat", "1", "--no-reference")
        assert done.returncode == 0, done.stderr
        assert f"4 items ({kind}, Gemini format)" in done.stdout
        assert "boxmask parse" in done.stdout


def test_parse_lists_every_item_with_its_label_and_pixel_box(tmp_path: Path) -> None:
    answer = tmp_path / "a.txt"
    answer.write_text(
        json.dumps(
            [
                {"box_2d": [100, 200, 300, 400], "label": "cat\x1b[2J\u202e", "confidence": 0.9},
                {"point": [500, 250], "label": "dot"},
                {"box_2d": [1, 2, 3], "label": "bad"},
            ]
        )
    )
    table = run("parse", str(answer), "--size", "640x480")
    assert table.returncode == 0, table.stderr
    assert "\x1b" not in table.stdout and "\u202e" not in table.stdout
    assert "[xmin, ymin, xmax, ymax]" in table.stdout
    rows = [line.split() for line in table.stdout.splitlines() if line.startswith(str(answer))]
    # ymin,xmin,ymax,xmax 0-1000 -> pixel xmin,ymin,xmax,ymax: x = 200/1000*640 ...
    assert rows[0][:8] == [
        str(answer),
        "0",
        "cat\\x1b[2J\\u202e",
        "128.00",
        "48.00",
        "256.00",
        "144.00",
        "0.90",
    ]
    assert rows[1][:3] == [str(answer), "1", "dot"] and rows[1][-1] == "160.0,240.0"
    done = run("parse", str(answer), "--size", "640x480", "--json")
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout and "\u202e" not in done.stdout  # escaped in the JSON text
    items = json.loads(done.stdout)[0]["detections"]
    assert [i["label"] for i in items] == ["cat\x1b[2J\u202e", "dot"]
    assert items[0]["box_xyxy"] == [128.0, 48.0, 256.0, 144.0] and items[0]["score"] == 0.9
    assert items[1]["box_xyxy"] is None and items[1]["point_xy"] == [160.0, 240.0]
    assert [i["index"] for i in items] == [0, 1]
    counts = json.loads(run("parse", str(answer), "--size", "640x480", "--json", "--counts").stdout)
    assert "detections" not in counts[0] and counts[0]["items"] == 2


def test_parse_gives_the_mask_area_of_each_item() -> None:
    done = run("parse", "-", "--size", "640x480", "--json", stdin=to_answer_text(make_items(3)))
    items = json.loads(done.stdout)[0]["detections"]
    assert len(items) == 3 and all(i["mask_area"] > 0 for i in items)
    for item in items:
        xmin, ymin, xmax, ymax = item["box_xyxy"]
        assert 0 <= xmin < xmax <= 640 and 0 <= ymin < ymax <= 480
