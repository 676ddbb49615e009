"""Image inputs: format sniffing, upright sizes, encoding, HEIC with and without pillow-heif."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from boxmask.api.images import ImageRef, prepare_image, sniff_mime
from boxmask.errors import ImageError


def encode(fmt: str, size: tuple[int, int] = (40, 30), mode: str = "RGB", **options: Any) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, "red" if mode != "1" else 1).save(buf, fmt, **options)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("fmt", "mime"),
    [
        ("PNG", "image/png"),
        ("JPEG", "image/jpeg"),
        ("WEBP", "image/webp"),
        ("GIF", "image/gif"),
        ("BMP", "image/bmp"),
        ("TIFF", "image/tiff"),
    ],
)
def test_sniff_common_formats(fmt: str, mime: str) -> None:
    assert sniff_mime(encode(fmt)) == mime


def test_sniff_heic_and_heif_brands() -> None:
    def ftyp(major: bytes, *compatible: bytes) -> bytes:
        body = major + b"\0\0\0\0" + b"".join(compatible)
        return (8 + len(body)).to_bytes(4, "big") + b"ftyp" + body

    assert sniff_mime(ftyp(b"heic", b"mif1", b"heic")) == "image/heic"
    assert sniff_mime(ftyp(b"mif1", b"mif1", b"heic")) == "image/heic"
    assert sniff_mime(ftyp(b"mif1", b"mif1")) == "image/heif"
    assert sniff_mime(ftyp(b"isom", b"mp41")) is None
    assert sniff_mime(b"hello") is None


def test_supported_formats_go_unchanged() -> None:
    for fmt in ("PNG", "JPEG", "WEBP"):
        data = encode(fmt)
        image = prepare_image(data)
        assert image.data is data or image.data == data
        assert (image.width, image.height, image.reencoded) == (40, 30, False)


def test_other_formats_are_reencoded_as_png() -> None:
    for fmt in ("GIF", "BMP", "TIFF"):
        image = prepare_image(encode(fmt))
        assert image.mime_type == "image/png" and image.reencoded and image.size == (40, 30)


@pytest.mark.parametrize("orientation", [2, 3, 4, 5, 6, 7, 8])
def test_exif_orientation_is_applied(orientation: int) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    image = prepare_image(encode("JPEG", (40, 30), exif=exif))
    expected = (30, 40) if orientation >= 5 else (40, 30)
    assert image.size == expected and image.reencoded and image.mime_type == "image/jpeg"
    with Image.open(io.BytesIO(image.data or b"")) as im:
        assert im.size == expected and im.getexif().get(0x0112, 1) == 1


def test_pil_and_numpy_inputs() -> None:
    rgba = prepare_image(Image.new("RGBA", (5, 4)))
    assert rgba.mime_type == "image/png" and rgba.size == (5, 4)
    assert prepare_image(Image.new("CMYK", (5, 4))).size == (5, 4)
    rgb = np.zeros((4, 6, 3), dtype=np.uint8)
    rgb[..., 0] = 255  # red in RGB order
    image = prepare_image(rgb)
    with Image.open(io.BytesIO(image.data or b"")) as im:
        assert im.size == (6, 4) and im.convert("RGB").getpixel((0, 0)) == (255, 0, 0)
    assert prepare_image(np.ones((3, 3), dtype=bool)).size == (3, 3)
    assert prepare_image(np.zeros((3, 3, 1), dtype=np.uint8)).size == (3, 3)
    with pytest.raises(ImageError, match="uint8"):
        prepare_image(np.zeros((3, 3), dtype=np.float32))
    with pytest.raises(ImageError, match="shape"):
        prepare_image(np.zeros((3, 3, 2), dtype=np.uint8))


def test_bad_inputs_raise_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="empty"):
        prepare_image(b"")
    with pytest.raises(ImageError, match="cannot read"):
        prepare_image(b"this is not an image at all")
    with pytest.raises(ImageError, match="unsupported image input"):
        prepare_image(3.14)
    with pytest.raises(FileNotFoundError):
        prepare_image(tmp_path / "missing.png")
    ref = prepare_image(ImageRef("https://example.org/a.png", "image/png", 10, 20))
    assert ref.uri == "https://example.org/a.png" and ref.size == (10, 20) and ref.data is None


def _heic_bytes() -> bytes:
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    buf = io.BytesIO()
    try:
        Image.new("RGB", (48, 32), "blue").save(buf, "HEIF")
    except Exception as exc:  # pragma: no cover - encoder missing in this build
        pytest.skip(f"pillow-heif cannot encode here: {exc}")
    return buf.getvalue()


def test_heic_with_pillow_heif() -> None:
    data = _heic_bytes()
    image = prepare_image(data)
    assert image.mime_type in ("image/heic", "image/heif")
    assert image.size == (48, 32) and not image.reencoded


def test_heic_without_pillow_heif_is_a_clear_error(no_pillow_heif: None) -> None:
    # A minimal HEIC header is enough: the size can't be read without the package.
    body = b"heic\0\0\0\0mif1heic"
    data = (8 + len(body)).to_bytes(4, "big") + b"ftyp" + body + b"\0" * 64
    with pytest.raises(ImageError, match=r"pip install 'boxmask\[heif\]'"):
        prepare_image(data)
    # Without a need for the size (ask), the HEIC goes as it is.
    image = prepare_image(data, need_size=False)
    assert image.mime_type == "image/heic" and image.size is None and image.data == data
