"""Batch conversion: jobs, ordered merge with fresh ids, reports, outputs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from pycocotools.coco import COCO

from boxmask.batch import BatchOptions, Job, jobs_from_dir, jobs_from_manifest, run_batch
from boxmask.batch.jobs import name_problem
from boxmask.errors import ExportError
from boxmask.testing.answers import make_items, to_answer_text


def write_pairs(folder: Path, n: int, *, bad: set[int] = frozenset()) -> None:  # type: ignore[assignment]
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", (320, 240), (i * 20 % 255, 80, 120)).save(folder / f"img{i:03d}.png")
        text = "no JSON here" if i in bad else to_answer_text(make_items(3, seed=i))
        (folder / f"img{i:03d}.txt").write_text(text)


def test_jobs_from_dir_pairs_by_name(tmp_path: Path) -> None:
    write_pairs(tmp_path, 3)
    (tmp_path / "lonely.txt").write_text("[]")
    (tmp_path / "img001.points.txt").write_text("[]")
    jobs, unpaired = jobs_from_dir(tmp_path)
    assert [Path(j.source).name for j in jobs] == [
        "img000.txt",
        "img001.points.txt",
        "img001.txt",
        "img002.txt",
    ]
    assert all(Path(j.image or "").stem == Path(j.source).name.split(".")[0] for j in jobs)
    assert [Path(u).name for u in unpaired] == ["lonely.txt"]


def test_manifest_forms_and_errors(tmp_path: Path) -> None:
    write_pairs(tmp_path, 1)
    response = {"candidates": [{"content": {"parts": [{"text": "[]"}]}}]}
    lines = [
        {"image": "img000.png", "answer": "img000.txt"},
        {"image": "img000.png", "answer": '[{"box_2d": [1, 2, 3, 4], "label": "x"}]'},
        {"image": "img000.png", "response": response},
        {"width": 100, "height": 50, "answer": "[]"},
    ]
    manifest = tmp_path / "pairs.jsonl"
    manifest.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    jobs = list(jobs_from_manifest(manifest))
    assert jobs[0].answer_path and jobs[1].answer_text and jobs[2].response == response
    assert jobs[3].size == (100, 50)
    # Unusable lines are failed rows naming their line; the lines after them still run.
    bad_lines = [
        b'{"image": "a.png"}',
        b"not json",
        b'{"image": "img000.png", "answer": "[]", "label": "\xff"}',
        b"[" * 100_000,
        b'{"image": "img000.png", "response": null}',
        b'{"image": "img000.png", "response": 5}',
        b'{"width": true, "height": 5, "answer": "[]"}',
        b'{"image": "img000.png", "answer_file": "../secrets.env"}',
        b'{"image": "img000.png", "answer": "[]"}',
    ]
    manifest.write_bytes(b"\n".join(bad_lines) + b"\n")
    (tmp_path.parent / "secrets.env").write_text("KEY=hunter2")
    jobs = list(jobs_from_manifest(manifest))
    assert [j.source for j in jobs] == [f"pairs.jsonl:{n}" for n in range(1, 10)]
    assert all(j.error for j in jobs[:-1]) and jobs[-1].error is None
    assert "give 'answer'" in (jobs[0].error or "")
    assert "not UTF-8" in (jobs[2].error or "")
    assert "nested too deeply" in (jobs[3].error or "")
    assert "not null" in (jobs[4].error or "") and "not int" in (jobs[5].error or "")
    assert "positive integers" in (jobs[6].error or "")
    assert "inside the manifest's folder" in (jobs[7].error or "")
    report = run_batch(jobs, BatchOptions(coco=tmp_path / "c.json"))
    assert report.failed == 8 and report.images == 1
    assert "hunter2" not in json.dumps(report.to_dict())


def test_batch_writes_valid_coco_and_reports_every_problem(tmp_path: Path) -> None:
    write_pairs(tmp_path / "data", 6, bad={2})
    jobs, _ = jobs_from_dir(tmp_path / "data")
    opts = BatchOptions(coco=tmp_path / "coco.json", report=tmp_path / "report.json")
    report = run_batch(jobs, opts)
    assert report.failed == 1 and report.images == 5 and report.annotations == 15
    coco = COCO(str(tmp_path / "coco.json"))
    assert len(coco.imgs) == 5 and len(coco.anns) == 15
    assert sorted(coco.anns) == list(range(1, 16))
    saved = json.loads((tmp_path / "report.json").read_text())
    failed = [f for f in saved["files"] if "error" in f]
    assert len(failed) == 1 and failed[0]["answer"].endswith("img002.txt")
    assert "no JSON" in failed[0]["error"]


def test_output_identical_for_one_and_two_workers(tmp_path: Path) -> None:
    write_pairs(tmp_path / "data", 12, bad={4})
    outputs = []
    for workers in (1, 2):
        jobs, _ = jobs_from_dir(tmp_path / "data")
        out = tmp_path / f"w{workers}"
        run_batch(
            jobs,
            BatchOptions(
                coco=out / "coco.json", yolo=out / "yolo", report=out / "r.json", workers=workers
            ),
        )
        outputs.append(
            [
                (out / "coco.json").read_bytes(),
                (out / "r.json").read_bytes(),
                (out / "yolo" / "data.yaml").read_bytes(),
                (out / "yolo" / "labels" / "train" / "img011.txt").read_bytes(),
            ]
        )
    assert outputs[0] == outputs[1]


def test_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    write_pairs(tmp_path / "d", 1)
    target = tmp_path / "coco.json"
    target.write_text("keep me")
    jobs, _ = jobs_from_dir(tmp_path / "d")
    with pytest.raises(ExportError, match="--force"):
        run_batch(jobs, BatchOptions(coco=target))
    assert target.read_text() == "keep me"
    run_batch(jobs, BatchOptions(coco=target, force=True))
    assert json.loads(target.read_text())["images"]


def test_fixed_categories_skip_and_report_others(tmp_path: Path) -> None:
    write_pairs(tmp_path / "d", 2)
    jobs, _ = jobs_from_dir(tmp_path / "d")
    report = run_batch(jobs, BatchOptions(coco=tmp_path / "c.json", categories=("cup", "spoon")))
    data = json.loads((tmp_path / "c.json").read_text())
    assert [c["name"] for c in data["categories"]] == ["cup", "spoon"]
    assert {a["category_id"] for a in data["annotations"]} <= {1, 2}
    assert report.problems > 0


def test_same_image_twice_is_one_image_entry(tmp_path: Path) -> None:
    write_pairs(tmp_path / "d", 1)
    (tmp_path / "d" / "img000.more.txt").write_text(to_answer_text(make_items(2, seed=9)))
    jobs, _ = jobs_from_dir(tmp_path / "d")
    report = run_batch(jobs, BatchOptions(coco=tmp_path / "c.json"))
    data = json.loads((tmp_path / "c.json").read_text())
    assert len(data["images"]) == 1 and len(data["annotations"]) == 5
    assert report.problems == 0


def test_exception_mid_batch_leaves_no_output(tmp_path: Path) -> None:
    write_pairs(tmp_path / "d", 3)
    jobs, _ = jobs_from_dir(tmp_path / "d")

    def explode(result: object, done: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_batch(jobs, BatchOptions(coco=tmp_path / "c.json"), on_result=explode)
    assert list(tmp_path.glob("*.json")) == []
    assert [p.name for p in tmp_path.iterdir()] == ["d"]


def test_job_file_name_without_image() -> None:
    assert Job(source="x/answer.txt", size=(5, 5)).file_name == "answer.jpg"


def test_same_file_name_in_two_folders_is_reported_not_merged(tmp_path: Path) -> None:
    from PIL import Image

    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        Image.new("RGB", (320, 240)).save(tmp_path / folder / "img.png")
    text = to_answer_text(make_items(2, seed=1))
    lines = [{"image": f"{folder}/img.png", "answer": text} for folder in ("a", "b")]
    (tmp_path / "m.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    report = run_batch(
        jobs_from_manifest(tmp_path / "m.jsonl"),
        BatchOptions(coco=tmp_path / "c.json", yolo=tmp_path / "yolo"),
    )
    data = json.loads((tmp_path / "c.json").read_text())
    assert len(data["images"]) == 2 and len(data["annotations"]) == 4
    messages = [p["message"] for f in report.files for p in f["problems"]]
    assert any("already used by image 1" in m for m in messages)
    assert any("YOLO labels/train/img.txt already holds" in m for m in messages)
    label_lines = (tmp_path / "yolo" / "labels" / "train" / "img.txt").read_text().splitlines()
    assert len(label_lines) == 2


def test_a_file_name_that_is_not_utf8_is_reported_and_outputs_stay_valid(tmp_path: Path) -> None:
    """Regression: ``caf\\xe9.png`` (Latin-1 bytes) crashed the final writes, then was
    recorded as ``caf\\udce9.png`` silently."""
    import os

    import yaml

    from boxmask.cli.main import main
    from boxmask.images import read_image

    folder = tmp_path / "in"
    folder.mkdir()
    raw = os.fsencode(folder) + b"/caf\xe9"
    from PIL import Image

    try:
        with open(raw + b".png", "wb") as handle:
            Image.new("RGB", (32, 24)).save(handle, format="PNG")
    except (OSError, UnicodeError):
        pytest.skip("this file system refuses file names that are not UTF-8")
    with open(raw + b".txt", "w", encoding="utf-8") as handle:
        handle.write(to_answer_text(make_items(2, seed=3)))
    coco, yolo, report = tmp_path / "c.json", tmp_path / "yolo", tmp_path / "r.json"
    argv = ["convert", str(folder), "--coco", str(coco), "--yolo", str(yolo)]
    assert main([*argv, "--report", str(report), "--workers", "2", "--quiet"]) == 0
    (image,) = json.loads(coco.read_bytes().decode("utf-8"))["images"]  # strict UTF-8 JSON
    assert image["file_name"] == "caf\udce9.png"
    assert os.fsencode(image["file_name"]) == b"caf\xe9.png"
    assert yaml.safe_load((yolo / "data.yaml").read_text(encoding="utf-8"))["names"]
    assert os.path.exists(os.fsencode(yolo) + b"/labels/train/caf\xe9.txt")
    (row,) = json.loads(report.read_text(encoding="utf-8"))["files"]
    (problem,) = [p for p in row["problems"] if p["kind"] == "name_not_utf8"]
    assert problem["stage"] == "image" and not problem["dropped"]
    assert "b'caf\\xe9.png'" in problem["message"] and "surrogate" in problem["message"]
    assert read_image(folder / image["file_name"]).shape[:2] == (image["height"], image["width"])


def test_a_lone_surrogate_file_name_from_a_manifest_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    line = {"image": "x\ud800.png", "width": 8, "height": 6, "answer": "[]"}
    path.write_text(json.dumps(line) + "\n")
    (job,) = jobs_from_manifest(path)
    problem = name_problem(job)
    assert problem is not None and "lone surrogate" in problem.message
    assert name_problem(Job(source="a.txt", image="café.png")) is None


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to name fds")
def test_the_dataset_is_fsynced_and_overlays_are_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    synced: list[str] = []
    real = os.fsync

    def naming(fd: int) -> None:
        synced.append(Path(os.readlink(f"/proc/self/fd/{fd}")).name)
        real(fd)

    monkeypatch.setattr("boxmask.io.os.fsync", naming)
    write_pairs(tmp_path / "data", 3)
    jobs, _ = jobs_from_dir(tmp_path / "data")
    opts = BatchOptions(
        coco=tmp_path / "out" / "coco.json",
        report=tmp_path / "out" / "report.json",
        overlays=tmp_path / "out" / "overlays",
    )
    report = run_batch(jobs, opts)  # workers 1: the overlays are written in this process
    assert report.failed == 0
    assert len(list((tmp_path / "out" / "overlays").glob("*.jpg"))) == 3
    assert any(name.startswith(".coco.json.") for name in synced)
    assert not [name for name in synced if ".jpg." in name]


@pytest.mark.parametrize(
    "raw",
    [
        b"a\r\nb\rc\n",
        b"cup \xff\xfe end",
        b"",
        "caf\u00e9 \u732b".encode(),
        # Longer than one read: a character and a CR LF cut by the 64 KiB boundary.
        b"a" * 65535 + "\u00e9".encode() + b"x" * 65534 + b"\r\n" + b"y" * 70000,
    ],
)
def test_an_answer_file_reads_as_read_text_would(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "answer.txt"
    path.write_bytes(raw)
    job = Job(source=str(path), size=(10, 10), answer_path=str(path))
    assert job.answer() == path.read_text(encoding="utf-8", errors="replace")


def test_nul_characters_and_long_names_in_manifest_paths_fail_their_line_only(
    tmp_path: Path,
) -> None:
    lines = [
        {"answer": "a\u0000b.txt", "width": 10, "height": 10},  # text, not a file name
        {"answer_file": "x\u0000.txt", "width": 10, "height": 10},
        {"image": "x\u0000.jpg", "answer": "[]"},
        {"answer": "[]", "width": 10, "height": 10},
        {"answer": "a" * 300 + ".txt", "width": 10, "height": 10},  # name too long to stat
    ]
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    jobs = list(jobs_from_manifest(manifest))
    assert [j.source for j in jobs] == [f"m.jsonl:{n}" for n in (1, 2, 3, 4, 5)]
    assert jobs[0].error is None and jobs[0].answer_text == "a\u0000b.txt"
    assert jobs[1].error is not None and "NUL" in jobs[1].error
    assert jobs[2].error is not None and "'image' holds a NUL" in jobs[2].error
    report = run_batch(jobs, BatchOptions(coco=tmp_path / "coco.json"))
    assert report.failed == 4 and report.images == 1


def test_odd_manifest_paths_with_overlays_fail_their_line_only(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    lines = [
        {"answer_file": "sub", "width": 5, "height": 5},
        {"answer": "[]", "width": 5, "height": 5, "image": "a\ud800.jpg"},
        {"answer": "[]", "width": 5, "height": 5},
    ]
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = tmp_path / "out"
    opts = BatchOptions(coco=out / "coco.json", overlays=out / "overlays")
    report = run_batch(list(jobs_from_manifest(manifest)), opts)
    assert report.files[0]["error"].endswith("sub is a folder, not a file")
    kinds = [p["kind"] for p in report.files[1]["problems"]]
    assert kinds == ["name_not_utf8", "not_written"]
    assert "lone surrogate" in report.files[1]["problems"][1]["message"]
    assert report.images == 2 and report.failed == 1


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="symbolic links")
@pytest.mark.parametrize("where", ["cwd", "relative", "absolute"])
def test_manifest_answer_paths_are_spelled_as_pathlib_joins_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """Plain answer paths are joined as strings (the fast path): the job's source and
    answer path are spelled exactly as ``Path(manifest).parent / value``, so reports do
    not change with the path taken (``./``, ``sub/../`` and links take pathlib's)."""
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    for name in ("a.txt", "sub/b.txt"):
        (data / name).write_text("[]")
    os.symlink(data / "a.txt", data / "link.txt")
    values = ["a.txt", "sub/b.txt", "./a.txt", "sub/../a.txt", "link.txt", "sub//b.txt"]
    lines = [{"answer_file": v, "width": 4, "height": 3} for v in values]
    lines += [{"answer": v, "width": 4, "height": 3} for v in values]
    (data / "m.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    monkeypatch.chdir(data if where == "cwd" else tmp_path)
    manifest = {"cwd": Path("m.jsonl"), "relative": Path("data/m.jsonl")}.get(
        where, data / "m.jsonl"
    )
    jobs = list(jobs_from_manifest(manifest))
    expected = [str(manifest.parent / v) for v in values] * 2
    assert [j.error for j in jobs] == [None] * len(lines)
    assert [j.answer_path for j in jobs] == expected
    assert [j.source for j in jobs] == expected


def test_manifest_answer_paths_follow_links_and_stay_in_the_folder(tmp_path: Path) -> None:
    """A plain name, a name in a subfolder, a link inside the folder, and links (file
    and folder) leading out of it: only what really lies inside is read."""
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "a.txt").write_text("[]")
    (data / "sub" / "b.txt").write_text("[]")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("KEY=hunter2")
    os.symlink(data / "a.txt", data / "inner.txt")
    os.symlink(tmp_path / "outside" / "secret.txt", data / "leak.txt")
    os.symlink(tmp_path / "outside", data / "out")
    names = ["a.txt", "sub/b.txt", "inner.txt", "leak.txt", "out/secret.txt", "sub/../a.txt"]
    manifest = data / "m.jsonl"
    manifest.write_text(
        "".join(json.dumps({"answer_file": n, "width": 4, "height": 3}) + "\n" for n in names)
    )
    jobs = list(jobs_from_manifest(manifest))
    assert [j.error is None for j in jobs] == [True, True, True, False, False, True]
    assert jobs[1].answer_path == str(data / "sub" / "b.txt")
    for job in (jobs[3], jobs[4]):
        assert "inside the manifest's folder" in (job.error or "")
