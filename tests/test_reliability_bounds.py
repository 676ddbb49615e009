"""Resource bounds: memory stays proportional to the input, deep nesting never reaches
Python's recursion limit, decompression bombs are refused before any pixel is decoded.

Memory is the process's peak resident size during the call (``VmHWM`` after resetting it
through ``/proc/self/clear_refs``), so it counts OpenCV's and zlib's allocations too;
where that file is not writable, tracemalloc's peak (Python and numpy only) stands in.
Bounds are generous multiples of what was measured: they catch an algorithm that grows
too fast, not noise. Nothing here looks at the clock.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import gc
import io
import json
import re
import struct
import sys
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import cv2
import numpy as np
import pytest
from fuzz.targets import check_detections, make_png
from PIL import Image

from boxmask import ParseError, parse
from boxmask.errors import ImageError
from boxmask.images import image_size, read_image
from boxmask.masks import png as png_module
from boxmask.masks.png import MaskDecodeError, decode_png_gray
from boxmask.problems import ProblemKind

T = TypeVar("T")
MB = 1 << 20


def _status(field: str) -> int:
    text = Path("/proc/self/status").read_text()
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    assert match is not None
    return int(match.group(1)) * 1024


def _can_reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


RSS_PEAK = sys.platform.startswith("linux") and _can_reset_peak()


def _trim() -> None:
    """Give freed heap back to the OS first (glibc), or memory that earlier tests freed
    would be reused without raising the peak and hide a large allocation."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def peak_bytes(fn: Callable[[], T]) -> tuple[T, int]:
    """``fn()`` and the extra memory it took at its peak, in bytes."""
    gc.collect()
    if RSS_PEAK:
        _trim()
        before = _status("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
        result = fn()
        return result, max(0, _status("VmHWM") - before)
    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_peak_measurement_sees_native_allocations() -> None:
    """The meter itself: 64 MB allocated and freed inside the call must show."""

    def allocate() -> int:
        block = np.ones(64 * MB, dtype=np.uint8)
        return int(block[-1])

    _, peak = peak_bytes(allocate)
    assert 60 * MB < peak < 200 * MB
    _, idle = peak_bytes(lambda: None)
    assert idle < 16 * MB


# ------------------------------------------------------------------ big answers
def _noise_mask_b64() -> str:
    pixels = (np.random.default_rng(0).random((256, 256)) > 0.5).astype(np.uint8) * 255
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode()  # ~19.5 KB: binary noise


def test_hundred_megabyte_answer() -> None:
    """5,100 items with 256x256 PNG masks in a fence: 100 MB of text."""
    mask = _noise_mask_b64()
    count = 100_000_000 // (len(mask) + 80)
    items = ",\n".join(
        f'{{"box_2d": [{i % 900}, {i % 800}, {i % 900 + 60}, {i % 800 + 90}], '
        f'"label": "L{i % 5}", "mask": "{mask}"}}'
        for i in range(count)
    )
    text = "```json\n[" + items + "]\n```"
    del items
    assert len(text) > 99_000_000
    d, peak = peak_bytes(lambda: parse(text, width=640, height=480))
    assert len(d) == count and not d.problems
    assert d.masks is not None and int(d.masks.areas.min()) > 0
    # Measured +193 MB: the fenced region and the decoded JSON strings, 100 MB each at
    # most, plus ~1.6 KB of crop per item. Nothing per character beyond that.
    assert peak < 3 * len(text), f"{peak / MB:.0f} MB for {len(text) / MB:.0f} MB"


def test_hundred_thousand_items() -> None:
    answer = json.dumps(
        [
            {"box_2d": [i % 900, i % 800, i % 900 + 50, i % 800 + 60], "label": f"c{i % 10}"}
            for i in range(100_000)
        ]
    )
    d, peak = peak_bytes(lambda: parse(answer, width=4032, height=3024))
    assert len(d) == 100_000 and d.problems == []
    assert peak < 2000 * 100_000, f"{peak / 100_000:.0f} bytes per item"  # measured ~1 KB
    from boxmask.export.coco import CocoDataset

    def export() -> int:
        dataset = CocoDataset()
        dataset.add(d, file_name="many.jpg")
        return len(json.dumps(dataset.to_dict()))

    size, peak = peak_bytes(export)
    # Every annotation carries its box as RLE (~700 bytes of JSON each): the dict, the
    # text and the encoder's buffer stay within 3 KB an item.
    assert size > 10_000_000 and peak < 3000 * 100_000


def test_hundred_thousand_broken_items_each_reported() -> None:
    """Every bad item costs one Problem record, nothing more (~400 bytes)."""
    answer = "[" + ", ".join("{}" if i % 2 else '{"box_2d": [1, 2]}' for i in range(100_000))
    d, peak = peak_bytes(lambda: parse(answer, width=100, height=100))
    assert len(d) == 0
    dropped = {p.index for p in d.problems if p.dropped}
    assert dropped >= set(range(99_999))  # the last one is cut off: truncated answer
    assert peak < 2000 * 100_000


SIZE = 2_000_000
PATHOLOGICAL: dict[str, str] = {
    # Each once took far more memory or time than its size (see the commit messages).
    "2 MB of [": "[" * SIZE,
    "2 MB of [{": "[{" * (SIZE // 2),
    "open objects": '{"a": ' * (SIZE // 6),
    "truncated list of numbers": "[" + "1, " * (SIZE // 3),
    "Python tuples": "[" + "(1, 2), " * (SIZE // 8) + "]",
    "unterminated string of escapes": '[{"label": "' + '\\"' * (SIZE // 2),
    "unterminated string": '[{"box_2d": [1, 2, 3, 4], "label": "' + "x" * SIZE,
    "many fences": "```json\n[]\n```\n" * (SIZE // 15),
    "bare mask tokens": '[{"mask": <start_of_mask>' + "<seg_1>" * (SIZE // 7),
    "commas": "[" + "," * SIZE + "]",
    "prose": "The answer is " + "very " * (SIZE // 5),
}


@pytest.mark.parametrize("name", sorted(PATHOLOGICAL))
def test_pathological_answer_memory_is_bounded(name: str) -> None:
    text = PATHOLOGICAL[name]

    def run() -> object:
        try:
            return parse(text, width=640, height=480)
        except ParseError as exc:
            return exc

    result, peak = peak_bytes(run)
    assert isinstance(result, ParseError) or len(result.problems) <= 2  # type: ignore[attr-defined]
    # Before the fixes: [ 100 B/char, numbers 230 B/char, escapes 60 B/char.
    assert peak < 2 * len(text) + 48 * MB, f"{name}: {peak / MB:.0f} MB"


# ------------------------------------------------------------------ deep nesting
def _nested(kind: str, depth: int) -> Any:
    if kind == "list text":
        return "[" * depth + "]" * depth
    if kind == "object text":
        return '{"a": ' * depth + "1" + "}" * depth
    if kind == "truncated text":
        return '[{"box_2d": [1, 2, 3, 4], "label": "a"}, {"x": ' + "[" * depth
    if kind == "inside an item":
        return '[{"box_2d": [1, 2, 3, 4], "label": ' + "[" * depth + "]" * depth + "}]"
    if kind == "python literal":
        return "[{'label': " + "(" * depth + ")" * depth + ", 'box_2d': (1, 2, 3, 4)}]"
    value: Any = "x"
    for _ in range(depth):
        value = [value] if kind == "list value" else {"label": value, "box_2d": [1, 2, 3, 4]}
    return [value] if kind == "item value" else value


TEXT_KINDS = ["list text", "object text", "truncated text", "inside an item", "python literal"]
VALUE_KINDS = ["list value", "item value"]  # decoded values, as a caller may pass them


@pytest.mark.parametrize(
    ("kind", "depth"),
    [(k, d) for k in TEXT_KINDS for d in (100, 990, 5_000, 100_000)]
    + [(k, d) for k in VALUE_KINDS for d in (100, 990, 5_000)],
)
def test_deep_nesting_never_reaches_the_recursion_limit(kind: str, depth: int) -> None:
    """Parsed close to the recursion limit, as from inside a deep call stack."""
    answer = _nested(kind, depth)

    def at_depth(levels: int) -> object:
        if levels:
            return at_depth(levels - 1)
        try:
            d = parse(answer, width=100, height=100)
        except ParseError as exc:
            return exc
        check_detections(d, answer)
        return d

    room = sys.getrecursionlimit() - len(_stack()) - 60
    result = at_depth(room)  # leaves ~60 frames for parse itself
    assert isinstance(result, ParseError) or hasattr(result, "problems")


def _stack() -> list[object]:
    frame, frames = sys._getframe(), []
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back  # type: ignore[assignment]
    return frames


def test_deep_nesting_messages() -> None:
    with pytest.raises(ParseError, match="no JSON list or object found in the answer"):
        parse("[" * 100_000 + "]" * 100_000, width=10, height=10)
    d = parse('[{"box_2d": [1, 2, 3, 4], "label": "a"}, ' + "[" * 5000, width=10, height=10)
    assert d.labels == ["a"] and d.problems[0].kind == ProblemKind.TRUNCATED


# ------------------------------------------------------------------ bombs
def _zero_png(width: int, height: int) -> bytes:
    """A real decompression bomb: a valid gray PNG of zeros, deflated row by row."""
    deflate = zlib.compressobj(9)
    row = bytes(width + 1)
    parts = [deflate.compress(row) for _ in range(height)]
    parts.append(deflate.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    idat = b"".join(parts)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_image_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_zero_png(13_000, 12_000))  # 156 MP of zeros in ~150 KB
    assert bomb.stat().st_size < 1 * MB
    for reader in (image_size, read_image):
        with pytest.raises(ImageError, match="refusing to decode") as info:
            peak_bytes(lambda reader=reader: reader(bomb))  # type: ignore[misc]
        assert "13000x12000 = 156,000,000 pixels" in str(info.value)
        assert "max_pixels=150,000,000" in str(info.value)

    def refused() -> str:
        try:
            image_size(bomb)
        except ImageError as exc:
            return str(exc)
        return "decoded"

    message, peak = peak_bytes(refused)
    assert message.startswith("refusing to decode")
    assert peak < 32 * MB  # the 156 MB of pixels were never produced


def test_lying_image_header_is_refused(tmp_path: Path) -> None:
    liar = tmp_path / "liar.png"
    liar.write_bytes(make_png(200_000, 200_000, b"\0" * 10))
    with pytest.raises(ImageError, match="refusing to decode"):
        image_size(liar)


def test_mask_bomb_is_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = _zero_png(5_000, 5_000)  # 25 MP of zeros in ~25 KB, over the 16.7 MP cap
    assert len(bomb) < 64 * 1024

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the decoder was reached")

    monkeypatch.setattr(png_module.cv2, "imdecode", refuse)
    monkeypatch.setattr(png_module.zlib, "decompressobj", refuse)
    with pytest.raises(MaskDecodeError, match="over the cap") as info:
        decode_png_gray(bomb)
    assert info.value.kind == "mask_too_large"
    item = {"box_2d": [0, 0, 1000, 1000], "mask": base64.b64encode(bomb).decode(), "label": "b"}
    d, peak = peak_bytes(lambda: parse([item], width=640, height=480))
    assert [p.kind for p in d.problems] == [ProblemKind.MASK_TOO_LARGE]
    assert "declares 5000x5000 pixels" in d.problems[0].message
    assert peak < 16 * MB


def test_mask_with_a_lying_chunk_length_is_refused_before_decoding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found by atheris: OpenCV allocated an IDAT's declared 2.9 GB for a 97-byte mask."""
    raw16 = b"".join(b"\0" + bytes(32) for _ in range(16))
    good = make_png(16, 16, raw16, bit_depth=16)
    lie = bytearray(good)
    lie[33:37] = (2_986_344_488).to_bytes(4, "big")  # the IDAT length field
    assert cv2.imdecode(np.frombuffer(good, np.uint8), cv2.IMREAD_UNCHANGED) is not None
    monkeypatch.setattr(
        png_module.cv2, "imdecode", lambda *a: pytest.fail("cv2.imdecode was reached")
    )
    with pytest.raises(MaskDecodeError, match="IDAT chunk declares 2986344488 bytes"):
        decode_png_gray(bytes(lie))


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def _gray_png(width: int, height: int, scanlines: bytes) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(scanlines, 9))
        + _png_chunk(b"IEND", b"")
    )


def test_mask_inflating_past_its_header_stops_at_the_declared_size() -> None:
    """A 16x16 header in front of 50 MB of zlib zeros: inflated only up to 272 bytes."""
    bomb = _gray_png(16, 16, bytes(17 * 16 + 50_000_000))
    assert len(bomb) < 64 * 1024
    item = {"box_2d": [0, 0, 500, 500], "mask": base64.b64encode(bomb).decode(), "label": "b"}
    d, peak = peak_bytes(lambda: parse([item], width=640, height=480))
    assert [(p.index, p.kind) for p in d.problems] == [(0, ProblemKind.MASK_OVERFLOW)]
    assert "inflates past the 272 bytes its 16x16 header declares" in d.problems[0].message
    assert d.labels == ["b"] and peak < 16 * MB


def test_corrupt_mask_pngs_print_nothing_on_the_terminal(capfd: pytest.CaptureFixture[str]) -> None:
    """libpng wrote 'libpng error: bad adaptive filter value' to stderr before."""
    bad_filter = _gray_png(16, 16, (b"\x09" + b"\x80" * 16) * 16)
    items = [
        {"box_2d": [0, 0, 500, 500], "mask": base64.b64encode(png).decode(), "label": str(i)}
        for i, png in enumerate([bad_filter, bad_filter[:-20], _gray_png(16, 16, b"\x01" * 5)])
    ]
    d = parse(items, width=64, height=48)
    assert len(d) == 3 and {p.kind for p in d.problems} == {ProblemKind.BAD_MASK}
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""


def test_total_crop_pixels_per_answer_are_bounded() -> None:
    """1x1 PNGs on full-image boxes: 17 KB of answer took 1.2 GB before the budget."""
    one = base64.b64encode(_gray_png(1, 1, b"\x00\xff")).decode()
    items = [{"box_2d": [0, 0, 1000, 1000], "mask": one, "label": "x"} for _ in range(100)]
    assert len(json.dumps(items)) < 20_000
    d, peak = peak_bytes(
        lambda: parse(items, width=4000, height=3000, max_crop_pixels=5 * 12_000_000)
    )
    assert d.masks is not None and int(d.masks.has_mask.sum()) == 5
    refused = [p for p in d.problems if p.kind is ProblemKind.MASK_BUDGET]
    assert [p.index for p in refused] == list(range(5, 100))
    assert "past max_crop_pixels=60,000,000" in refused[0].message
    assert peak < 5 * 12_000_000 + 64 * MB
    # The default budget (256 Mi pixels) holds 22 of these full-image crops.
    d = parse(items[:30], width=4000, height=3000)
    assert d.masks is not None and int(d.masks.has_mask.sum()) == 22


def test_polygon_walk_per_answer_is_bounded() -> None:
    """Polygons just under the 2M-point walk cap each: the answer's total walk is capped."""
    from boxmask.masks.decode import MAX_ANSWER_WALK
    from boxmask.masks.polygon import MAX_WALK, walk_length

    # A thin sliver from far above the image to far below: ~1.9M walked points.
    tall = [[500, -940_000], [510, -940_000], [510, 940_000], [500, 940_000]]
    walked_each = walk_length(np.array(tall) * 0.1)  # 0-1000 -> pixels of 100x100
    assert 1.8e6 < walked_each < MAX_WALK
    items = [{"mask": tall, "label": str(i)} for i in range(6)]
    d = parse(items, width=100, height=100)
    refused = [p.index for p in d.problems if p.kind is ProblemKind.MASK_BUDGET]
    assert refused == list(range(int(MAX_ANSWER_WALK // walked_each), 6))
