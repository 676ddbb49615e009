"""Fuzz targets for boxmask: one function per target, ``target(data: bytes) -> None``.

Each target turns arbitrary bytes into an input (text, a JSON-like structure, PNG bytes,
a mask crop, an RLE string), runs boxmask on it, and checks what must hold for *any*
input: only the documented exception may escape (:class:`~boxmask.ParseError`,
:class:`~boxmask.errors.ExportError`, ``MaskDecodeError``), and the result keeps its
invariants (boxes inside the image, masks inside the image, every item either kept or
reported as a dropped problem, exports that round-trip and serialize as strict JSON).
Anything else — another exception or a failed ``assert`` — is a bug.

The same targets run three ways:

- under atheris (coverage-guided, ``fuzz/run.py``, ``make fuzz``);
- in the test suite over the committed seed corpus (``fuzz/corpus/<target>/``), the
  crash regressions (``tests/fuzz_regressions/<target>/``) and a few hundred hypothesis
  byte strings (``tests/test_reliability_fuzz.py``);
- by hand: ``python -m fuzz.run TARGET FILE`` replays one input.

The byte decoding is deterministic and total (every byte string is a valid input), so
a crashing input saved from any run replays exactly.
"""

from __future__ import annotations

import base64
import json
import math
import struct
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["TARGETS", "ByteReader", "build_answer", "check_detections", "make_png"]


# --------------------------------------------------------------------------- bytes
class ByteReader:
    """Reads typed values from fuzz bytes; past the end every read gives zeros."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def remaining(self) -> int:
        return max(0, len(self.data) - self.pos)

    def take(self, n: int) -> bytes:
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk.ljust(n, b"\0") if len(chunk) < n else chunk

    def byte(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "little")

    def u32(self) -> int:
        return int.from_bytes(self.take(4), "little")

    def below(self, n: int) -> int:
        """An int in ``[0, n)``."""
        return (self.u16() if n > 255 else self.byte()) % n

    def flag(self, one_in: int = 2) -> bool:
        return self.byte() % one_in == 0

    def choice(self, options: list[Any] | tuple[Any, ...]) -> Any:
        return options[self.below(len(options))]

    def rest(self) -> bytes:
        chunk = self.data[self.pos :]
        self.pos = len(self.data)
        return chunk


# ---------------------------------------------------------------------------- PNGs
def _chunk(kind: bytes, body: bytes) -> bytes:
    return (
        struct.pack(">I", len(body))
        + kind
        + body
        + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    )


def make_png(
    width: int,
    height: int,
    raw: bytes,
    *,
    bit_depth: int = 8,
    color_type: int = 0,
    interlace: int = 0,
    palette: bytes | None = None,
    compress: bool = True,
    end: bool = True,
) -> bytes:
    """A PNG built by hand from its parts: any IHDR (even a lying one) and any row data.

    ``raw`` is the filtered scanline stream (filter byte + samples per row); it is
    deflated unless ``compress`` is False (then stored as is: a corrupt IDAT).
    """
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, interlace)
    out = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
    if palette is not None:
        out += _chunk(b"PLTE", palette)
    out += _chunk(b"IDAT", zlib.compress(raw) if compress else raw)
    return out + (_chunk(b"IEND", b"") if end else b"")


def _gray_png(width: int, height: int, pixels: npt.NDArray[np.uint8], filt: int = 0) -> bytes:
    rows = np.concatenate(
        [np.full((height, 1), filt, dtype=np.uint8), pixels.reshape(height, width)], axis=1
    )
    return make_png(width, height, rows.tobytes())


def _seed_pngs() -> list[bytes]:
    """Small valid PNG masks in every layout the decoder distinguishes."""
    yy, xx = np.mgrid[0:16, 0:16]
    disc = (((yy - 7.5) ** 2 + (xx - 7.5) ** 2) < 40).astype(np.uint8) * 255
    ramp = (xx * 16 + yy).astype(np.uint8)
    pngs = [
        _gray_png(16, 16, disc),  # Gemini's layout: gray 8, filter 0
        _gray_png(16, 16, ramp),  # probabilities, not binary
        _gray_png(16, 16, disc, filt=1),  # filtered rows (libpng path)
        _gray_png(1, 1, np.array([255], dtype=np.uint8)),
    ]
    rgba = np.zeros((16, 16, 4), dtype=np.uint8)
    rgba[..., 3] = disc
    rows16 = (disc.astype(">u2") * 257).reshape(16, 16)
    raw16 = b"".join(b"\0" + row.tobytes() for row in rows16)
    pngs.append(make_png(16, 16, raw16, bit_depth=16))
    raw_rgba = b"".join(b"\0" + row.tobytes() for row in rgba)
    pngs.append(make_png(16, 16, raw_rgba, color_type=6))
    pal = bytes([0, 0, 0, 255, 255, 255])
    raw_pal = b"".join(b"\0" + bytes((disc[r] // 255).tolist()) for r in range(16))
    pngs.append(make_png(16, 16, raw_pal, color_type=3, palette=pal))
    return pngs


SEED_PNGS = _seed_pngs()


def png_from_reader(r: ByteReader) -> bytes:
    """A PNG, a damaged PNG or something else, chosen by the bytes."""
    mode = r.below(6)
    if mode == 0:  # a valid seed
        return bytes(r.choice(SEED_PNGS))
    if mode == 1:  # a seed with bytes overwritten
        data = bytearray(r.choice(SEED_PNGS))
        for _ in range(1 + r.below(4)):
            data[r.below(len(data))] = r.byte()
        return bytes(data)
    if mode == 2:  # a seed cut short
        data = r.choice(SEED_PNGS)
        return bytes(data[: r.below(len(data))])
    if mode == 3:  # any IHDR, any rows: lying sizes, odd depths, bombs
        width = r.choice([0, 1, 2, 7, 16, 255, 1 << 15, 1 << 20, 0x7FFFFFFF, 0xFFFFFFFF])
        height = r.choice([0, 1, 3, 16, 300, 1 << 16, 0x7FFFFFFF])
        depth = r.choice([1, 2, 4, 8, 16, 3, 0])
        color = r.choice([0, 2, 3, 4, 6, 1, 7])
        payload = r.take(r.below(64))
        return make_png(
            width,
            height,
            payload,
            bit_depth=depth,
            color_type=color,
            interlace=r.choice([0, 1, 2]),
            palette=r.take(3 * r.below(5)) if r.flag() else None,
            compress=r.flag(4) is False,
            end=r.flag(3) is False,
        )
    if mode == 4:  # a valid gray PNG of a fuzzed size and content
        width, height = 1 + r.below(24), 1 + r.below(24)
        pixels = np.frombuffer(r.take(width * height), dtype=np.uint8).copy()
        if r.flag():
            pixels = np.where(pixels > 127, 255, 0).astype(np.uint8)
        return _gray_png(width, height, pixels, filt=r.choice([0, 0, 0, 1, 2, 3, 4, 9]))
    return r.take(r.below(48))  # not a PNG at all


# ------------------------------------------------------------------------- answers
_KEYS = ["box_2d", "point", "mask", "label", "confidence", "score", "name", "extra"]
_LABELS = ["cat", "", "a b", "ünï", "[{", '"', "x" * 40]
_NUMBER_STRINGS = ["12", " 3.5 ", "nan", "inf", "-inf", "1e400", "abc", "", "0x10", "１２"]


def _number(r: ByteReader) -> Any:
    kind = r.below(12)
    if kind < 5:
        return r.below(1101) - 50  # mostly inside 0-1000, sometimes just outside
    if kind == 5:
        return r.u16() / 64.0 - 100.0
    if kind == 6:
        return r.choice([math.nan, math.inf, -math.inf, 1e308, -1e308, 5e-324, -0.0])
    if kind == 7:
        return r.choice(_NUMBER_STRINGS)
    if kind == 8:
        return r.choice([True, False, None])
    if kind == 9:
        return r.choice([10**30, -(10**30), 2**63, 1000])
    if kind == 10:
        return [r.below(1000)]
    return r.below(1000)


def _numbers(r: ByteReader, count: int) -> Any:
    n = count if r.flag(4) is False else r.below(7)
    values = [_number(r) for _ in range(n)]
    if r.flag(16):
        return {"ymin": values}
    if r.flag(16):
        return " ".join(map(str, values))
    return values


def _polygon(r: ByteReader) -> Any:
    points = [[_number(r), _number(r)] for _ in range(r.below(9))]
    shape = r.below(5)
    if shape == 0:
        return points
    if shape == 1:
        return [points, [[_number(r), _number(r)] for _ in range(r.below(5))]]
    if shape == 2:
        return [v for p in points for v in p]
    if shape == 3:
        return [[p] for p in points]
    return [points[:1], 5]


def _mask(r: ByteReader) -> Any:
    kind = r.below(10)
    if kind < 4:
        text = base64.b64encode(png_from_reader(r)).decode()
        style = r.below(5)
        if style == 1:
            return "data:image/png;base64," + text
        if style == 2:
            return text.rstrip("=")
        if style == 3:
            return text[: r.below(len(text) + 1)]
        if style == 4:
            return base64.urlsafe_b64encode(base64.b64decode(text)).decode()
        return text
    if kind == 4:
        return r.choice(["<start_of_mask><seg_1><seg_2>", "", "   ", "!!notbase64!!", "a"])
    if kind == 5:
        return _polygon(r)
    if kind == 6:
        return r.choice([5, 1.5, True, {"counts": "abc", "size": [4, 4]}, ["a", "b"]])
    if kind == 7:
        return base64.b64encode(r.take(r.below(40))).decode()
    return _polygon(r)


def _item(r: ByteReader) -> Any:
    if r.flag(12):
        return _any(r, 2)
    item: dict[str, Any] = {}
    for key in _KEYS:
        if not r.flag(3 if key in ("box_2d", "label", "mask") else 5):
            continue
        if key == "box_2d":
            item[key] = _numbers(r, 4)
        elif key == "point":
            item[key] = _numbers(r, 2)
        elif key == "mask":
            item[key] = _mask(r)
        elif key in ("label", "name"):
            item[key] = r.choice(_LABELS) if r.flag(6) is False else _number(r)
        elif key in ("confidence", "score"):
            item[key] = _number(r) if r.flag() else r.u16() / 40000.0
        else:
            item[key] = _any(r, 2)
    return item


def _any(r: ByteReader, depth: int) -> Any:
    kind = r.below(7 if depth > 0 else 4)
    if kind == 0:
        return _number(r)
    if kind == 1:
        return r.choice(_LABELS + _NUMBER_STRINGS)
    if kind == 2:
        return None
    if kind == 3:
        return r.choice([True, False, 0, -1])
    if kind == 4:
        return [_any(r, depth - 1) for _ in range(r.below(4))]
    if kind == 5:
        return {r.choice([*_KEYS, "boxes", "items"]): _any(r, depth - 1) for _ in range(r.below(3))}
    return _item(r)


def _envelope(r: ByteReader, text: str) -> Any:
    finish = r.choice(["STOP", "MAX_TOKENS", "SAFETY", "OTHER", None, 3, "weird"])
    kind = r.below(9)
    if kind == 0:
        parts: list[Any] = [{"text": text}]
        if r.flag(3):
            parts.insert(0, {"text": "thinking...", "thought": True})
        return {
            "candidates": [{"content": {"parts": parts}, "finishReason": finish}],
            "usageMetadata": {"totalTokenCount": 5},
        }
    if kind == 1:
        cut = r.below(len(text) + 1)
        return [
            {"candidates": [{"content": {"parts": [{"text": text[:cut]}]}}]},
            {
                "candidates": [
                    {"content": {"parts": [{"text": text[cut:]}]}, "finishReason": finish}
                ]
            },
        ]
    if kind == 2:
        return {
            "id": "x",
            "status": r.choice(["completed", "incomplete", "failed", "in_progress", 7]),
            "steps": [
                {"type": "user_input", "content": [{"type": "text", "text": "q"}]},
                {"type": "model_output", "content": [{"type": "text", "text": text}]},
            ],
            "errors": r.choice([None, [{"message": "SAFETY"}], "boom", 5]),
        }
    if kind == 3:
        return {"outputs": r.choice([[{"type": "text", "text": text}], text, 5, None])}
    if kind == 4:
        return {
            "choices": r.choice(
                [[{"message": {"content": text}, "finish_reason": finish}], [], {"0": 1}, 5]
            )
        }
    if kind == 5:
        return {"response": _envelope(r, text)}
    if kind == 6:
        return {"error": r.choice([{"message": "quota"}, "boom", None, 5])}
    if kind == 7:
        return {"promptFeedback": {"blockReason": r.choice(["SAFETY", None, 5])}}
    return {"candidates": r.choice([[], None, [5], [{"content": text}], {"a": 1}, "x"])}


def _as_text(r: ByteReader, value: Any) -> str:
    style = r.below(8)
    indent = r.choice([None, None, 2])
    # style 6: a Python literal, as some pipelines print it
    text = repr(value) if style == 6 else json.dumps(value, indent=indent)
    if style == 1:
        text = "```json\n" + text + "\n```"
    elif style == 2:
        text = "Here you go:\n```" + text + "```\nDone. [1] {x}"
    elif style == 3:
        text = text[: r.below(len(text) + 1)]  # truncated anywhere
    elif style == 4:
        text = "```JSON\n" + text[: r.below(len(text) + 1)]  # truncated inside a fence
    elif style == 5:
        text = text.replace(", ", ",", r.below(3)).replace("]", ",]", r.below(2))
    elif style == 7 and text:
        pos = r.below(len(text))
        text = text[:pos] + r.choice(["{", "}", "[", "]", '"', ",", "\\", "\0"]) + text[pos:]
    return text


def build_answer(r: ByteReader) -> Any:
    """A model answer (text, bare JSON value or API envelope) decided by the bytes."""
    items = [_item(r) for _ in range(r.below(7))]
    wrap = r.below(6)
    value: Any = items
    if wrap == 1:
        value = {r.choice(["boxes", "Items", "objects", "masks"]): items}
    elif wrap == 2 and items and isinstance(items[0], (dict, list)):
        value = items[0]
    elif wrap == 3:
        value = {"notes": "x", "found": items}
    form = r.below(5)
    if form == 0:
        return value
    text = _as_text(r, value)
    if form == 1:
        return _envelope(r, text)
    if form == 2:
        return text.encode("utf-8")
    return text


# ---------------------------------------------------------------------- invariants
def check_detections(d: Any, answer: Any) -> None:
    """What every parse result must satisfy, whatever the answer was."""
    from boxmask.answer import read_answer
    from boxmask.problems import Problem

    n = len(d)
    assert d.boxes.shape == (n, 4) and len(d.labels) == n
    assert d.source_index.shape == (n,) and d.has_box.shape == (n,)
    assert np.isfinite(d.boxes).all(), d.boxes
    assert (d.boxes[:, 0] <= d.boxes[:, 2]).all() and (d.boxes[:, 1] <= d.boxes[:, 3]).all()
    assert (d.boxes >= 0).all()
    assert (d.boxes[:, [0, 2]] <= d.width).all() and (d.boxes[:, [1, 3]] <= d.height).all()
    assert all(isinstance(label, str) for label in d.labels)
    if d.scores is not None:
        scores = d.scores[np.isfinite(d.scores)]
        assert ((scores >= 0) & (scores <= 1)).all(), d.scores
    if d.points is not None:
        pts = d.points[np.isfinite(d.points).all(axis=1)]
        assert (pts >= 0).all() and (pts[:, 0] <= d.width).all() and (pts[:, 1] <= d.height).all()
    if d.masks is not None:
        assert len(d.masks) == n
        for x0, y0, crop in d.masks:
            assert crop.dtype == np.bool_ and crop.ndim == 2
            if crop.size:
                assert x0 >= 0 and y0 >= 0, (x0, y0)
                assert x0 + crop.shape[1] <= d.width and y0 + crop.shape[0] <= d.height
    assert len(set(d.source_index.tolist())) == n, "an item was kept twice"
    # Never silent: every item of the model's list is kept or reported dropped.
    items = read_answer(answer).items
    kept = set(d.source_index.tolist())
    dropped = {p.index for p in d.problems if p.dropped}
    for index in range(len(items)):
        assert index in kept or index in dropped, f"item {index} vanished without a problem"
    assert not kept & dropped, "an item is both kept and reported dropped"
    assert kept <= set(range(len(items)))
    for p in d.problems:
        assert isinstance(p, Problem)
        assert p.index is None or 0 <= p.index <= len(items), p
        json.dumps(p.to_dict(), allow_nan=False)
        str(p)


def _size(r: ByteReader) -> tuple[int, int]:
    return r.choice([1, 2, 7, 64, 320, 1000, 1001, 4032]), r.choice([1, 3, 48, 240, 999, 3024])


# ------------------------------------------------------------------------- targets
def target_parse_text(data: bytes) -> None:
    """Any text as a model answer."""
    from boxmask import ParseError, parse

    r = ByteReader(data)
    width, height = _size(r)
    text = r.rest().decode("utf-8", errors="replace")
    try:
        d = parse(text, width=width, height=height)
    except ParseError:
        return
    check_detections(d, text)


def target_parse_structure(data: bytes) -> None:
    """Structured answers: items with broken boxes, masks, labels; wrappers; envelopes;
    fences; truncation; Python literals."""
    from boxmask import ParseError, parse

    r = ByteReader(data)
    width, height = _size(r)
    threshold = r.choice([127, 127, 0, 255, 1])
    answer = build_answer(r)
    try:
        d = parse(answer, width=width, height=height, threshold=threshold)
    except ParseError:
        return
    check_detections(d, answer)


def target_png_mask(data: bytes) -> None:
    """PNG bytes (valid, damaged, lying headers, bombs) as a mask, alone and in an item."""
    from boxmask import parse
    from boxmask.masks.png import MaskDecodeError, decode_png_gray
    from boxmask.problems import ProblemKind

    r = ByteReader(data)
    png = png_from_reader(r) if r.flag(4) is False else r.rest()
    cap = r.choice([64 * 64, 4096 * 4096])
    try:
        probability = decode_png_gray(png, max_pixels=cap)
    except MaskDecodeError as exc:
        assert exc.kind in ("bad_mask", "mask_too_large"), exc.kind
    else:
        assert probability.dtype == np.uint8 and probability.ndim == 2
        assert 0 < probability.size <= cap
    item = {"box_2d": [100, 100, 900, 800], "mask": base64.b64encode(png).decode(), "label": "m"}
    d = parse([item], width=64, height=48, max_mask_pixels=cap)
    check_detections(d, [item])
    assert len(d) == 1 and d.masks is not None
    if not d.masks.crop(0)[2].size:
        kinds = {p.kind for p in d.problems if p.index == 0}
        assert kinds & {ProblemKind.BAD_MASK, ProblemKind.MASK_TOO_LARGE}, d.problems


def target_envelope(data: bytes) -> None:
    """API response shapes with missing, mistyped and nested fields."""
    from boxmask import ParseError
    from boxmask.answer import read_answer
    from boxmask.envelopes import is_envelope, read_response, unwrap_envelope

    r = ByteReader(data)
    items = [_item(r) for _ in range(r.below(3))]
    value = _envelope(r, _as_text(r, items))
    for _ in range(r.below(4)):  # random damage: drop or retype one key somewhere
        node = value
        while isinstance(node, (dict, list)) and node and r.flag():
            keys = list(node.keys()) if isinstance(node, dict) else list(range(len(node)))
            key = r.choice(keys)
            child = node[key]
            if not isinstance(child, (dict, list)) or not child or r.flag(3):
                node[key] = _any(r, 1)
                break
            node = child
    for form in (value, json.dumps(value)):
        try:
            raw = read_answer(form)
        except ParseError:
            continue
        assert isinstance(raw.items, list)
    if is_envelope(value):
        try:
            reading = read_response(value)
            assert isinstance(reading.text, str)
            text, info = unwrap_envelope(value)
            assert isinstance(text, str) and info.text == text
        except ParseError:
            pass


def _crop_from(r: ByteReader, max_side: int) -> tuple[int, int, npt.NDArray[np.bool_], int, int]:
    h, w = 1 + r.below(max_side), 1 + r.below(max_side)
    bits = np.unpackbits(np.frombuffer(r.take((h * w + 7) // 8), dtype=np.uint8))[: h * w]
    crop = bits.reshape(h, w).astype(np.bool_)
    if r.flag(4):
        crop = ~crop
    x0, y0 = r.below(5), r.below(5)
    width, height = x0 + w + r.below(5), y0 + h + r.below(5)
    return x0, y0, crop, width, height


def target_rle(data: bytes) -> None:
    """Crops → COCO RLE: byte-identical to pycocotools, and decodes back to the crop."""
    from boxmask.export.rle import (
        counts_from_string,
        crop_counts,
        crop_to_rle,
        crops_to_rle,
        rle_area,
        rle_to_crop,
    )

    r = ByteReader(data)
    x0, y0, crop, width, height = _crop_from(r, 40)
    rle = crop_to_rle(x0, y0, crop, width, height)
    assert rle["size"] == [height, width]
    json.dumps(rle)
    counts = counts_from_string(rle["counts"])
    assert (counts >= 0).all() and int(counts.sum()) == width * height
    assert (counts == crop_counts(x0, y0, crop, width, height)).all()
    assert crops_to_rle([(x0, y0, crop)], width, height) == [rle]
    assert rle_area(rle) == int(crop.sum())
    dense = np.zeros((height, width), dtype=np.bool_)
    dense[y0 : y0 + crop.shape[0], x0 : x0 + crop.shape[1]] = crop
    bx, by, back = rle_to_crop(rle)
    again = np.zeros_like(dense)
    again[by : by + back.shape[0], bx : bx + back.shape[1]] = back
    assert (again == dense).all()
    try:
        from pycocotools import mask as mask_utils
    except ImportError:  # pragma: no cover - a dev dependency
        return
    expected = mask_utils.encode(np.asfortranarray(dense.astype(np.uint8)))
    assert expected["counts"].decode() == rle["counts"]


def target_rle_decode(data: bytes) -> None:
    """Arbitrary COCO ``counts`` (strings, bytes, lists) and sizes: ExportError or a
    crop inside the image whose pixel count is the RLE's area."""
    from boxmask.errors import ExportError
    from boxmask.export.rle import rle_area, rle_to_crop, rle_to_xywh

    r = ByteReader(data)
    size: Any = [r.below(40), r.below(40)]
    if r.flag(8):
        size = r.choice([[5], None, ["a", 2], [-1, 4], [2**40, 2**40], [2**31, 2**31]])
    form = r.below(4)
    counts: Any
    if form == 0:
        counts = r.rest().decode("latin-1")
    elif form == 1:
        counts = r.rest()
    elif form == 2:
        counts = [r.below(50) - 3 for _ in range(r.below(12))]
    else:
        counts = r.choice([None, 5, [], "", [1.5, 2], [[1]], [0, 2**62], [2**64], ["x"]])
    rle = {"size": size, "counts": counts}
    try:
        area = rle_area(rle)
        x0, y0, crop = rle_to_crop(rle)
        box = rle_to_xywh(rle)
    except ExportError:
        return
    height, width = (int(v) for v in size)
    assert int(crop.sum()) == area
    if crop.size:
        assert x0 >= 0 and y0 >= 0 and x0 + crop.shape[1] <= width
        assert y0 + crop.shape[0] <= height
        assert box == (float(x0), float(y0), float(crop.shape[1]), float(crop.shape[0]))


def target_polygons(data: bytes) -> None:
    """Crops → polygons that rasterize back (pycocotools rules) to exactly the pixels."""
    from boxmask.export.polygons import crop_to_polygons
    from boxmask.masks.polygon import rasterize_polygon

    r = ByteReader(data)
    x0, y0, crop, width, height = _crop_from(r, 20)
    tolerance = r.choice([0.0, 0.0, 0.0, 0.5, 1.0, 3.0])
    result = crop_to_polygons(x0, y0, crop, tolerance=tolerance)
    for ring in result.parts + result.holes:
        assert ring.ndim == 2 and ring.shape[1] == 2 and len(ring) >= 3
        assert np.isfinite(ring).all()
    for flat in result.coco():
        assert len(flat) >= 6 and len(flat) % 2 == 0
    assert result.is_empty == (not crop.any())
    if tolerance or result.has_holes:
        return
    dense = np.zeros((height, width), dtype=np.bool_)
    dense[y0 : y0 + crop.shape[0], x0 : x0 + crop.shape[1]] = crop
    filled = np.zeros_like(dense)
    for ring in result.parts:
        px, py, part = rasterize_polygon(ring, width, height)
        region = filled[py : py + part.shape[0], px : px + part.shape[1]]
        np.logical_or(region, part, out=region)
    assert (filled == dense).all(), "polygons do not rasterize back to the mask"


def target_exports(data: bytes) -> None:
    """Parsed answers → COCO (RLE and polygons) and YOLO: strict JSON, finite numbers,
    every kept item exported or reported."""
    from boxmask import ParseError, parse
    from boxmask.export.coco import CocoDataset
    from boxmask.export.yolo import YoloDataset

    r = ByteReader(data)
    width, height = _size(r)
    answer = build_answer(r)
    try:
        d = parse(answer, width=width, height=height)
    except ParseError:
        return
    for fmt in ("rle", "polygon"):
        dataset = CocoDataset(mask_format=fmt)  # type: ignore[arg-type]
        dataset.add(d, file_name="a.jpg")
        text = json.dumps(dataset.to_dict(), allow_nan=False)
        reported = {p.index for p in dataset.problems}
        assert len(dataset.annotations) + len(reported) >= len(d)
        for ann in dataset.annotations:
            assert all(math.isfinite(v) for v in ann["bbox"]) and ann["area"] >= 0
        json.dumps(dataset.results(), allow_nan=False)
        CocoDataset.from_dict(json.loads(text))
    for task in ("detect", "segment"):
        yolo = YoloDataset(task=task)  # type: ignore[arg-type]
        for line in yolo.add(d, "a.jpg"):
            values = [float(v) for v in line.split()[1:]]
            assert values and all(math.isfinite(v) and -1e-9 <= v <= 1 + 1e-9 for v in values)


TARGETS: dict[str, Callable[[bytes], None]] = {
    "parse_text": target_parse_text,
    "parse_structure": target_parse_structure,
    "png_mask": target_png_mask,
    "envelope": target_envelope,
    "rle": target_rle,
    "rle_decode": target_rle_decode,
    "polygons": target_polygons,
    "exports": target_exports,
}
