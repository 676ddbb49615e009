"""Ray engine throughput: answers → one COCO file with 1 vs 2 Ray workers (and the local
engine on the same input for reference).

Run: ``.venv/bin/python benchmarks/bench_ray.py [--answers 2000] [--masks 10]``
(needs ``pip install 'boxmask[ray]'``).

Workload: a JSONL manifest of generated Gemini-format answers (``make_items`` /
``to_answer_text``: ``--masks`` PNG masks of 256×256 each, 1280×720 images given by
width/height, 50 distinct answers repeated), converted to one RLE COCO file. One local
Ray with 2 CPUs is started once (its start-up is printed, not counted); each Ray run is
``run_ray_batch(manifest, ..., concurrency=N)``: N convert tasks at a time of
``--rows-per-task`` rows, results merged on the driver in input order. Wall time is the
best of ``--repeat`` runs after one warm-up run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, table
from boxmask.batch import BatchOptions, jobs_from_manifest, run_batch
from boxmask.testing.answers import make_items, to_answer_text

WIDTH, HEIGHT, DISTINCT = 1280, 720, 50


def prepare(folder: Path, total: int, masks: int) -> Path:
    answers = [to_answer_text(make_items(masks, seed=i)) for i in range(DISTINCT)]
    manifest = folder / "answers.jsonl"
    with manifest.open("w") as handle:
        for k in range(total):
            line = {"answer": answers[k % DISTINCT], "width": WIDTH, "height": HEIGHT}
            handle.write(json.dumps(line) + "\n")
    return manifest


def timed(run: object, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run()  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=2000)
    parser.add_argument("--masks", type=int, default=10, help="masks per answer (10)")
    parser.add_argument("--rows-per-task", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    try:
        import ray
    except ImportError:
        sys.exit("bench_ray needs ray: pip install 'boxmask[ray]'")
    from boxmask.distributed import run_ray_batch

    print(f"machine: {machine()}, ray {ray.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        manifest = prepare(folder, args.answers, args.masks)
        mb = manifest.stat().st_size / 1e6
        print(f"workload: {args.answers} answers x {args.masks} masks, manifest {mb:.1f} MB")
        start = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, logging_level="error")
        print(f"ray.init(num_cpus=2): {time.perf_counter() - start:.1f} s (not counted)")
        outputs: dict[str, bytes] = {}
        rows = []

        def ray_run(workers: int) -> None:
            out = folder / f"ray{workers}.json"
            options = BatchOptions(coco=out, force=True)
            run_ray_batch(manifest, options, rows_per_task=args.rows_per_task, concurrency=workers)
            outputs[f"ray{workers}"] = out.read_bytes()

        def local_run(workers: int) -> None:
            out = folder / f"local{workers}.json"
            run_batch(
                jobs_from_manifest(manifest), BatchOptions(coco=out, force=True, workers=workers)
            )
            outputs[f"local{workers}"] = out.read_bytes()

        ray_run(2)  # warm-up: worker processes, imports
        seconds = {}
        for workers in (1, 2):
            seconds[f"ray{workers}"] = timed(lambda w=workers: ray_run(w), args.repeat)
        for workers in (1, 2):
            seconds[f"local{workers}"] = timed(lambda w=workers: local_run(w), args.repeat)
        ray.shutdown()
        for key, label in (
            ("ray1", "Ray, 1 worker"),
            ("ray2", "Ray, 2 workers"),
            ("local1", "local, 1 process"),
            ("local2", "local, 2 processes"),
        ):
            rows.append([label, seconds[key], f"{args.answers / seconds[key]:.0f}"])
        print(table(["engine", "seconds", "rows/s"], rows))
        print(f"Ray 2 workers / 1 worker: {seconds['ray1'] / seconds['ray2']:.2f}x")
        same = len(set(outputs.values())) == 1
        print(f"COCO files of all runs byte-identical: {same}")
        if not same:
            sys.exit("outputs differ")


if __name__ == "__main__":
    main()
