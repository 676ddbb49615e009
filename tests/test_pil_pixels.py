"""Reading a PIL image's pixels through its Arrow export (boxmask.pil_pixels)."""

from __future__ import annotations

import gc
import io

import numpy as np
import pytest
from PIL import Image

from boxmask import pil_pixels
from boxmask.pil_pixels import rgb_pixels


def _random_rgb(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


@pytest.mark.parametrize("size", [(1, 1), (7, 3), (601, 399), (1024, 2048)])
def test_same_pixels_as_numpy_in_both_channel_orders(size: tuple[int, int]) -> None:
    im = _random_rgb(*size)
    expected = np.array(im)
    assert pil_pixels._exported(im) is not None  # the fast path, not the fallback
    rgb = rgb_pixels(im)
    assert rgb.dtype == np.uint8 and rgb.flags.c_contiguous and rgb.flags.writeable
    np.testing.assert_array_equal(rgb, expected)
    bgr = rgb_pixels(im, "BGR")
    assert bgr.flags.c_contiguous
    np.testing.assert_array_equal(bgr, expected[:, :, ::-1])


def test_a_decoded_jpeg_reads_as_numpy_reads_it() -> None:
    buf = io.BytesIO()
    _random_rgb(333, 257, seed=3).save(buf, "JPEG", quality=80)
    im = Image.open(io.BytesIO(buf.getvalue()))
    im.load()
    np.testing.assert_array_equal(rgb_pixels(im), np.array(im))


def test_the_array_owns_its_memory() -> None:
    im = _random_rgb(64, 48, seed=1)
    expected = np.array(im)
    rgb = rgb_pixels(im)
    im.paste((0, 0, 0), (0, 0, 64, 48))  # changing the image changes no pixel read before
    del im
    gc.collect()
    np.testing.assert_array_equal(rgb, expected)


def test_images_pillow_cannot_export_in_one_block_fall_back() -> None:
    im = Image.new("RGB", (2100, 2100), (10, 20, 30))  # 17.6 MB: more than one block
    assert pil_pixels._exported(im) is None
    rgb = rgb_pixels(im, "BGR")
    assert rgb.shape == (2100, 2100, 3) and rgb.flags.c_contiguous
    assert tuple(rgb[0, 0]) == (30, 20, 10) and tuple(rgb[-1, -1]) == (30, 20, 10)


def test_an_unexpected_export_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    im = _random_rgb(10, 10, seed=2)

    def refuse(self: Image.Image, requested_schema: object = None) -> object:
        raise ValueError("not exportable")

    monkeypatch.setattr(Image.Image, "__arrow_c_array__", refuse)
    np.testing.assert_array_equal(rgb_pixels(im), np.array(im))
