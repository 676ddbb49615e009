"""Image sizes from the header, and pixels: ``image_size`` / ``read_image`` vs Pillow's way.

``convert`` sizes every image it meets. Pillow's ``getexif()`` on a PNG with no eXIf
chunk before the pixel data decodes the whole image to look for one after it; boxmask
walks the chunk headers instead. Measured in one process on the same files: a 600×400
and a 1920×1080 photo-like PNG without EXIF, and the 600×400 one with an eXIf chunk
after the data (orientation 6), as a path. The baseline is what ``image_size`` did
before: ``Image.open`` + ``getexif()`` for the orientation + the header size.

Then ``read_image`` (what every overlay and request starts with) on 600×400 and
1920×1080 JPEG photos, against ``np.array(Image.open(path))``: boxmask reads the
decoded pixels from Pillow's Arrow export (:mod:`boxmask.pil_pixels`), the baseline
through ``tobytes``; the decode alone (``Image.open`` + ``load``) is the floor.

Run: ``.venv/bin/python benchmarks/bench_images.py [--repeat 200]``. Prints figures;
asserts nothing.
"""

from __future__ import annotations

import argparse
import io
import struct
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, photo_like
from boxmask.images import image_size, read_image


def getexif_way(path: Path) -> tuple[int, int]:
    """The previous ``image_size``: header size, orientation from Pillow's getexif()."""
    with Image.open(path) as im:
        orientation = im.getexif().get(0x0112, 1)
        width, height = im.size
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def per_call(fn: object, path: Path, repeat: int) -> float:
    """Best of 5 rounds of the mean seconds per call."""
    fn(path)  # type: ignore[operator]
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(repeat):
            fn(path)  # type: ignore[operator]
        best = min(best, (time.perf_counter() - started) / repeat)
    return best


def late_exif_png(data: bytes, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    body = exif.tobytes()[6:]
    chunk = struct.pack(">I", len(body)) + b"eXIf" + body
    chunk += struct.pack(">I", zlib.crc32(b"eXIf" + body))
    return data[:-12] + chunk + data[-12:]  # before IEND


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        cases = []
        for width, height in ((600, 400), (1920, 1080)):
            buf = io.BytesIO()
            Image.fromarray(photo_like(width, height)).save(buf, "PNG")
            path = Path(tmp) / f"scene{width}.png"
            path.write_bytes(buf.getvalue())
            cases.append((f"PNG {width}x{height}, no EXIF", path))
            if width == 600:
                late = Path(tmp) / "late.png"
                late.write_bytes(late_exif_png(buf.getvalue(), 6))
                cases.append(("PNG 600x400, eXIf after IDAT", late))
        for name, path in cases:
            assert image_size(path) == getexif_way(path), name
            new = per_call(image_size, path, args.repeat)
            old = per_call(getexif_way, path, args.repeat)
            print(
                f"{name:32s} image_size {new * 1e3:7.3f} ms   getexif way {old * 1e3:7.3f} ms"
                f"   ratio {old / new:5.1f}x faster"
            )
        for width, height in ((600, 400), (1920, 1080)):
            path = Path(tmp) / f"photo{width}.jpg"
            Image.fromarray(photo_like(width, height)).save(path, quality=90)
            assert (read_image(path) == numpy_way(path)).all()
            ours = per_call(read_image, path, args.repeat)
            old = per_call(numpy_way, path, args.repeat)
            floor = per_call(decode_only, path, args.repeat)
            print(
                f"JPEG {width}x{height}: read_image {ours * 1e3:6.2f} ms   "
                f"np.array(Image.open) {old * 1e3:6.2f} ms ({old / ours:4.2f}x)   "
                f"decode floor {floor * 1e3:6.2f} ms ({ours / floor:4.2f}x floor)"
            )
    return 0


def numpy_way(path: Path) -> object:
    with Image.open(path) as im:
        return np.array(im)


def decode_only(path: Path) -> None:
    with Image.open(path) as im:
        im.load()


if __name__ == "__main__":
    sys.exit(main())
