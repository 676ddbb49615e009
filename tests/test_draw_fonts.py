"""Fonts: labels in any script draw without crashing; fallbacks are tested without
depending on which fonts this machine has."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import ImageFont

from boxmask import Detections
from boxmask.draw import draw, fonts
from boxmask.draw.chips import render_chip

JAPANESE = "ミッションパッチ"


def _clear_caches() -> None:
    for cached in (
        fonts._font_index,
        fonts._fontconfig_covering,
        fonts._fontconfig_family,
        fonts._pillow_default,
        fonts._covers_char,
    ):
        cached.cache_clear()


@pytest.fixture
def no_system_fonts(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A machine without any TTF and without fontconfig."""
    _clear_caches()
    monkeypatch.setattr(fonts, "system_fonts", lambda: [])
    monkeypatch.setattr(fonts, "_fontconfig", lambda args: [])
    yield
    _clear_caches()


def label_image(label: str) -> np.ndarray:
    d = Detections([[20, 40, 180, 90]], [label], width=200, height=100)
    return draw(np.zeros((100, 200, 3), np.uint8), d, text_size=16)


def test_fallback_to_pillows_font_when_nothing_is_installed(no_system_fonts: None) -> None:
    latin = fonts.font_for_text("cup", 20)
    assert latin is fonts._pillow_default(20)
    with pytest.warns(UserWarning, match="no installed font has glyphs") as caught:
        font = fonts.font_for_text(JAPANESE, 20)
    assert font is fonts._pillow_default(20)
    assert "fonts-noto-cjk" in str(caught[0].message)
    with pytest.warns(UserWarning):
        out = label_image(JAPANESE)
    assert (out[:40] != 0).any()  # a chip was still drawn


def test_warning_points_at_the_callers_line(no_system_fonts: None) -> None:
    with pytest.warns(UserWarning) as caught:
        label_image("ネコ")
    assert caught[0].filename == __file__


def test_pillow_without_freetype(no_system_fonts: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_freetype(size: float | None = None) -> ImageFont.ImageFont:
        raise OSError("no FreeType")

    monkeypatch.setattr(ImageFont, "load_default", no_freetype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        font = fonts.font_for_text(JAPANESE, 20)
    assert isinstance(font, ImageFont.ImageFont)
    assert fonts.drawable_text(font, "café ネコ") == "café ??"
    patch = render_chip(JAPANESE, (255, 0, 0), font, 20)
    assert patch.shape[0] > 0 and patch.shape[1] > 0


def test_missing_chars_against_pillows_font() -> None:
    default = ImageFont.load_default(16)
    assert fonts.missing_chars(default, "cup 93%") == ""
    assert fonts.missing_chars(default, "ネコ ネ") == "ネコ"


def test_unknown_font_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot load font 'no-such-font-xyz'"):
        fonts.load_font("no-such-font-xyz", 12)
    fake = tmp_path / "fake.ttf"
    fake.write_text("not a font")
    with pytest.raises(ValueError, match="not a font file"):
        fonts.load_font(fake, 12)
    d = Detections([[1, 1, 9, 9]], ["a"], width=20, height=20)
    with pytest.raises(ValueError, match="cannot load font"):
        draw(np.zeros((20, 20, 3), np.uint8), d, font="no-such-font-xyz")


def test_pil_font_objects_are_accepted() -> None:
    given = ImageFont.load_default(30)
    loaded = fonts.load_font(given, 12)
    assert isinstance(loaded, ImageFont.FreeTypeFont) and loaded.size == 12
    bitmap = ImageFont.load_default_imagefont()
    assert fonts.load_font(bitmap, 12) is bitmap
    d = Detections([[20, 40, 180, 90]], ["cup"], width=200, height=100)
    assert draw(np.zeros((100, 200, 3), np.uint8), d, font=given).shape == (100, 200, 3)


def _installed(name: str) -> Path | None:
    _clear_caches()
    return fonts._font_index().get(name.lower())


@pytest.mark.skipif(_installed("DejaVuSans.ttf") is None, reason="DejaVu Sans not installed")
def test_font_by_file_name_and_path() -> None:
    path = _installed("DejaVuSans.ttf")
    assert path is not None
    by_name = fonts.load_font("DejaVuSans.ttf", 14)
    assert isinstance(by_name, ImageFont.FreeTypeFont) and by_name.path == str(path)
    assert isinstance(fonts.load_font(path, 14), ImageFont.FreeTypeFont)
    assert fonts.missing_chars(by_name, "café Ωμέγα Кошка") == ""


def _wide_font() -> bool:
    _clear_caches()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return not fonts.missing_chars(fonts.font_for_text(JAPANESE, 16), JAPANESE)


@pytest.mark.skipif(not _wide_font(), reason="no installed font covers Japanese")
def test_installed_wide_font_is_found_for_japanese() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # found: no warning
        font = fonts.font_for_text(JAPANESE, 16)
        label_image(JAPANESE)
    assert fonts.missing_chars(font, JAPANESE) == ""
