"""COCO shards vs one COCO file: the cost of sharding, and of making categories agree.

Writes the same fragments (``--images`` images of 10 RLE-sized annotations) as

1. one COCO file (:class:`~boxmask.export.coco_writer.CocoWriter`, the baseline);
2. shards with fixed categories (``--categories``): final when written;
3. shards with first-seen categories, a new label in every shard (the worst case: every
   shard but the last gets its categories line replaced at the end, a copy of the file).

and the peak Python memory (tracemalloc) of 2 for the run and for a 4x longer run: it
does not grow with annotations or masks, only by the file-name index of the numbering
(about 0.2 KB per image, as for one COCO file: it merges answers about one picture).

Run: ``.venv/bin/python benchmarks/bench_coco_shards.py``. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from boxmask.export.coco_shards import ShardedCocoWriter
from boxmask.export.coco_writer import CocoWriter
from boxmask.export.fragments import Annotation, ImageRecord

LABELS_PER_SHARD = 3


def fragments(images: int, shard_size: int) -> list[tuple[ImageRecord, list[Annotation]]]:
    counts = "ab3c" * 150  # about the size of a 300-px mask's compressed RLE
    out = []
    for n in range(images):
        shard = n // shard_size
        annotations = [
            Annotation(
                k,
                f"label-{shard}-{k % LABELS_PER_SHARD}",
                (1.0, 2.0, 30.0, 40.0),
                900.0,
                {"size": [480, 640], "counts": counts},
                0.9,
            )
            for k in range(10)
        ]
        out.append((ImageRecord(f"{n:07d}.jpg", 640, 480), annotations))
    return out


def timed(write: Callable[[Path], None]) -> float:
    folder = Path(tempfile.mkdtemp(prefix="bench-shards-"))
    try:
        started = time.perf_counter()
        write(folder)
        return time.perf_counter() - started
    finally:
        shutil.rmtree(folder)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--shard-size", type=int, default=1_000)
    args = parser.parse_args()
    data = fragments(args.images, args.shard_size)
    fixed = sorted({a.label for _, annotations in data for a in annotations})

    def one(folder: Path) -> None:
        writer = CocoWriter(folder / "c.json")
        for image, items in data:
            writer.add(image, items)
        writer.finish()

    def shards(categories: list[str] | None) -> Callable[[Path], None]:
        def write(folder: Path) -> None:
            writer = ShardedCocoWriter(folder / "c.json", args.shard_size, categories=categories)
            for image, items in data:
                writer.add(image, items)
            writer.finish()

        return write

    base = min(timed(one) for _ in range(3))
    fixed_time = min(timed(shards(fixed)) for _ in range(3))
    seen_time = min(timed(shards(None)) for _ in range(3))
    size = sum(len(a.segmentation["counts"]) for _, ann in data for a in ann)  # type: ignore[index]
    print(f"{args.images} images, {args.images * 10} annotations (~{size / 1e6:.0f} MB of RLE), "
          f"shards of {args.shard_size}")  # fmt: skip
    print(f"one COCO file                       {base:6.2f} s  1.00x")
    print(f"shards, fixed categories            {fixed_time:6.2f} s  {fixed_time / base:.2f}x")
    print(f"shards, new labels in every shard   {seen_time:6.2f} s  {seen_time / base:.2f}x")
    peaks = []
    for repeat in (1, 4):
        tracemalloc.start()
        folder = Path(tempfile.mkdtemp(prefix="bench-shards-"))
        writer = ShardedCocoWriter(folder / "c.json", args.shard_size, categories=fixed)
        for round_number in range(repeat):
            for image, items in data:
                writer.add(ImageRecord(f"{round_number}-{image.file_name}", 640, 480), items)
        writer.finish()
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        shutil.rmtree(folder)
    print(f"peak Python memory of the writer: {peaks[0] / 2**20:.1f} MiB for the run, "
          f"{peaks[1] / 2**20:.1f} MiB for a 4x longer run ({peaks[1] / peaks[0]:.2f}x)")  # fmt: skip


if __name__ == "__main__":
    main()
