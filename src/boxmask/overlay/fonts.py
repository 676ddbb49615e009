"""Fonts for label chips: find one that can draw each label, fall back without crashing.

Labels are free text from a model, so they can be Japanese, Cyrillic, accented, ... The
lookup for a label, first hit wins:

1. the ``font=`` the caller gave (a path, a file or family name, or a PIL font), when
   it has a glyph for every character of the label;
2. well-known Latin fonts, then broad-coverage fonts (Noto Sans CJK, Droid Sans
   Fallback, Arial Unicode, MS Gothic, ...), found by file name with Pillow's own
   lookup (``ImageFont.truetype`` searches the system and user font folders);
3. ``fc-list :charset=...`` (fontconfig), when installed, for the missing characters;
4. the best partial match; with no TTF at all, Pillow's built-in font.

Nothing here warns or prints. Characters no font covers are *recorded* in this process
(:func:`missing_glyphs`, :func:`take_missing_glyphs`); a command or a batch collects them
(from every worker process) and prints one line with :func:`missing_glyph_warning`.
Coverage is checked glyph by glyph against the font's "missing glyph" picture, so no
font-parsing dependency is needed.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

__all__ = [
    "FontLike",
    "LoadedFont",
    "drawable_text",
    "font_for_text",
    "load_font",
    "missing_chars",
    "missing_glyph_warning",
    "missing_glyphs",
    "system_fonts",
    "take_missing_glyphs",
]

LoadedFont = ImageFont.FreeTypeFont | ImageFont.ImageFont
#: What ``font=`` accepts: a font file path, a font file name ("NotoSansCJK-Regular.ttc")
#: or family name ("Noto Sans CJK JP", resolved by fontconfig), or a PIL font.
FontLike = str | os.PathLike[str] | ImageFont.FreeTypeFont | ImageFont.ImageFont

# Font file names, best first. Latin fonts first: they look best for the common case.
_LATIN = (
    "DejaVuSans.ttf",
    "NotoSans-Regular.ttf",
    "LiberationSans-Regular.ttf",
    "Arial.ttf",
    "arial.ttf",
    "Helvetica.ttc",
    "segoeui.ttf",
    "FreeSans.ttf",
)
# Broad coverage (CJK, Cyrillic, Greek, ...), tried when a label has characters the
# Latin font lacks.
_WIDE = (
    "NotoSansCJK-Regular.ttc",
    "NotoSansCJKjp-Regular.otf",
    "NotoSansCJKsc-Regular.otf",
    "SourceHanSans-Regular.ttc",
    "DroidSansFallbackFull.ttf",
    "DroidSansFallback.ttf",
    "wqy-microhei.ttc",
    "wqy-zenhei.ttc",
    "NanumGothic.ttf",
    "Arial Unicode.ttf",
    "Arial Unicode MS.ttf",
    "Hiragino Sans GB.ttc",
    "PingFang.ttc",
    "msgothic.ttc",
    "msyh.ttc",
    "malgun.ttf",
    "seguisym.ttf",
    "FreeSerif.ttf",
)

#: What to install when glyphs are missing (named in the warning).
INSTALL_HINT = (
    "install a wide font such as Noto (Debian: fonts-noto-core fonts-noto-cjk) "
    "or pass font='path/to/font.ttf'"
)

# Characters no font could draw, in this process (see take_missing_glyphs).
_MISSING: dict[str, None] = {}


@functools.lru_cache(maxsize=128)
def _resolve(name: str) -> str | None:
    """The file Pillow opens for font file name ``name`` (it searches the system and
    user font folders itself), or None."""
    try:
        font = ImageFont.truetype(name, 10)
    except OSError:
        return None
    path = getattr(font, "path", None)
    return os.fspath(path) if isinstance(path, (str, os.PathLike)) else None


def system_fonts(names: Iterable[str] = (*_LATIN, *_WIDE)) -> list[Path]:
    """Known good font files found on this machine, in the order they are tried."""
    return list(_found_fonts(names))


def _found_fonts(names: Iterable[str] = (*_LATIN, *_WIDE)) -> Iterator[Path]:
    """:func:`system_fonts` one by one, each name looked up only when the one before
    did not serve. Pillow walks every font folder for a name that is not installed, so
    looking up all 25 names first made the first ASCII label of a process cost 5-8 ms
    on a machine with 38 fonts and 75-107 ms with 3,000 more in the user's font folder;
    lazily (DejaVu, first in the list, draws it) 3-4 and 6-10 ms."""
    seen: set[str] = set()
    for name in names:
        path = _resolve(name)
        if path is not None and path not in seen:
            seen.add(path)
            yield Path(path)


def _fontconfig(args: list[str]) -> list[str]:
    exe = shutil.which(args[0])
    if exe is None:
        return []
    try:
        done = subprocess.run(
            [exe, *args[1:]], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in done.stdout.splitlines() if line.strip()]


@functools.lru_cache(maxsize=64)
def _fontconfig_family(name: str) -> str | None:
    """The file fontconfig matches for family ``name`` (``"Noto Sans CJK JP"``, also
    with a ``:style`` suffix), or None. fc-match answers every query with *some* font,
    so the match only counts when its family is the one asked for."""
    wanted = name.split(":")[0].replace(" ", "").lower()
    for line in _fontconfig(["fc-match", "-f", "%{family}|%{file}\\n", name]):
        families, _, path = line.partition("|")
        names = {f.replace(" ", "").lower() for f in families.split(",")}
        if wanted and wanted in names and Path(path).is_file():
            return path
    return None


@functools.lru_cache(maxsize=256)
def _fontconfig_covering(chars: str) -> tuple[Path, ...]:
    """Font files fontconfig says have every character of ``chars`` (sorted, sans first)."""
    charset = " ".join(f"{ord(c):x}" for c in chars)
    lines = _fontconfig(["fc-list", f":charset={charset}", "file"])
    paths = {Path(line.rstrip(":").strip()) for line in lines}
    usable = [p for p in paths if p.suffix.lower() in (".ttf", ".otf", ".ttc")]

    def rank(p: Path) -> tuple[int, int, str]:
        name = p.name.lower()
        return ("sans" not in name, "bold" in name or "italic" in name, str(p))

    return tuple(sorted(usable, key=rank))


@functools.lru_cache(maxsize=256)
def _load_path(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


@functools.lru_cache(maxsize=64)
def _pillow_default(size: int) -> LoadedFont:
    try:
        return ImageFont.load_default(size)
    except (OSError, ImportError, TypeError):  # Pillow without FreeType: fixed bitmap font
        return ImageFont.load_default_imagefont()


def _glyph(font: LoadedFont, char: str) -> tuple[tuple[float, ...], bytes]:
    box = tuple(font.getbbox(char))
    width = max(1, int(box[2] - box[0]))
    height = max(1, int(box[3] - box[1]))
    image = Image.new("L", (width, height))
    ImageDraw.Draw(image).text((-box[0], -box[1]), char, font=font, fill=255)
    return box, image.tobytes()


def _needs_glyph(char: str) -> bool:
    return unicodedata.category(char)[0] not in ("Z", "C")


@functools.lru_cache(maxsize=256)
def _notdef(font_key: str) -> tuple[tuple[float, ...], bytes]:
    """The font's "missing glyph" picture, drawn once per face (it was drawn again for
    every character checked: half of the first labelled overlay's 6 ms of checks)."""
    return _glyph(_KEYED[font_key], "\U0010ffff")


@functools.lru_cache(maxsize=4096)
def _covers_char(font_key: str, char: str) -> bool:
    font = _KEYED[font_key]
    if isinstance(font, ImageFont.FreeTypeFont):
        return _glyph(font, char) != _notdef(font_key)
    try:
        char.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


_KEYED: dict[str, LoadedFont] = {}


def _key(font: LoadedFont) -> str:
    """A cache key for a font face (size does not matter for coverage)."""
    path = getattr(font, "path", None)
    if isinstance(path, (str, os.PathLike)):
        key = f"{os.fspath(path)}#{getattr(font, 'index', 0)}"
    elif path is not None:  # loaded from memory: every size variant shares the buffer
        key = f"memory:{id(path)}#{getattr(font, 'index', 0)}"
    else:  # Pillow's bitmap font
        key = f"{type(font).__name__}:{id(font)}"
    if key not in _KEYED:
        if len(_KEYED) >= 256:  # bound the memory of fonts seen once
            _KEYED.clear()
            _covers_char.cache_clear()
            _notdef.cache_clear()
        _KEYED[key] = font  # holds the font (and its buffer), so the id stays unique
    return key


def missing_chars(font: LoadedFont, text: str) -> str:
    """The characters of ``text`` that ``font`` has no glyph for (in order, once each)."""
    key = _key(font)
    return "".join(c for c in dict.fromkeys(text) if _needs_glyph(c) and not _covers_char(key, c))


def load_font(font: FontLike, size: int) -> LoadedFont:
    """Open ``font`` at ``size`` pixels (em size).

    ``font`` may be a path to a .ttf/.otf/.ttc file, a font file name Pillow finds in
    the system font folders ("DejaVuSans.ttf"), a family name fontconfig knows ("Noto
    Sans CJK JP"), or a PIL font (FreeType fonts are resized to ``size``; Pillow's
    bitmap font is used as it is). Raises ``ValueError`` when nothing loadable matches.
    """
    if isinstance(font, ImageFont.FreeTypeFont):
        return font.font_variant(size=size)
    if isinstance(font, ImageFont.ImageFont):
        return font
    text = os.fspath(font)
    if Path(text).is_file():
        try:
            return _load_path(text, size)
        except OSError:
            raise ValueError(f"cannot load font {text!r}: not a font file") from None
    found = _resolve(Path(text).name) or _fontconfig_family(text)
    if found is not None:
        try:
            return _load_path(found, size)
        except OSError:
            raise ValueError(f"cannot load font {text!r}: {found} is not a font file") from None
    raise ValueError(
        f"cannot load font {text!r}: no such file, and no installed font has that name "
        "(pass a path to a .ttf/.otf/.ttc file)"
    )


def _candidates(size: int) -> Iterable[LoadedFont]:
    for path in _found_fonts():
        try:
            yield _load_path(str(path), size)
        except OSError:
            continue


def drawable_text(font: LoadedFont, text: str) -> str:
    """``text`` made safe for ``font``: Pillow's bitmap font only encodes Latin-1, so other
    characters become ``?`` there; FreeType fonts take any text (missing glyphs show as
    boxes)."""
    if isinstance(font, ImageFont.FreeTypeFont):
        return text
    return text.encode("latin-1", errors="replace").decode("latin-1")


def font_for_text(text: str, size: int, font: FontLike | None = None) -> LoadedFont:
    """The font to draw ``text`` with at ``size`` pixels, following the module's lookup.

    Never raises or warns for a missing glyph: when no installed font covers every
    character, the best partial match is used and the characters it lacks are
    recorded (:func:`missing_glyphs`). A ``font`` that cannot be loaded at all raises
    ``ValueError``.
    """
    chosen, missing = _font_for_text(text, size, font)
    for char in missing:
        _MISSING.setdefault(char, None)
    return chosen


def missing_glyphs() -> str:
    """Every character no font could draw in this process so far (in first-seen order)."""
    return "".join(_MISSING)


def take_missing_glyphs() -> str:
    """:func:`missing_glyphs`, then forget them: a worker calls this after each job and
    sends the characters to the parent, which merges them for one warning."""
    out = "".join(_MISSING)
    _MISSING.clear()
    return out


def missing_glyph_warning(chars: Iterable[str]) -> str | None:
    """The one warning line for characters no font could draw (merged from any number of
    answers or worker processes), or None when there are none. Print it to stderr once,
    at the end of a run."""
    merged = "".join(dict.fromkeys(c for part in chars for c in part))
    if not merged:
        return None
    shown = merged if len(merged) <= 40 else merged[:40] + "…"
    return (
        f"boxmask: warning: no installed font has glyphs for {shown!r} "
        f"({len(merged)} characters); labels show them as boxes: {INSTALL_HINT}"
    )


def _font_for_text(text: str, size: int, font: FontLike | None) -> tuple[LoadedFont, str]:
    """The covering font and ``""``, or the best partial font and the missing characters."""
    options: list[Iterable[LoadedFont]] = [_candidates(size)]
    if font is not None:
        options.insert(0, [load_font(font, size)])
    best: LoadedFont | None = None
    best_missing = ""
    for option in (f for group in options for f in group):
        missing = missing_chars(option, text)
        if not missing:
            return option, ""
        if best is None or len(missing) < len(best_missing):
            best, best_missing = option, missing
    if best is None:
        best = _pillow_default(size)
        best_missing = missing_chars(best, text)
        if not best_missing:
            return best, ""
    for path in _fontconfig_covering(best_missing):
        try:
            option = _load_path(str(path), size)
        except OSError:
            continue
        remaining = missing_chars(option, text)
        if not remaining:
            return option, ""
        if len(remaining) < len(best_missing):
            best, best_missing = option, remaining
    return best, best_missing
