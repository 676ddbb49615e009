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
from boxmask.overlay import chips, draw, fonts, render
from boxmask.overlay.chips import render_chip

JAPANESE = "ミッションパッチ"


def _clear_caches() -> None:
    for cached in (
        fonts._resolve,
        fonts._fontconfig_covering,
        fonts._fontconfig_family,
        fonts._pillow_default,
        fonts._covers_char,
        fonts._notdef,
    ):
        cached.cache_clear()
    fonts.take_missing_glyphs()
    chips._RENDERED.clear()


@pytest.fixture
def no_system_fonts(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A machine without any TTF and without fontconfig."""
    _clear_caches()
    monkeypatch.setattr(fonts, "_found_fonts", lambda names=(): iter(()))
    monkeypatch.setattr(fonts, "_fontconfig", lambda args: [])
    yield
    _clear_caches()


def test_font_names_are_looked_up_only_until_one_draws_the_label(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pillow walks every font folder for a name that is not installed: an ASCII label
    must not pay that for all 25 names when the first installed Latin font draws it."""
    if not fonts.system_fonts():
        pytest.skip("no TTF installed")
    _clear_caches()
    asked: list[tuple[str, str | None]] = []
    resolve = fonts._resolve.__wrapped__

    def recording(name: str) -> str | None:
        found = resolve(name)
        asked.append((name, found))
        return found

    monkeypatch.setattr(fonts, "_resolve", recording)
    chosen = fonts.font_for_text("cup 93%", 14)
    assert asked and asked[-1][1] is not None, asked
    assert all(found is None for _, found in asked[:-1]), asked
    assert getattr(chosen, "path", None) == asked[-1][1]
    monkeypatch.undo()
    _clear_caches()


def label_image(label: str) -> np.ndarray:
    d = Detections([[20, 40, 180, 90]], [label], width=200, height=100)
    return draw(np.zeros((100, 200, 3), np.uint8), d, text_size=16)


def test_fallback_to_pillows_font_when_nothing_is_installed(no_system_fonts: None) -> None:
    latin = fonts.font_for_text("cup", 20)
    assert latin is fonts._pillow_default(20)
    assert fonts.missing_glyphs() == ""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # recorded, never warned
        font = fonts.font_for_text(JAPANESE, 20)
        out = label_image(JAPANESE)
    assert font is fonts._pillow_default(20)
    assert (out[:40] != 0).any()  # a chip was still drawn
    assert fonts.missing_glyphs() == "ミッションパチ"
    assert fonts.take_missing_glyphs() == "ミッションパチ"
    assert fonts.missing_glyphs() == ""


def test_render_reports_the_missing_glyphs_of_its_labels(no_system_fonts: None) -> None:
    d = Detections([[20, 40, 180, 90], [0, 0, 50, 20]], ["ネコ", "cup"], width=200, height=100)
    overlay = render(np.zeros((100, 200, 3), np.uint8), d, text_size=16)
    assert overlay.missing_glyphs == "ネコ"
    assert render(np.zeros((100, 200, 3), np.uint8), d[1:], text_size=16).missing_glyphs == ""


def test_one_warning_line_for_many_answers_and_workers() -> None:
    assert fonts.missing_glyph_warning(["", ""]) is None
    line = fonts.missing_glyph_warning(["ネコ", "コ猫", "猫"])
    assert line is not None and "\n" not in line
    assert line.startswith("boxmask: warning: no installed font has glyphs for 'ネコ猫'")
    assert "fonts-noto-cjk" in line
    long = fonts.missing_glyph_warning([chr(0x4E00 + i) for i in range(500)])
    assert long is not None and len(long) < 400


def test_pillow_without_freetype(no_system_fonts: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_freetype(size: float | None = None) -> ImageFont.ImageFont:
        raise OSError("no FreeType")

    monkeypatch.setattr(ImageFont, "load_default", no_freetype)
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
    found = fonts._resolve(name)
    return Path(found) if found else None


@pytest.mark.skipif(_installed("DejaVuSans.ttf") is None, reason="DejaVu Sans not installed")
def test_font_by_file_name_and_path() -> None:
    path = _installed("DejaVuSans.ttf")
    assert path is not None
    by_name = fonts.load_font("DejaVuSans.ttf", 14)
    assert isinstance(by_name, ImageFont.FreeTypeFont)
    assert Path(str(by_name.path)).resolve() == path.resolve()
    assert isinstance(fonts.load_font(path, 14), ImageFont.FreeTypeFont)
    assert fonts.missing_chars(by_name, "café Ωμέγα Кошка") == ""


def _wide_font() -> bool:
    _clear_caches()
    return not fonts.missing_chars(fonts.font_for_text(JAPANESE, 16), JAPANESE)


@pytest.mark.skipif(not _wide_font(), reason="no installed font covers Japanese")
def test_installed_wide_font_is_found_for_japanese() -> None:
    _clear_caches()
    font = fonts.font_for_text(JAPANESE, 16)
    label_image(JAPANESE)
    assert fonts.missing_chars(font, JAPANESE) == ""
    assert fonts.missing_glyphs() == ""
