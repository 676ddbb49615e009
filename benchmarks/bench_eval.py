"""``boxmask eval`` on 5,000 synthetic images vs the bare COCOeval run it wraps.

Run: ``.venv/bin/python benchmarks/bench_eval.py [--images 5000] [--masks polygon]``.

The case (``tests/eval_data.py``): 320×240 scenes of four coloured shapes with exact
ground truth (RLE masks; 250 distinct scenes cycled), one answer per image in Gemini's
format with misses, extra boxes, wrong and unknown labels and partial scores, written as
``answers/*.txt`` + ``images/*.jpg`` + a JSONL manifest. Timed in this one process:

- boxmask: what ``evaluate(gt.json, manifest.jsonl)`` does, in its two phases: read and
  check the GT, read the manifest, read every image header, parse every answer (on the
  CLI's worker processes), match images and labels; then COCOeval bbox + segm,
  per-category tables, the class-agnostic confusion matching and the worst images;
- baseline: what a user of pycocotools runs on ready-made results files: ``COCO(gt)``,
  ``loadRes(bbox.json)`` / ``loadRes(segm.json)``, ``evaluate`` + ``accumulate`` +
  ``summarize`` for bbox and segm;
- the parse floor: ``boxmask.parse`` of every answer text (what any route from answers
  to a results file must do), added to the baseline as "parse + COCOeval".

The runs are interleaved and each figure is the best of ``--repeat``. Ratios are
boxmask / baseline (target: little more than 1 against parse + COCOeval).
Phases of the boxmask run are printed too (reading + parsing + matching, then COCOeval
+ analysis).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import boxmask
from _common import machine, table
from boxmask.batch.run import default_workers
from boxmask.evaluation import (
    LabelMatcher,
    evaluate,
    evaluate_answers,
    load_ground_truth,
    read_answers,
)
from tests.eval_data import make_case


def best(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def bare_cocoeval(gt_path: Path, results: dict[str, Path]) -> None:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_path))
        for iou_type, path in results.items():
            ev = COCOeval(gt, gt.loadRes(str(path)), iou_type)
            ev.evaluate()
            ev.accumulate()
            ev.summarize()


def phases(gt_path: Path, manifest: Path, workers: int) -> tuple[float, float]:
    """Seconds spent reading the answers (GT included) and scoring them, one run."""
    start = time.perf_counter()
    gt = load_ground_truth(gt_path)
    answers = read_answers(manifest, gt, LabelMatcher(gt.categories), workers=workers)
    middle = time.perf_counter()
    evaluate_answers(gt, answers)
    return middle - start, time.perf_counter() - middle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--masks", choices=["polygon", "png", "none"], default="polygon")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=None, help="default: CPUs, as the CLI")
    parser.add_argument("--image-format", choices=["jpg", "png"], default="jpg")
    args = parser.parse_args()
    masks = None if args.masks == "none" else args.masks
    print(f"machine: {machine()}")
    start = time.perf_counter()
    case = make_case(args.images, seed=1, masks=masks, distinct=250, image_format=args.image_format)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        gt_path, manifest = case.write(root)
        results = {"bbox": root / "bbox.json"}
        results["bbox"].write_text(json.dumps(case.bbox_results))
        if masks is not None:
            results["segm"] = root / "segm.json"
            results["segm"].write_text(json.dumps(case.segm_results))
        print(
            f"case: {args.images} images, {len(case.gt['annotations'])} objects, "
            f"{len(case.bbox_results)} predictions, {args.masks} masks "
            f"(built in {time.perf_counter() - start:.1f} s)"
        )
        texts = [(root / "answers" / (Path(n).stem + ".txt")).read_text() for n in case.answers]
        workers = args.workers or default_workers()
        report = evaluate(gt_path, manifest, workers=workers)  # warm-up (page cache)
        # Interleaved, so that a busy moment of a shared machine hits every figure alike.
        times: dict[str, list[float]] = {"read": [], "score": [], "bare": [], "floor": []}
        for _ in range(args.repeat):
            reading, scoring = phases(gt_path, manifest, workers)
            times["read"].append(reading)
            times["score"].append(scoring)
            times["bare"].append(best(lambda: bare_cocoeval(gt_path, results), 1))
            parse_all = lambda: [boxmask.parse(t, width=320, height=240) for t in texts]  # noqa: E731
            times["floor"].append(best(parse_all, 1))
    reading, scoring = min(times["read"]), min(times["score"])
    ours = min(r + s for r, s in zip(times["read"], times["score"], strict=True))
    bare, floor = min(times["bare"]), min(times["floor"])
    rows = [
        ["boxmask evaluate (answers -> report)", f"{ours:.2f} s"],
        [f"  of which read + parse + match ({workers} workers)", f"{reading:.2f} s"],
        ["  of which COCOeval + analysis", f"{scoring:.2f} s"],
        ["bare COCOeval (results files -> stats)", f"{bare:.2f} s"],
        ["parse of every answer, 1 process (floor)", f"{floor:.2f} s"],
        ["ratio boxmask / bare COCOeval", f"{ours / bare:.2f}x"],
        ["ratio boxmask / (parse + COCOeval)", f"{ours / (bare + floor):.2f}x"],
    ]
    print(table(["task", "time"], rows))
    print(
        f"bbox AP {report.bbox.metrics['AP']:.3f}"
        + (f", segm AP {report.segm.metrics['AP']:.3f}" if report.segm else "")
    )


if __name__ == "__main__":
    main()
