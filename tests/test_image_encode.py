"""boxmask.image_encode: the one encoder and atomic image files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from boxmask.errors import ExportError
from boxmask.image_encode import encode_image, write_image
from boxmask.images import read_image
from tests.fixture_paths import FIXTURE_IMAGES

IMAGES = FIXTURE_IMAGES


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_write_image_is_atomic_and_deterministic(tmp_path: Path) -> None:
    image = read_image(IMAGES / "chelsea.jpg")
    out = tmp_path / "o.png"
    assert write_image(out, image) == out
    first = out.read_bytes()
    write_image(out, image)  # replaces the existing file
    assert out.read_bytes() == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.png"]  # no temp file left
    np.testing.assert_array_equal(read_image(out), image)
    assert (out.stat().st_mode & 0o777) == 0o666 & ~_umask()
    for suffix in (".jpg", ".jpeg", ".webp", ".bmp"):
        assert read_image(write_image(tmp_path / f"o{suffix}", image)).shape == image.shape
    bgr = tmp_path / "bgr.png"
    write_image(bgr, image[:, :, ::-1], channels="BGR")
    np.testing.assert_array_equal(read_image(bgr), image)


def test_write_image_errors(tmp_path: Path) -> None:
    image = np.zeros((2, 2, 3), np.uint8)
    with pytest.raises(ExportError, match="unknown image suffix"):
        write_image(tmp_path / "o.gif", image)
    with pytest.raises(ValueError, match="quality"):
        write_image(tmp_path / "o.jpg", image, quality=0)
    (tmp_path / "taken").write_bytes(b"")
    with pytest.raises(ExportError, match="taken"):
        write_image(tmp_path / "taken" / "o.png", image)  # a file where the folder goes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]  # nothing left behind


def test_write_image_creates_the_folder_like_every_boxmask_writer(tmp_path: Path) -> None:
    out = write_image(tmp_path / "new" / "deeper" / "o.png", np.zeros((2, 3, 3), np.uint8))
    assert read_image(out).shape == (2, 3, 3)


def test_one_encoder_for_files_and_overlays() -> None:
    from boxmask.overlay import encode_overlay

    image = read_image(IMAGES / "chelsea.jpg")
    assert encode_overlay(image, ".png", png_level=6) == encode_image(image, ".png")
    assert encode_overlay(image, "JPEG", quality=92) == encode_image(image, ".jpg")
    assert encode_image(image, ".jpg", quality=50) != encode_image(image, ".jpg")
    with pytest.raises(ExportError, match="an overlay"):
        encode_overlay(image, ".gif")
