"""Output folders hold one run; outputs never replace inputs or each other."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PIL import Image

from boxmask.batch.outputs import OverlayNames, RunRecord, check_outputs
from boxmask.cli.main import main
from boxmask.errors import ExportError
from boxmask.testing.answers import make_items, to_answer_text


def _pairs(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        Image.new("RGB", (64, 48), (i * 40, 90, 90)).save(folder / f"{name}.png")
        (folder / f"{name}.txt").write_text(to_answer_text(make_items(2, seed=i)))


def test_force_replaces_the_earlier_run_as_a_whole(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _pairs(data, ["a", "b", "c"])
    out = tmp_path / "out"
    args = ["convert", str(data), "--yolo", str(out / "yolo"), "--overlay", str(out / "ov")]
    assert main([*args, "--quiet"]) == 0
    assert sorted(p.name for p in (out / "yolo" / "labels" / "train").iterdir()) == [
        "a.txt",
        "b.txt",
        "c.txt",
    ]
    (out / "ov" / "mine.txt").write_text("a file of the user's")  # never removed
    for name in ("b", "c"):
        (data / f"{name}.txt").unlink()
    assert main([*args, "--quiet"]) == 2  # not empty: refused without --force
    assert main([*args, "--quiet", "--force"]) == 0
    assert [p.name for p in (out / "yolo" / "labels" / "train").iterdir()] == ["a.txt"]
    assert sorted(p.name for p in (out / "yolo" / "images" / "train").iterdir()) == ["a.png"]
    assert sorted(p.name for p in (out / "ov").glob("[!.]*")) == ["a.jpg", "mine.txt"]


def test_outputs_never_replace_inputs_or_each_other(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    _pairs(data, ["a"])
    same = str(tmp_path / "x.json")
    assert main(["convert", str(data), "--coco", same, "--report", same]) == 2
    assert "--coco and --report are both" in capsys.readouterr().err
    assert main(["convert", str(data), "--overlay", str(data), "--force"]) == 2
    assert "is an input of this run" in capsys.readouterr().err
    answer, image = data / "a.txt", data / "a.png"
    assert (
        main(["convert", str(answer), "--image", str(image), "--overlay", str(image), "--force"])
        == 2
    )
    assert Image.open(image).size == (64, 48)
    assert not list(tmp_path.glob("x.json"))


def test_overlay_names_never_collide() -> None:
    names = OverlayNames(Path("/out"))
    got = [
        names.target(f"/in/{d}/{n}", n)
        for d, n in [("x", "a.jpg"), ("y", "a.jpg"), ("z", "a-2.jpg")]
    ]
    assert got == ["/out/a.png", "/out/a-2.png", "/out/a-2-2.png"]
    own = OverlayNames(Path("/in"))  # a picture in the overlay folder is never replaced
    assert own.target("/in/b.png", "b.png") == "/in/b-2.png"


def test_unwritable_outputs_are_found_before_any_work(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        locked = tmp_path / "file-in-the-way"
        locked.write_text("")
        target = locked / "c.json"  # a file where a folder should be: fails for root too
    else:  # pragma: no cover - CI runs as root
        locked = tmp_path / "ro"
        locked.mkdir()
        locked.chmod(0o500)
        target = locked / "c.json"
    with pytest.raises(ExportError, match="cannot write into"):
        check_outputs([("--coco", target)], [])


def test_run_record_only_removes_what_it_listed(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep")
    (tmp_path / "old.png").write_text("old")
    (tmp_path / ".boxmask-run.json").write_text(json.dumps({"files": ["old.png", "../outside"]}))
    (tmp_path.parent / "outside").write_text("keep")
    assert RunRecord(tmp_path).clear_previous() == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.txt"]
    assert (tmp_path.parent / "outside").exists()


def test_single_answer_with_unreadable_image_writes_no_dataset(tmp_path: Path) -> None:
    image = tmp_path / "broken.jpg"
    image.write_bytes(b"not a jpeg")
    answer = tmp_path / "a.txt"
    answer.write_text(to_answer_text(make_items(2)))
    coco = tmp_path / "c.json"
    assert (
        main(["convert", str(answer), "--image", str(image), "--coco", str(coco), "--quiet"]) == 1
    )
    assert not coco.exists()


def test_sibling_answers_and_images_folders_pair(tmp_path: Path) -> None:
    _pairs(tmp_path / "images", ["a"])
    (tmp_path / "answers").mkdir()
    (tmp_path / "images" / "a.txt").rename(tmp_path / "answers" / "a.txt")
    coco = tmp_path / "c.json"
    assert main(["convert", str(tmp_path / "answers"), "--coco", str(coco), "--quiet"]) == 0
    assert json.loads(coco.read_text())["images"][0]["file_name"] == "a.png"


def test_size_flags_that_would_be_ignored_are_errors(tmp_path: Path) -> None:
    _pairs(tmp_path, ["a"])
    out = str(tmp_path / "c.json")
    assert main(["convert", str(tmp_path), "--size", "10x10", "--coco", out]) == 2
    answer = str(tmp_path / "a.txt")
    assert main(["convert", answer, "--size", "10x10", "--overlay", str(tmp_path / "o.png")]) == 2


def test_convert_writes_the_review_site_in_the_same_run(tmp_path: Path) -> None:
    _pairs(tmp_path / "data", ["a", "b"])
    coco, site = tmp_path / "c.json", tmp_path / "review"
    assert (
        main(
            [
                "convert",
                str(tmp_path / "data"),
                "--coco",
                str(coco),
                "--review",
                str(site),
                "--quiet",
            ]
        )
        == 0
    )
    page = (site / "index.html").read_text(encoding="utf-8")
    assert "<html" in page.lower() and (tmp_path / "c.report.json").is_file()
    assert (
        main(
            [
                "convert",
                str(tmp_path / "data"),
                "--review",
                str(site),
                "--report",
                str(tmp_path / "r.json"),
            ]
        )
        == 2
    )


def test_shard_size_must_be_positive_and_needs_coco(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    _pairs(data, ["a"])
    coco = str(tmp_path / "out" / "c.json")
    cases = [
        (["--coco", coco, "--shard-size", "0"], "--shard-size must be at least 1"),
        (["--coco", coco, "--shard-size", "-5"], "--shard-size must be at least 1"),
        (["--report", str(tmp_path / "r.json"), "--shard-size", "2"], "give --coco too"),
        (["--coco", coco, "--shard-size", "2", "--review", str(tmp_path / "rv")], "--review"),
    ]
    for args, message in cases:
        assert main(["convert", str(data), *args]) == 2, args
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists()


def test_shards_never_replace_inputs_or_other_outputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    _pairs(data, ["a", "b", "c"])
    out = tmp_path / "out"
    coco = ["--coco", str(out / "c.json"), "--shard-size", "1"]
    assert main(["convert", str(data), *coco, "--report", str(out / "c-00001.json")]) == 2
    assert "named as a --coco shard" in capsys.readouterr().err
    assert main(["convert", str(data), "--coco", str(data / "a.txt"), "--shard-size", "1"]) == 2
    capsys.readouterr()
    named = tmp_path / "named"
    _pairs(named, ["x-00000"])  # an answer named as a shard of --coco named/x.txt
    with pytest.raises(ExportError, match="named as a --coco shard"):
        check_outputs([("--coco", named / "x.txt")], [], inputs=[named / "x-00000.txt"],
                      shards=[("--coco", named / "x.txt")])  # fmt: skip
    out.mkdir()
    before = (data / "a.txt").read_bytes()
    os.link(data / "a.txt", out / "c-00000.json")  # an old shard that is an input
    assert main(["convert", str(data), *coco, "--force"]) == 2
    assert "is an input of this run" in capsys.readouterr().err
    assert (data / "a.txt").read_bytes() == before and not (out / "c.json").exists()


def test_force_replaces_the_earlier_shards_as_a_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    _pairs(data, ["a", "b", "c"])
    out = tmp_path / "out"
    args = ["convert", str(data), "--coco", str(out / "c.json"), "--shard-size", "1", "--quiet"]
    assert main(args) == 0
    assert sorted(p.name for p in out.glob("c*")) == [
        "c-00000.json", "c-00001.json", "c-00002.json", "c.json"
    ]  # fmt: skip
    assert main(args) == 2  # the shards exist: not without --force
    assert "pass --force" in capsys.readouterr().err
    (data / "c.txt").unlink()
    (out / "mine.json").write_text("{}")
    assert main([*args, "--force"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        ".boxmask-run.json", "c-00000.json", "c-00001.json", "c.json", "mine.json"
    ]  # fmt: skip
    index = json.loads((out / "c.json").read_text())
    assert [s["file"] for s in index["shards"]] == ["c-00000.json", "c-00001.json"]
    record = json.loads((out / ".boxmask-run.json").read_text())["files"]
    assert record == ["c-00000.json", "c-00001.json", "c.json"]
