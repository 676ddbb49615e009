"""Reading images upright as RGB arrays, the bomb guard, and atomic writes."""

from __future__ import annotations

import contextlib
import io
import os
import struct
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from boxmask.errors import ImageError
from boxmask.images import (
    image_size,
    open_upright,
    read_image,
    to_rgb_array,
)
from tests.fixture_paths import FIXTURE_IMAGES

IMAGES = FIXTURE_IMAGES


def png_chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk: length, type, body, CRC."""
    return (
        struct.pack(">I", len(body))
        + kind
        + body
        + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    )


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims ``width × height`` but whose data holds a few bytes only."""
    chunk = png_chunk
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def test_read_path_gives_writable_rgb_uint8() -> None:
    a = read_image(IMAGES / "coffee.jpg")
    assert a.shape == (400, 600, 3) and a.dtype == np.uint8
    assert a.flags.c_contiguous and a.flags.writeable


def test_read_bgr_is_the_reverse_channel_order() -> None:
    rgb = read_image(IMAGES / "coffee.jpg")
    bgr = read_image(IMAGES / "coffee.jpg", channels="BGR")
    np.testing.assert_array_equal(bgr, rgb[:, :, ::-1])


def test_exif_rotated_fixture_is_read_upright() -> None:
    with Image.open(IMAGES / "chelsea_rotated.jpg") as stored:
        assert stored.size == (300, 451)  # pixels are stored turned
        assert stored.getexif().get(0x0112) == 6
    upright = read_image(IMAGES / "chelsea_rotated.jpg")
    reference = read_image(IMAGES / "chelsea.jpg")
    assert upright.shape == reference.shape == (300, 451, 3)
    # Same picture, up to JPEG re-encoding noise.
    assert np.abs(upright.astype(int) - reference.astype(int)).mean() < 3
    assert image_size(IMAGES / "chelsea_rotated.jpg") == (451, 300)


def test_pil_images_are_turned_by_their_exif_too() -> None:
    with Image.open(IMAGES / "chelsea_rotated.jpg") as im:
        assert read_image(im).shape == (300, 451, 3)
        assert open_upright(im).size == (451, 300)


def test_bytes_and_pil_modes() -> None:
    data = (IMAGES / "chelsea.jpg").read_bytes()
    assert read_image(data).shape == (300, 451, 3)
    gray = Image.new("L", (4, 3), 77)
    np.testing.assert_array_equal(read_image(gray), np.full((3, 4, 3), 77, np.uint8))
    rgba = Image.new("RGBA", (2, 2), (255, 0, 0, 0))  # fully transparent red
    np.testing.assert_array_equal(read_image(rgba), np.full((2, 2, 3), 255, np.uint8))
    half = Image.new("RGBA", (1, 1), (0, 0, 0, 128))
    assert abs(int(read_image(half)[0, 0, 0]) - 127) <= 1
    pal = Image.new("P", (2, 2), 0)
    pal.putpalette([10, 20, 30] * 256)
    np.testing.assert_array_equal(read_image(pal)[0, 0], [10, 20, 30])


def test_array_inputs() -> None:
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    out = to_rgb_array(gray)
    assert out.shape == (3, 4, 3) and (out[:, :, 1] == gray).all()
    rgb = np.zeros((3, 4, 3), np.uint8)
    assert to_rgb_array(rgb) is rgb
    rgba = np.zeros((1, 1, 4), np.uint8)
    rgba[0, 0] = (0, 0, 0, 255)
    assert (to_rgb_array(rgba) == 0).all()
    rgba[0, 0, 3] = 0
    assert (to_rgb_array(rgba) == 255).all()
    assert to_rgb_array(np.ones((2, 2), bool)).max() == 255
    assert to_rgb_array(np.zeros((2, 2, 1), np.uint8)).shape == (2, 2, 3)


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((2, 2, 3), np.float32), "uint8"),
        (np.zeros((2, 2, 2), np.uint8), "shape"),
        (np.zeros((2,), np.uint8), "shape"),
        (np.zeros((0, 2, 3), np.uint8), "no pixels"),
    ],
)
def test_bad_arrays_are_image_errors(array: np.ndarray, message: str) -> None:
    with pytest.raises(ImageError, match=message):
        read_image(array)


def test_unreadable_inputs(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="not found"):
        read_image(tmp_path / "missing.jpg")
    with pytest.raises(ImageError, match="folder"):
        read_image(tmp_path)
    text = tmp_path / "answer.txt"
    text.write_text("not a picture")
    with pytest.raises(ImageError, match="not an image"):
        read_image(text)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes((IMAGES / "coffee.jpg").read_bytes()[:2000])
    with pytest.raises(ImageError, match=r"cut\.jpg"):
        read_image(cut)
    with pytest.raises(ImageError, match="cannot use"):
        read_image(42)  # type: ignore[arg-type]


def test_bomb_guard_checks_the_header_before_decoding(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header_only(13_000, 13_000))  # 169 MP: below Pillow's hard limit
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no Pillow DecompressionBombWarning either
        with pytest.raises(ImageError, match="max_pixels"):
            read_image(bomb)
    huge = tmp_path / "huge.png"
    huge.write_bytes(png_header_only(100_000, 100_000))  # above Pillow's own limit
    with pytest.raises(ImageError, match="refusing to decode"):
        read_image(huge)
    with pytest.raises(ImageError, match="max_pixels=1,000"):
        read_image(IMAGES / "coffee.jpg", max_pixels=1000)
    with pytest.raises(ImageError, match="max_pixels"):
        read_image(np.zeros((40, 40), np.uint8), max_pixels=100)


def test_image_size_reads_only_the_header() -> None:
    assert image_size(IMAGES / "rocket.jpg") == (640, 427)
    assert image_size(np.zeros((5, 7, 3), np.uint8)) == (7, 5)
    assert image_size(png_header_only(12_000, 10_000)) == (12_000, 10_000)


# --------------------------------------------------------------- one image pipeline
# Pillow's exif_transpose method for each EXIF orientation; each is its own inverse
# except 6 and 8, which undo each other.
_TURN = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_UNDO = {**_TURN, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}
UPRIGHT_SIZE = (300, 400)  # width, height of the picture as a person sees it


def _heif_formats() -> list[str]:
    try:
        import pillow_heif  # noqa: F401
    except ImportError:
        return []
    return ["HEIF"]


def _upright_picture() -> Image.Image:
    """Four coloured quadrants (plus a white top-left corner): any turn is visible."""
    w, h = UPRIGHT_SIZE
    a = np.zeros((h, w, 3), np.uint8)
    a[: h // 2, : w // 2] = (220, 30, 30)
    a[: h // 2, w // 2 :] = (30, 200, 30)
    a[h // 2 :, : w // 2] = (30, 30, 220)
    a[h // 2 :, w // 2 :] = (230, 220, 40)
    a[:40, :40] = 255
    return Image.fromarray(a)


def _stored_with_orientation(fmt: str, orientation: int) -> bytes:
    """``fmt`` bytes whose pixels, turned by their EXIF ``orientation``, are upright."""
    upright = _upright_picture()
    stored = upright if orientation == 1 else upright.transpose(_UNDO[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    options: dict[str, object] = {"exif": exif.tobytes()}
    if fmt == "WEBP":
        options["lossless"] = True
    if fmt == "JPEG":
        options["quality"] = 95
    if fmt == "HEIF":
        from boxmask.images import require_heif

        require_heif("test")
        options["quality"] = 90
    stored.save(buf, fmt, **options)
    return buf.getvalue()


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF", *_heif_formats()])
def test_every_path_reports_the_same_upright_size(
    fmt: str, orientation: int, tmp_path: Path
) -> None:
    from boxmask.api.images import prepare_image
    from boxmask.overlay.render import draw
    from boxmask.parse import parse

    data = _stored_with_orientation(fmt, orientation)
    path = tmp_path / f"photo.{fmt.lower()}"
    path.write_bytes(data)
    width, height = UPRIGHT_SIZE
    reference = np.asarray(_upright_picture()).astype(int)

    assert image_size(path) == UPRIGHT_SIZE
    assert image_size(data) == UPRIGHT_SIZE
    with Image.open(path) as im:
        assert image_size(im) == UPRIGHT_SIZE
    assert open_upright(path).size == UPRIGHT_SIZE
    pixels = read_image(path)  # what overlays draw on
    assert pixels.shape == (height, width, 3)
    assert np.abs(pixels.astype(int) - reference).mean() < 8  # upright, not turned
    answer = '[{"box_2d": [0, 0, 500, 500], "label": "a"}]'
    overlay = draw(path, parse(answer, width=width, height=height))
    assert overlay.shape == (height, width, 3)
    # The client: the size it reports and the pixels it sends (what the model sees).
    for source in (path, data):
        sent = prepare_image(source)
        assert sent.size == UPRIGHT_SIZE
        assert sent.data is not None and image_size(sent.data) == UPRIGHT_SIZE
        seen = read_image(sent.data)
        assert np.abs(seen.astype(int) - reference).mean() < 8


def test_a_fifo_is_refused_not_waited_on(tmp_path: Path) -> None:
    from boxmask.api.images import prepare_image

    fifo = tmp_path / "photo.jpg"
    os.mkfifo(fifo)  # nobody ever writes: opening it for reading would block forever
    try:
        for read in (image_size, read_image, open_upright, prepare_image):
            with pytest.raises(ImageError, match=r"photo\.jpg is a FIFO \(named pipe\), not an"):
                read(fifo)  # type: ignore[operator]
    finally:
        fifo.unlink()  # later scans of the temporary folders must not open it either
    with pytest.raises(ImageError, match="is a device, not an image file"):
        image_size("/dev/null")


def test_heic_is_read_everywhere_with_pillow_heif(tmp_path: Path) -> None:
    if not _heif_formats():
        pytest.skip("pillow-heif is not installed")
    path = tmp_path / "photo.heic"
    path.write_bytes(_stored_with_orientation("HEIF", 6))
    assert image_size(path) == UPRIGHT_SIZE
    assert read_image(path).shape == (UPRIGHT_SIZE[1], UPRIGHT_SIZE[0], 3)


def test_heic_without_pillow_heif_says_what_to_install(
    tmp_path: Path, no_pillow_heif: None
) -> None:
    body = b"heic\0\0\0\0mif1heic"
    path = tmp_path / "photo.heic"
    path.write_bytes((8 + len(body)).to_bytes(4, "big") + b"ftyp" + body + b"\0" * 64)
    for read in (image_size, read_image):
        with pytest.raises(ImageError, match=r"photo\.heic is a HEIC/HEIF image.*pillow-heif"):
            read(path)


def _png_with_late_chunk(orientation: int, kind: bytes, payload: bytes) -> bytes:
    """A PNG stored turned by ``orientation`` whose only orientation record is one chunk
    after the image data (before IEND), as some writers place eXIf."""
    upright = _upright_picture()
    stored = upright if orientation == 1 else upright.transpose(_UNDO[orientation])
    buf = io.BytesIO()
    stored.save(buf, "PNG")
    data = buf.getvalue()
    assert data.endswith(png_chunk(b"IEND", b""))
    return data[:-12] + png_chunk(kind, payload) + data[-12:]


def _exif_payload(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()[6:]  # eXIf holds the TIFF structure without the "Exif\0\0" header


@contextlib.contextmanager
def _no_decoding() -> Iterator[None]:
    """Fail when a pixel decode ran inside the block (Pillow's ``except`` cannot hide it)."""
    from PIL import ImageFile

    decoded: list[object] = []
    original = ImageFile.ImageFile.load

    def counting(self: Any) -> Any:
        decoded.append(self)
        return original(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ImageFile.ImageFile, "load", counting)
        yield
    assert decoded == [], "the pixels were decoded"


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_png_size_reads_eXIf_after_the_data_without_decoding(
    orientation: int, tmp_path: Path
) -> None:
    data = _png_with_late_chunk(orientation, b"eXIf", _exif_payload(orientation))
    path = tmp_path / "late.png"
    path.write_bytes(data)
    assert open_upright(path).size == UPRIGHT_SIZE  # what Pillow does once it decodes
    with _no_decoding():
        assert image_size(path) == UPRIGHT_SIZE
        assert image_size(data) == UPRIGHT_SIZE
    with Image.open(path) as im:  # the header walk leaves the file where Pillow had it
        assert image_size(im) == UPRIGHT_SIZE
        assert open_upright(im).size == UPRIGHT_SIZE
        assert np.abs(read_image(im).astype(int) - np.asarray(_upright_picture())).mean() < 8


def test_png_without_exif_is_sized_from_the_header(tmp_path: Path) -> None:
    buf = io.BytesIO()
    _upright_picture().save(buf, "PNG", pnginfo=_text_info())
    path = tmp_path / "plain.png"
    path.write_bytes(buf.getvalue())
    with _no_decoding():
        assert image_size(path) == UPRIGHT_SIZE
        assert image_size(_stored_with_orientation("PNG", 6)) == UPRIGHT_SIZE  # eXIf first


def _text_info() -> Any:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Software", "a tool")
    return info


@pytest.mark.parametrize(
    ("kind", "payload"),
    [
        (b"iTXt", b'XML:com.adobe.xmp\0\0\0\0\0<x:xmpmeta><tiff:Orientation="6"/></x:xmpmeta>'),
        (b"tEXt", b"Software\0not an orientation"),
    ],
)
def test_png_text_after_the_data_gives_pillows_orientation(
    kind: bytes, payload: bytes, tmp_path: Path
) -> None:
    orientation = 6 if b"Orientation" in payload else 1
    path = tmp_path / "text.png"
    path.write_bytes(_png_with_late_chunk(orientation, kind, payload))
    assert open_upright(path).size == UPRIGHT_SIZE
    assert image_size(path) == UPRIGHT_SIZE
