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
