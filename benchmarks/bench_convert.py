"""Batch conversion throughput and memory: answers → one COCO file, 1 vs 2 workers.

Run: ``.venv/bin/python benchmarks/bench_convert.py [--answers 2000]``.

Workload: answers of 20 Gemini-format PNG masks (256×256) for 1920×1080 images, listed in
a JSONL manifest (100 distinct answer files, repeated). Each run is a fresh
``boxmask convert --manifest ... --coco ...`` process, so start-up is included. Peak
memory is the largest resident set of any process of the run (parent or worker),
measured for 500 and for 2,000 answers: a streaming batch keeps it flat.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, table
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--answers", type=int, default=2000)
    args = parser.parse_args()
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
        _ = resource  # RSS comes from the child wrapper (RUSAGE_CHILDREN of the CLI run)


if __name__ == "__main__":
    main()
