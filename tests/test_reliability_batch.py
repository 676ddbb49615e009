"""Batch conversion at scale: 10,000 answers, 5 % corrupted, through the CLI as a process.

Every good item must be exported, every bad answer must be in the report with its file
(manifest line) and item index, and the process exit code must be the documented one
(0 done, 1 problems found with ``--strict``, 2 usage error).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from boxmask.batch import BatchOptions, run_batch
from boxmask.batch.jobs import Job
from boxmask.cli.main import main

N_ANSWERS = 10_000
W, H = 64, 48
PNG_B64_NOT = "this is not base64!"

#: (kind, answer text, how the report shows it). ``error``: the whole answer failed, with
#: this text; otherwise (item index, problem kind, dropped) and the items exported.
CORRUPTIONS: list[tuple[str, str, Any]] = [
    ("not json", "Sorry, I cannot help with that.", ("error", "no JSON list or object")),
    (
        "truncated",
        '[{"box_2d": [10, 10, 500, 500], "label": "a"}, {"box_2d": [20, 2',
        ((1, "truncated", True), 1),
    ),
    (
        "nan box",
        '[{"box_2d": [10, 10, 500, 500], "label": "a"}, {"box_2d": [NaN, 1, 2, 3], "label": "b"}]',
        ((1, "bad_box", False), 1),
    ),
    (
        "strings in box",
        '[{"box_2d": ["10", "10", "500", "500"], "label": "a"}, {"box_2d": [1, 1, 9, 9], "label": "b"}]',
        ((0, "box_coerced", False), 2),
    ),
    (
        "item not an object",
        '[{"box_2d": [10, 10, 500, 500], "label": "a"}, 42]',
        ((1, "not_an_object", True), 1),
    ),
    (
        "invalid base64 mask",
        '[{"box_2d": [10, 10, 500, 500], "label": "a", "mask": "' + PNG_B64_NOT + '"}]',
        ((0, "bad_mask", False), 1),
    ),
    (
        "unknown mask encoding",
        '[{"box_2d": [10, 10, 500, 500], "label": "a", "mask": {"counts": "x", "size": [1, 1]}}]',
        ((0, "unknown_mask", False), 1),
    ),
    (
        "api error body",
        '{"error": {"code": 429, "message": "Resource has been exhausted"}}',
        ("error", "the response is an API error"),
    ),
    (
        "inverted box",
        '[{"box_2d": [500, 500, 10, 10], "label": "a"}, {"box_2d": [1, 1, 9, 9], "label": "b"}]',
        ((0, "box_swapped", False), 2),
    ),
    ("deeply nested", "[" * 50_000 + "]" * 49_999, ("error", "no JSON list or object")),
]


def good_answer(i: int) -> str:
    """Two items whose boxes encode ``i`` (so a mix-up between answers shows)."""
    return json.dumps(
        [
            {"box_2d": [i % 500, 100, 600, 900], "label": f"L{i % 7}"},
            {"box_2d": [5, 5, 50, 50], "label": "dot"},
        ]
    )


def is_corrupt(i: int) -> bool:
    return i % 20 == 7  # 5 %


def corruption(i: int) -> tuple[str, str, Any]:
    return CORRUPTIONS[(i // 20) % len(CORRUPTIONS)]


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("batch10k")
    path = folder / "answers.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for i in range(N_ANSWERS):
            text = corruption(i)[1] if is_corrupt(i) else good_answer(i)
            out.write(json.dumps({"width": W, "height": H, "answer": text}) + "\n")
    return path


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "boxmask.cli.main", "convert", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_ten_thousand_answers_five_percent_corrupted(manifest: Path) -> None:
    folder = manifest.parent
    coco, report_path = folder / "coco.json", folder / "report.json"
    done = run_cli(
        "--manifest", str(manifest), "--coco", str(coco), "--report", str(report_path),
        "--workers", "1", "--strict", "--quiet",
    )  # fmt: skip
    assert done.returncode == 1, done.stderr  # problems were found and --strict is set
    report = json.loads(report_path.read_text())
    dataset = json.loads(coco.read_text())
    files = report["files"]
    assert len(files) == N_ANSWERS  # none lost, none duplicated
    assert [f["answer"] for f in files] == [f"answers.jsonl:{i + 1}" for i in range(N_ANSWERS)]

    expected_annotations = 0
    failed = 0
    for i, entry in enumerate(files):
        if not is_corrupt(i):
            assert "error" not in entry and entry["problems"] == [], entry
            assert entry["items"] == 2
            expected_annotations += 2
            continue
        name, _, expect = corruption(i)
        if expect[0] == "error":
            failed += 1
            assert expect[1] in entry["error"], (name, entry)
            continue
        (index, kind, dropped), exported = expect
        found = [(p["index"], p["kind"], p["dropped"]) for p in entry["problems"]]
        assert (index, kind, dropped) in found, (name, found)
        expected_annotations += exported

    summary = report["summary"]
    fatal = sum(1 for i in range(N_ANSWERS) if is_corrupt(i) and corruption(i)[2][0] == "error")
    assert failed == fatal == 150  # 3 of the 10 kinds leave nothing readable
    assert summary["failed"] == failed
    assert summary["images"] == N_ANSWERS - failed == len(dataset["images"])
    assert summary["annotations"] == expected_annotations == len(dataset["annotations"])
    # One image per answer, each its own file name; annotations point at the right one.
    names = [image["file_name"] for image in dataset["images"]]
    assert len(set(names)) == len(names)
    image_of = {image["id"]: image["file_name"] for image in dataset["images"]}
    for ann in dataset["annotations"]:
        if ann["category_id"] == dataset["categories"][0]["id"] and ann["bbox"][1] > 0:
            line = int(image_of[ann["image_id"]].removeprefix("answers-").removesuffix(".jpg"))
            assert ann["bbox"][1] == pytest.approx((line - 1) % 500 / 1000 * H)
    # Outputs were written atomically: no temporary parts left beside them.
    assert sorted(p.name for p in folder.iterdir()) == ["answers.jsonl", "coco.json", "report.json"]


def test_exit_codes_as_documented(manifest: Path, tmp_path: Path) -> None:
    head = tmp_path / "head.jsonl"
    head.write_text("".join(manifest.read_text().splitlines(keepends=True)[:40]))
    ok = run_cli("--manifest", str(head), "--coco", str(tmp_path / "a.json"), "--quiet")
    assert ok.returncode == 1, ok.stderr  # an input failed: said, after writing the rest
    assert "40 answers: 39 images" in ok.stdout  # line 8: not JSON; line 28: truncated
    assert "1 problems, 1 failed" in ok.stdout
    assert json.loads((tmp_path / "a.json").read_text())["images"]
    degraded = tmp_path / "degraded.jsonl"
    degraded.write_text(head.read_text().splitlines(keepends=True)[27])  # truncated only
    out = str(tmp_path / "d.json")
    assert run_cli("--manifest", str(degraded), "--coco", out, "--quiet").returncode == 0
    strict = run_cli("--manifest", str(degraded), "--coco", out, "--force", "--strict")
    assert strict.returncode == 1
    again = run_cli("--manifest", str(head), "--coco", str(tmp_path / "a.json"))
    assert again.returncode == 2 and "exists; pass --force" in again.stderr
    clean = tmp_path / "clean.jsonl"
    clean.write_text(json.dumps({"width": 5, "height": 5, "answer": good_answer(3)}) + "\n")
    report = str(tmp_path / "r.json")
    assert (
        run_cli("--manifest", str(clean), "--strict", "--quiet", "--report", report).returncode == 0
    )
    nothing = run_cli("--manifest", str(clean), "--quiet")
    assert nothing.returncode == 2 and "nothing to write" in nothing.stderr


def test_size_only_manifest_lines_are_separate_images(tmp_path: Path) -> None:
    """Regression: every size-only manifest line got the file name of the manifest
    ('answers.jpg'), so the merger folded a whole batch into one COCO image."""
    assert Job(source="answers.jsonl:12", size=(5, 5)).file_name == "answers-12.jpg"
    assert Job(source="x/answer.txt", size=(5, 5)).file_name == "answer.jpg"
    path = tmp_path / "m.jsonl"
    lines = [{"width": 10, "height": 10, "answer": good_answer(i)} for i in range(3)]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    coco = tmp_path / "c.json"
    assert main(["convert", "--manifest", str(path), "--coco", str(coco), "--quiet"]) == 0
    images = json.loads(coco.read_text())["images"]
    assert [i["file_name"] for i in images] == ["m-1.jpg", "m-2.jpg", "m-3.jpg"]


def _kill_this_process() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class _KillsItsWorker:
    """Unpickled in a worker process, it SIGKILLs that process, as the out-of-memory
    killer would (the parent sees a worker vanish mid-chunk)."""

    def __reduce__(self) -> tuple[object, tuple[()]]:
        return (_kill_this_process, ())


def test_a_lost_worker_fails_its_job_and_the_batch_goes_on(tmp_path: Path) -> None:
    """Regression: a worker killed (SIGKILL, OOM) made multiprocessing.Pool wait forever."""
    jobs = [Job(source=f"a{i}.txt", size=(40, 30), answer_text=good_answer(i)) for i in range(20)]
    jobs[5] = Job(source="killer.txt", size=(40, 30), response=_KillsItsWorker())
    report = run_batch(jobs, BatchOptions(coco=tmp_path / "c.json", workers=2))
    assert [f["answer"] for f in report.files] == [j.source for j in jobs]  # input order
    lost = report.files[5]
    assert report.failed == 1 and "killed by SIGKILL" in lost["error"]
    assert [p["kind"] for p in lost["problems"]] == ["worker_lost"]
    assert report.images == 19


def convert_or_die(task: tuple[int, Job, Any, str | None]) -> Any:
    """``convert_job``, except that an answer asking for it kills its own worker."""
    from boxmask.batch.worker import convert_job

    if "kill-my-worker" in (task[1].answer_text or ""):
        _kill_this_process()
    return convert_job(task)


def test_a_lost_worker_is_a_failed_row_of_the_cli_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import boxmask.batch.run as batch_run

    monkeypatch.setattr(batch_run, "convert_job", convert_or_die)
    lines = [{"width": W, "height": H, "answer": good_answer(i)} for i in range(30)]
    lines[12]["answer"] = "kill-my-worker"
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    report, coco = tmp_path / "r.json", tmp_path / "c.json"
    argv = ["convert", "--manifest", str(manifest), "--coco", str(coco), "--report", str(report)]
    assert main([*argv, "--workers", "2"]) == 1
    assert "m.jsonl:13: failed: the worker process running this job was lost 2 times" in (
        capsys.readouterr().out
    )
    rows = json.loads(report.read_text())["files"]
    assert len(rows) == 30 and rows[12]["problems"][0]["kind"] == "worker_lost"
    assert len(json.loads(coco.read_text())["images"]) == 29


def test_answers_nested_900_deep_are_converted_with_two_workers(tmp_path: Path) -> None:
    """Regression: ``--workers 2`` crashed the run with "maximum recursion depth exceeded
    while pickling" on a manifest line nested 900 levels deep (such a job is now run by
    the parent, which parses without recursion)."""
    deep = "[" * 900 + "]" * 900
    envelope = '{"candidates": [{"content": {"parts": [{"text": "[]"}]}}], "x": ' + deep + "}"
    lines = [
        json.dumps({"width": W, "height": H, "answer": good_answer(1)}),
        '{"width": 64, "height": 48, "response": ' + deep + "}",
        '{"width": 64, "height": 48, "response": ' + envelope + "}",
        json.dumps({"width": W, "height": H, "answer": good_answer(2)}),
    ]
    manifest = tmp_path / "deep.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    outputs = []
    for workers in ("2", "1"):
        coco = tmp_path / f"c{workers}.json"
        done = run_cli("--manifest", str(manifest), "--coco", str(coco), "--workers", workers)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "4 answers: 4 images, 4 annotations" in done.stdout
        outputs.append(coco.read_bytes())
    assert outputs[0] == outputs[1]
