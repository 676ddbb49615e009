"""Batch conversion throughput and memory: answers → one COCO file, 1 vs 2 workers.

Run: ``.venv/bin/python benchmarks/bench_convert.py [--answers 2000]``.

Workload: answers of 20 Gemini-format PNG masks (256×256) for 1920×1080 images, listed in
a JSONL manifest (100 distinct answer files, repeated). Each run is a fresh
``boxmask convert --manifest ... --coco ...`` process, so start-up is included. Peak
memory is the largest resident set of any process of the run (parent or worker),
measured for 500 and for 2,000 answers: a streaming batch keeps it flat.

Box-only answers (10 boxes, the most common: detection) are measured against
``boxmask.parse`` alone, per answer: in this process, the worker's own job function
(``convert_job``: read the file, parse, export fragment) interleaved with ``parse`` on
the same texts (and with a loop that reads each file and parses it, what a script of
your own would cost), with a cProfile breakdown of what the worker adds; and the whole CLI
with one worker, per answer from two run lengths (start-up cancels out). Target: the
batch within 2x of parse alone per worker. ``--box-only`` runs just this part.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import interleaved, machine, table
from boxmask.testing.answers import make_items, to_answer_text

WIDTH, HEIGHT, MASKS, DISTINCT = 1920, 1080, 20, 100

CHILD = """
import resource, subprocess, sys
proc = subprocess.run(sys.argv[1:], capture_output=True, text=True)
if proc.returncode:
    sys.stderr.write(proc.stdout + proc.stderr)
    sys.exit(proc.returncode)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def prepare(folder: Path, total: int) -> Path:
    answers = []
    for i in range(DISTINCT):
        path = folder / f"answer{i:03d}.txt"
        if not path.exists():
            path.write_text(to_answer_text(make_items(MASKS, seed=i, min_side=30, max_side=500)))
        answers.append(path.name)
    manifest = folder / f"manifest{total}.jsonl"
    with manifest.open("w") as handle:
        for k in range(total):
            line = {"answer": answers[k % DISTINCT], "width": WIDTH, "height": HEIGHT}
            handle.write(json.dumps(line) + "\n")
    return manifest


def convert(manifest: Path, out: Path, workers: int) -> tuple[float, int]:
    """Wall time and largest RSS (bytes) of one CLI run."""
    cmd = [
        sys.executable,
        "-c",
        CHILD,
        sys.executable,
        "-m",
        "boxmask.cli.main",
        "convert",
        "--manifest",
        str(manifest),
        "--coco",
        str(out),
        "--workers",
        str(workers),
        "--force",
        "--quiet",
    ]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - start
    return seconds, int(proc.stdout.strip()) * 1024


def box_answer(seed: int, boxes: int = 10) -> str:
    rng = random.Random(seed)
    items = []
    for i in range(boxes):
        y0, x0 = rng.randrange(0, 800), rng.randrange(0, 800)
        h, w = rng.randrange(10, 200), rng.randrange(10, 200)
        items.append({"box_2d": [y0, x0, y0 + h, x0 + w], "label": f"object {i % 7}"})
    return "```json\n" + json.dumps(items, indent=2) + "\n```"


def prepare_boxes(folder: Path, total: int) -> Path:
    for i in range(DISTINCT):
        path = folder / f"boxes{i:03d}.txt"
        if not path.exists():
            path.write_text(box_answer(i))
    manifest = folder / f"boxes{total}.jsonl"
    with manifest.open("w") as handle:
        for k in range(total):
            line = {"answer": f"boxes{k % DISTINCT:03d}.txt", "width": WIDTH, "height": HEIGHT}
            handle.write(json.dumps(line) + "\n")
    return manifest


def bench_box_only(folder: Path) -> None:
    import boxmask
    from boxmask.batch.jobs import Job
    from boxmask.batch.worker import WorkerOptions, convert_job
    from boxmask.threads import set_threads

    set_threads(1)  # as in a batch worker: one process per CPU, no threads inside
    prepare_boxes(folder, 1)
    paths = [str(folder / f"boxes{i:03d}.txt") for i in range(DISTINCT)]
    texts = [Path(p).read_text() for p in paths]
    options = WorkerOptions()
    tasks = [
        (i, Job(source=p, size=(WIDTH, HEIGHT), answer_path=p), options, None)
        for i, p in enumerate(paths)
    ]

    def parse_all() -> None:
        for text in texts:
            boxmask.parse(text, width=WIDTH, height=HEIGHT)

    def read_and_parse() -> None:  # what a hand-written loop over the files costs
        for path in paths:
            boxmask.parse(Path(path).read_text(), width=WIDTH, height=HEIGHT)

    times = interleaved(
        {
            "parse": parse_all,
            "read+parse": read_and_parse,
            "job": lambda: [convert_job(t) for t in tasks],
        },
        repeat=15,
    )
    per_parse = times["parse"] / DISTINCT
    per_read = times["read+parse"] / DISTINCT
    per_job = times["job"] / DISTINCT
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(20):
        for task in tasks:
            convert_job(task)
    profile.disable()
    stats = pstats.Stats(profile)
    total = stats.total_tt  # type: ignore[attr-defined]
    wanted = {
        "parse": ("parse.py", "parse"),
        "image_fragment (export)": ("fragments.py", "image_fragment"),
        "Detections.summary": ("detections.py", "summary"),
        "read the answer file": ("jobs.py", "answer"),
    }
    raw = stats.stats  # type: ignore[attr-defined]
    breakdown = []
    for name, (file, func) in wanted.items():
        cum = sum(v[3] for k, v in raw.items() if k[0].endswith(file) and k[2] == func)
        breakdown.append([name, 1e6 * cum / (20 * DISTINCT), 100 * cum / total])
    rest = total - sum(row[1] for row in breakdown) * 20 * DISTINCT / 1e6
    breakdown.append(["rest of convert_job", 1e6 * rest / (20 * DISTINCT), 100 * rest / total])

    small, big = 200, 1000
    cli = {}
    for n in (small, big):
        manifest = prepare_boxes(folder, n)
        cli[n] = min(convert(manifest, folder / "boxes.json", 1)[0] for _ in range(2))
    per_cli = (cli[big] - cli[small]) / (big - small)
    print(
        table(
            ["box-only answer (10 boxes)", "us", "x parse"],
            [
                ["boxmask parse alone", per_parse * 1e6, 1.0],
                ["read_text + parse (a loop of your own)", per_read * 1e6, per_read / per_parse],
                ["worker convert_job (in process)", per_job * 1e6, per_job / per_parse],
                ["boxmask convert, 1 worker (CLI)", per_cli * 1e6, per_cli / per_parse],
            ],
        )
    )
    print()
    print(table(["worker job, cProfile (cumulative)", "us", "% of job"], breakdown))
    print(
        f"\nbox-only batch vs parse alone, per answer: {per_cli / per_parse:.2f}x in the CLI, "
        f"{per_job / per_parse:.2f}x in the worker (target <= 2); against reading each "
        f"file and parsing it: {per_cli / per_read:.2f}x and {per_job / per_read:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--answers", type=int, default=2000)
    parser.add_argument("--box-only", action="store_true", help="only the box-only answers")
    args = parser.parse_args()
    if args.box_only:
        print(f"bench_convert: box-only answers at {WIDTH}x{HEIGHT}; {machine()}")
        with tempfile.TemporaryDirectory() as tmp:
            bench_box_only(Path(tmp))
        return
    print(f"bench_convert: answers of {MASKS} masks at {WIDTH}x{HEIGHT}; {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        small = prepare(folder, 500)
        big = prepare(folder, args.answers)
        rows = []
        results = {}
        for manifest, n in ((small, 500), (big, args.answers)):
            for workers in (1, 2):
                seconds, rss = convert(manifest, folder / "coco.json", workers)
                results[(n, workers)] = seconds
                size = (folder / "coco.json").stat().st_size
                rows.append([n, workers, seconds, n / seconds, rss / 2**20, size / 2**20])
        print(table(["answers", "workers", "s", "answers/s", "peak RSS MiB", "coco MiB"], rows))
        n = args.answers
        print(
            f"\n2 workers vs 1 ({n} answers): {results[(n, 1)] / results[(n, 2)]:.2f}x throughput (target >= 1.7)"
        )
        print(
            f"CPUs available: {len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()}"
        )
        print()
        bench_box_only(folder)
        _ = resource  # RSS comes from the child wrapper (RUSAGE_CHILDREN of the CLI run)


if __name__ == "__main__":
    main()
