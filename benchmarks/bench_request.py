"""Throughput and peak memory of ``boxmask segment FOLDER ... --coco --overlay`` against
the fake server, at 120 and 600 images (the journal path streams: peak memory should not
grow with the number of images), plus the cost of a resume that requests nothing.

    .venv/bin/python benchmarks/bench_request.py [--small 120] [--large 600]

Each run is a fresh process that reports its own peak RSS (``ru_maxrss``).
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

KEY = "bench-key"


def _child(argv: list[str]) -> int:
    from boxmask.cli.main import main

    code = main(argv)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"peak_mib": peak_kib / 1024}), file=sys.stderr)
    return code


def _make_images(folder: Path, count: int) -> None:
    from boxmask.testing.scenes import make_scene

    folder.mkdir(parents=True)
    for i in range(count):
        scene = make_scene(i % 50, width=320, height=240, n_shapes=3)
        (folder / f"img{i:05d}.png").write_bytes(scene.encode("PNG"))


def _run(root: Path, base_url: str, concurrency: int) -> tuple[float, float]:
    command = [sys.executable, __file__, "--child", "segment", "photos", "shapes",
               "--coco", "out.json", "--overlay", "ov", "--concurrency", str(concurrency),
               "--quiet", "--api", "generate_content"]  # fmt: skip
    env = {**os.environ, "GEMINI_API_KEY": KEY, "BOXMASK_BASE_URL": base_url}
    start = time.perf_counter()
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    peak = json.loads(done.stderr.strip().splitlines()[-1])["peak_mib"]
    return seconds, float(peak)


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        return _child(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", type=int, default=120)
    parser.add_argument("--large", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    from boxmask.testing.server import FakeGemini

    figures = {}
    with FakeGemini(api_keys=[KEY]) as fake, tempfile.TemporaryDirectory() as tmp:
        for count in (args.small, args.large):
            root = Path(tmp) / str(count)
            _make_images(root / "photos", count)
            fake.reset()
            seconds, peak = _run(root, fake.base_url, args.concurrency)
            assert len(fake.model_requests()) == count
            resume_seconds, resume_peak = _run(root, fake.base_url, args.concurrency)
            assert len(fake.model_requests()) == count  # the resume paid nothing
            figures[count] = (seconds, peak)
            print(f"{count:5d} images: {count / seconds:6.1f} images/s, peak {peak:6.1f} MiB; "
                  f"resume (0 requests) {count / resume_seconds:6.1f} images/s, "
                  f"peak {resume_peak:6.1f} MiB")  # fmt: skip
    ratio = figures[args.large][1] / figures[args.small][1]
    print(f"peak memory {args.large} vs {args.small} images: {ratio:.2f}x (target <= 1.5x)")
    return 0 if ratio <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())
