"""The Ray Data engine (``boxmask.distributed``): the same files as the local engine, no row
lost, and the request stage against the local Gemini-protocol server.

One local Ray (``ray.init(num_cpus=2)``) serves every test here and is shut down after
them (module scope: the rest of the suite runs without Ray threads in the process); inputs
are small.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

ray = pytest.importorskip(
    "ray", reason="ray[data] is not installed (pip install 'boxmask[ray]'; make test installs it)"
)

from boxmask.batch import BatchOptions, jobs_from_dir, jobs_from_manifest, run_batch  # noqa: E402
from boxmask.distributed import (  # noqa: E402
    convert_dataset,
    request_answers,
    run_ray_batch,
)
from boxmask.testing.answers import make_items, to_answer_text  # noqa: E402

RESPONSE = {
    "candidates": [
        {
            "content": {"parts": [{"text": '[{"box_2d": [100, 100, 500, 600], "label": "cup"}]'}]},
            "finishReason": "STOP",
        }
    ]
}


# Ray's own DataContext warns about its deprecated options when it is copied.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.*")


@pytest.fixture(scope="module")
def ray_session() -> Iterator[None]:
    # Ray gives its raylet a fixed 30 s to register; on a loaded machine (CI shares it)
    # that can pass. Starting again is what a user would do, so the tests do it too.
    for attempt in range(3):
        try:
            ray.init(num_cpus=2, include_dashboard=False, logging_level="error")
            break
        except Exception:
            ray.shutdown()
            if attempt == 2:
                raise
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()


def write_manifest(folder: Path, n: int, *, bad: frozenset[int] = frozenset()) -> Path:
    """``n`` images with answers in every form a manifest allows: answer files, inline
    text, raw API responses, a size without an image; ``bad`` rows hold no JSON and
    their image comes again at the end with a good answer."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(n):
        Image.new("RGB", (320, 240), (i * 20 % 255, 80, 120)).save(folder / f"img{i:03d}.png")
        text = "no JSON here" if i in bad else to_answer_text(make_items(3, seed=i))
        if i % 4 == 0:
            (folder / f"img{i:03d}.txt").write_text(text)
            lines.append({"image": f"img{i:03d}.png", "answer": f"img{i:03d}.txt"})
        elif i % 4 == 1:
            lines.append({"image": f"img{i:03d}.png", "answer": text})
        elif i % 4 == 2:
            lines.append({"image": f"img{i:03d}.png", "response": RESPONSE})
        else:
            lines.append({"width": 640, "height": 480, "answer": text})
    for i in sorted(bad):  # the same image again, now with an answer: its overlay name
        lines.append({"image": f"img{i:03d}.png", "answer": to_answer_text(make_items(2))})
    manifest = folder / "pairs.jsonl"
    manifest.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return manifest


def outputs(root: Path, **extra: Any) -> BatchOptions:
    return BatchOptions(
        coco=root / "coco.json",
        report=root / "report.json",
        overlays=root / "overlays",
        yolo=root / "yolo",
        **extra,
    )


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` by relative path; the report with ``root`` made neutral."""
    files = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            if path.name == "report.json":
                data = data.replace(str(root).encode(), b"<out>")
            files[str(path.relative_to(root))] = data
    return files


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"categories": ("spoon", "cup"), "mask_format": "polygon", "bbox_from": "mask"},
        {"shard_size": 3},
        {"shard_size": 4, "categories": ("spoon", "cup"), "mask_format": "polygon"},
    ],
    ids=["first-seen-rle", "fixed-polygon", "shards-first-seen", "shards-fixed"],
)
def test_ray_output_is_byte_identical_to_the_local_engine(
    ray_session: None, tmp_path: Path, extra: dict[str, Any]
) -> None:
    manifest = write_manifest(tmp_path / "data", 10, bad=frozenset({5}))
    local = run_batch(jobs_from_manifest(manifest), outputs(tmp_path / "local", **extra))
    on_ray = run_ray_batch(manifest, outputs(tmp_path / "ray", **extra), rows_per_task=3)
    assert on_ray.to_dict() == json.loads(json.dumps(local.to_dict()).replace("/local/", "/ray/"))
    ours, theirs = tree(tmp_path / "ray"), tree(tmp_path / "local")
    assert ours == theirs
    assert {"coco.json", "report.json", "yolo/data.yaml", "overlays/img000.jpg"} <= set(ours)
    assert "overlays/img005-2.jpg" in ours  # names are handed out in input order
    temporaries = [n for n in ours if ".boxmask-" in n and not n.endswith(".boxmask-run.json")]
    assert not temporaries  # no temporary overlay left
    assert local.failed == 1 and local.images == 10
    if "shard_size" in extra:  # the same shards, every one listed in the index
        index = json.loads(ours["coco.json"])
        assert [s["file"] for s in index["shards"]] == sorted(n for n in ours if "coco-" in n)
        assert len(index["shards"]) == -(-10 // extra["shard_size"])


def test_ray_shards_are_written_by_tasks_the_driver_sees_no_mask(
    ray_session: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boxmask.distributed.ray as engine

    seen: list[Any] = []
    original = engine.result_from_row

    def spy(row: Any) -> Any:
        result = original(row)
        if result.fragment is not None:
            seen.extend(a.segmentation for a in result.fragment.annotations)
        return result

    monkeypatch.setattr(engine, "result_from_row", spy)
    manifest = write_manifest(tmp_path / "data", 7)
    report = run_ray_batch(manifest, BatchOptions(coco=tmp_path / "c.json", shard_size=2))
    assert seen and all(s is None for s in seen)  # ids and labels only, on the driver
    shards = json.loads((tmp_path / "c.json").read_text())["shards"]
    assert sum(s["annotations"] for s in shards) == report.annotations
    for shard in shards:
        data = json.loads((tmp_path / shard["file"]).read_text())
        assert all("segmentation" in a for a in data["annotations"])


def test_bad_rows_are_reported_not_lost(ray_session: None, tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "data", 4)
    good = manifest.read_bytes().splitlines()
    lines = [
        good[0],
        b'{"image": "img001.png", "answer": "[{\\"box_2d\\": [1, 2, 3, 4]',  # cut JSON line
        b"",  # blank: skipped, still counted
        b"\xff\xfe not UTF-8",
        b"[1, 2, 3]",  # not an object
        b'{"image": "nowhere.png", "answer": "[]"}',  # missing image, no size
        b'{"image": "img002.png"}',  # no answer
        b'{"image": "img002.png", "answer": "no JSON at all"}',  # unreadable answer
        b'{"image": "img003.png", "width": "wide", "height": 2, "answer": "[]"}',
        good[1],
    ]
    manifest.write_bytes(b"\n".join(lines) + b"\n")
    report = run_ray_batch(manifest, outputs(tmp_path / "out"), rows_per_task=2)
    files = report.to_dict()["files"]
    assert len(files) == len(lines) - 1  # every non-blank line is in the report
    failed = {f["answer"]: f["error"] for f in files if "error" in f}
    assert set(failed) == {f"pairs.jsonl:{n}" for n in (2, 4, 5, 6, 7, 8, 9)}
    assert "not valid JSON" in failed["pairs.jsonl:2"]
    assert "not UTF-8" in failed["pairs.jsonl:4"]
    assert "JSON object" in failed["pairs.jsonl:5"]
    assert "not found" in failed["pairs.jsonl:6"]
    assert "answer" in failed["pairs.jsonl:7"]
    assert "no JSON" in failed["pairs.jsonl:8"]
    assert "integers" in failed["pairs.jsonl:9"]
    assert report.failed == 7 and report.images == 2
    assert [f["answer"] for f in files if "error" not in f] == [
        str(tmp_path / "data" / "img000.txt"),
        "pairs.jsonl:10",
    ]
    coco = json.loads((tmp_path / "out" / "coco.json").read_text())
    assert [im["id"] for im in coco["images"]] == [1, 2]


def test_dataset_and_parquet_sources_give_the_same_dataset(
    ray_session: None, tmp_path: Path
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [
        {"image": "a.jpg", "width": 320, "height": 240, "answer": to_answer_text(make_items(2))},
        {
            "image": "s3://bucket/b.jpg",
            "width": 640,
            "height": 480,
            "response": json.dumps(RESPONSE),
        },
        {"image": "c.jpg", "width": 100, "height": 100, "answer": "[]", "finish_reason": "STOP"},
        {"image": "d.jpg", "width": 100, "height": 100, "error": "ServerError: 503"},
        {"image": "s3://bucket/e.jpg", "answer": "[]"},  # a URI gives no size
        {
            "image": "f.jpg",
            "width": 320,
            "height": 240,
            "answer": to_answer_text(make_items(4, seed=3))[:-40],
            "finish_reason": "MAX_TOKENS",
        },
    ]
    columns = sorted({k for row in rows for k in row})
    table = pa.Table.from_pylist([{k: row.get(k) for k in columns} for row in rows])
    pq.write_table(table, tmp_path / "rows.parquet")
    from_dataset = convert_dataset(ray.data.from_arrow(table), tmp_path / "ds", rows_per_task=2)
    from_parquet = convert_dataset(tmp_path / "rows.parquet", tmp_path / "pq")
    assert (tmp_path / "ds" / "coco.json").read_bytes() == (
        tmp_path / "pq" / "coco.json"
    ).read_bytes()
    names = [f["answer"] for f in from_dataset.to_dict()["files"]]
    assert names == [f"row {n}" for n in range(1, 7)]
    assert [f["answer"] for f in from_parquet.to_dict()["files"]] == [
        f"rows.parquet:{n}" for n in range(1, 7)
    ]
    files = from_dataset.to_dict()["files"]
    assert files[3]["error"] == "request failed: ServerError: 503"
    assert "URI" in files[4]["error"]
    assert any(p["kind"] == "truncated" for p in files[5]["problems"])
    coco = json.loads((tmp_path / "ds" / "coco.json").read_text())
    assert [im["file_name"] for im in coco["images"]] == ["a.jpg", "b.jpg", "c.jpg", "f.jpg"]
    assert from_dataset.failed == 2 and from_dataset.annotations == 2 + 1 + len(
        [a for a in coco["annotations"] if a["image_id"] == 4]
    )
    # Rows without an image are pictures of their own, named by their row number.
    sized = {"width": 64, "height": 48, "answer": to_answer_text(make_items(1))}
    alone = convert_dataset([sized, sized], tmp_path / "alone")
    coco = json.loads((tmp_path / "alone" / "coco.json").read_text())
    assert alone.images == 2 and [im["file_name"] for im in coco["images"]] == [
        "row-1.jpg",
        "row-2.jpg",
    ]
    # Overlays need the picture: a URI row is converted and says it has no overlay.
    uri = convert_dataset([rows[1]], tmp_path / "uri", overlays=True)
    assert uri.images == 1 and [(p["stage"], p["kind"]) for p in uri.files[0]["problems"]] == [
        ("overlay", "not_written")
    ]


@pytest.fixture
def ray_data_warnings() -> Iterator[list[str]]:
    """The warnings Ray Data logs in this process while the test runs."""
    import logging

    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    logger = logging.getLogger("ray.data")
    handler, level = Keep(logging.WARNING), logger.level
    logger.addHandler(handler)
    logger.setLevel(min(level or logging.WARNING, logging.WARNING))
    yield seen
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_request_pipeline_against_the_fake_server(
    ray_session: None, tmp_path: Path, ray_data_warnings: list[str]
) -> None:
    from pycocotools.coco import COCO

    from boxmask.api import RetryPolicy
    from boxmask.testing.scenes import make_scene
    from boxmask.testing.server import FakeGemini

    paths = []
    shapes = []
    for i in range(6):
        n = 1 + i % 3
        path = tmp_path / f"scene{i}.png"
        path.write_bytes(make_scene(i, n_shapes=n).encode("PNG"))
        paths.append(str(path))
        shapes.append(n)
    paths.append(str(tmp_path / "missing.png"))

    def marker(path: str) -> str:  # a piece of the image's base64 in the request body
        return base64.b64encode(Path(path).read_bytes()).decode()[300:340]

    with FakeGemini(api_keys=["k"], latency=0.01) as server:
        server.add_fault("status", status=400, message="bad image", match=marker(paths[1]))
        server.add_fault("status", status=503, times=1, match=marker(paths[2]))  # retried
        server.add_fault("truncate", match=marker(paths[4]))
        answers = request_answers(
            paths,
            "the shapes",
            task="segment",
            actors=2,
            in_flight=2,
            requests_per_second=200,
            batch_size=2,
            api_key="k",
            base_url=server.base_url,
            retry=RetryPolicy(max_retries=2, initial_delay=0.01),
        )
        report = convert_dataset(answers, tmp_path / "out", overlays=True, concurrency=2)
    assert not [w for w in ray_data_warnings if "deprecated" in w]  # compute=, not concurrency=
    files = report.to_dict()["files"]
    assert [f["answer"] for f in files] == paths  # one row per image, in input order
    assert "InvalidRequestError" in files[1]["error"] and "bad image" in files[1]["error"]
    assert "FileNotFoundError" in files[6]["error"] and "missing.png" in files[6]["error"]
    assert report.failed == 2
    assert any(p["kind"] == "truncated" for p in files[4]["problems"])
    for i in (0, 2, 3, 5):
        assert files[i]["masks"] == shapes[i], files[i]
        assert Path(files[i]["overlay"]).is_file()
    coco = COCO(str(tmp_path / "out" / "coco.json"))
    assert len(coco.imgs) == 5
    assert len(coco.anns) == report.annotations >= sum(shapes[i] for i in (0, 2, 3, 5))


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "boxmask.cli.main", "convert", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )


def test_cli_engine_ray_writes_what_the_local_engine_writes(tmp_path: Path) -> None:
    write_manifest(tmp_path / "data", 6, bad=frozenset({2}))
    assert len(jobs_from_dir(tmp_path / "data")[0]) == 2  # the DIR form pairs files by name
    results = {}
    for engine in ("local", "ray"):
        proc = run_cli(
            "--manifest", "data/pairs.jsonl", "--engine", engine,
            "--coco", f"{engine}/coco.json", "--report", f"{engine}/report.json",
            "--yolo", f"{engine}/yolo", "--workers", "2",
            cwd=tmp_path,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        results[engine] = proc
    assert "Ray" in results["ray"].stderr  # says which cluster it joined or started
    # Regressions: Ray >= 2.51 logged "The argument ``concurrency`` is deprecated" on
    # every run (boxmask passed concurrency=--workers to map_batches), and a manifest of
    # fewer chunks than --workers got a raw UserWarning from Ray Data: boxmask's lines only.
    lines = [line for line in results["ray"].stderr.splitlines() if line.strip()]
    assert lines and all(line.startswith("boxmask") for line in lines), lines
    assert results["ray"].stdout.splitlines()[:-1] == results["local"].stdout.splitlines()[:-1]
    assert tree(tmp_path / "ray") == tree(tmp_path / "local")


def test_cli_address_needs_the_ray_engine(tmp_path: Path) -> None:
    proc = run_cli("--manifest", "m.jsonl", "--address", "auto", cwd=tmp_path)
    assert proc.returncode == 2 and "--engine ray" in proc.stderr


def test_import_boxmask_does_not_import_ray() -> None:
    code = (
        "import sys, boxmask, boxmask.distributed, boxmask.cli.main; "
        "print('ray' in sys.modules, 'pyarrow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_connect_keeps_a_ray_the_caller_started(ray_session: None) -> None:
    from boxmask.distributed import connect, disconnect

    assert connect("auto").startswith("using the connected Ray (2 CPUs)")
    disconnect()  # not ours to stop
    assert ray.is_initialized()


def test_rate_limit_spaces_the_requests_of_an_actor(monkeypatch: pytest.MonkeyPatch) -> None:
    from boxmask.distributed import request

    clock = {"now": 100.0}
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(round(seconds, 6))

    monkeypatch.setattr(request.time, "monotonic", lambda: clock["now"])
    monkeypatch.setattr(request.time, "sleep", sleep)
    pacer = request._Pacer(0.5)  # e.g. 4 requests/s shared by 2 actors
    for _ in range(4):
        pacer.wait()
    assert sleeps == [0.5, 1.0, 1.5]  # the first goes at once, then one every 0.5 s
    clock["now"] = 200.0  # after a pause, no catching up in a burst
    pacer.wait()
    assert sleeps == [0.5, 1.0, 1.5]


def test_a_task_whose_worker_keeps_dying_stops_the_run_with_a_clear_error(
    ray_session: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: Ray Data retried a task whose worker died forever ("infinite retries
    remaining"). The UDF is swapped for a local function (Ray ships it by value) that
    SIGKILLs its worker on the chunk holding the row asking for it."""
    import threading

    import boxmask.distributed.ray as engine

    original = engine._convert_rows

    def kills_its_worker(batch: Any, *, settings: Any) -> Any:
        if "kill-my-worker" in [row.get("answer") for row in batch.to_pylist()]:
            os.kill(os.getpid(), signal.SIGKILL)
        return original(batch, settings=settings)

    monkeypatch.setattr(engine, "_convert_rows", kills_its_worker)
    answer = '[{"box_2d": [1, 1, 500, 500], "label": "a"}]'
    rows = [{"answer": answer, "width": 40, "height": 30} for _ in range(12)]
    rows[9]["answer"] = "kill-my-worker"
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            run_ray_batch(rows, BatchOptions(coco=tmp_path / "c.json"), rows_per_task=4)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=600)  # a hang guard only
    assert not thread.is_alive(), "the lost task was retried without end"
    (error,) = outcome
    assert isinstance(error, engine.LostTaskError), error
    assert "failed 3 times (WorkerCrashedError" in str(error)
    assert "\n" not in str(error) and "rows after them were not converted" in str(error)
    assert not (tmp_path / "c.json").exists()


def test_request_stage_journals_and_a_rerun_requests_only_the_missing(
    ray_session: None, tmp_path: Path
) -> None:
    """Each answer is journaled (one file per actor) before conversion; a run on the same
    folder reuses them: the fake counts every request it answered."""
    from boxmask.cli.main import main
    from boxmask.testing.scenes import make_scene
    from boxmask.testing.server import FakeGemini

    paths = []
    for i in range(8):
        path = tmp_path / f"scene{i}.png"
        path.write_bytes(make_scene(40 + i, n_shapes=1 + i % 2).encode("PNG"))
        paths.append(str(path))
    journal = tmp_path / "journal"
    key = "ray-journal-key"
    encoded = [base64.b64encode(Path(p).read_bytes()).decode() for p in paths]
    marker = next(  # a piece of image 5's base64 that no other request holds
        piece
        for start in range(0, len(encoded[5]) - 40, 8)
        if not any((piece := encoded[5][start : start + 40]) in other for other in encoded[:5])
        and not any(piece in other for other in encoded[6:])
    )

    def run(images: list[str], out: str) -> Any:
        answers = request_answers(
            images, "the shapes", task="detect", actors=2, in_flight=2, batch_size=2,
            api_key=key, base_url=server.base_url, max_retries=0, journal=journal,
        )  # fmt: skip
        return convert_dataset(answers, tmp_path / out)

    with FakeGemini(api_keys=[key]) as server:
        first = run(paths[:4], "half")  # as if the run died after half the images
        assert len(server.model_requests()) == 4 and first.failed == 0
        server.add_fault("status", status=400, message="bad image", match=marker)
        second = run(paths, "all")
        assert len(server.model_requests()) == 8  # only the 4 missing ones
        errors = [f.get("error") for f in second.to_dict()["files"]]
        assert second.failed == 1 and "bad image" in str(errors[5]), errors
        third = run(paths, "again")
        assert len(server.model_requests()) == 9  # only the failed one, retried
        assert third.failed == 0
        assert run(paths, "once_more").failed == 0
        assert len(server.model_requests()) == 9  # nothing: every image is answered
    again = (tmp_path / "again" / "coco.json").read_bytes()
    assert (tmp_path / "once_more" / "coco.json").read_bytes() == again
    shards = sorted(journal.glob("answers-*.jsonl"))
    assert len(shards) >= 3  # one per actor that answered something
    lines = [json.loads(line) for shard in shards for line in shard.read_text().splitlines()]
    answered = [line for line in lines if "response" in line]
    assert len(answered) == 8 and sum("error" in line for line in lines) == 1
    assert all(line["sha256"] and line["key"] for line in answered)
    assert not any(key in shard.read_text() for shard in shards)
    # The journal is a convert --manifest input: the answered images give the annotations.
    merged = journal / "merged.manifest"
    merged.write_text("".join(json.dumps(line) + "\n" for line in answered))
    offline = tmp_path / "offline.json"
    assert main(["convert", "--manifest", str(merged), "--coco", str(offline), "--quiet"]) == 0
    assert len(json.loads(offline.read_text())["annotations"]) == third.annotations
