"""Fonts for label chips: find one that can draw each label, fall back without crashing.

Labels are free text from a model, so they can be Japanese, Cyrillic, accented, ... The
lookup for a label, first hit wins:

1. the ``font=`` the caller gave (a path, a file or family name, or a PIL font), when
   it has a glyph for every character of the label;
2. well-known Latin fonts, then broad-coverage fonts (Noto Sans CJK, Droid Sans
   Fallback, Arial Unicode, MS Gothic, Hiragino, ...) found in the usual font folders
   of Linux, macOS and Windows;
3. ``fc-list :charset=...`` (fontconfig), when installed, for the missing characters;
4. the best partial match, with a :class:`UserWarning` naming the characters no
   installed font covers; with no TTF at all, Pillow's built-in font.

Coverage is checked glyph by glyph against the font's "missing glyph" picture, so no
font-parsing dependency is needed.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import unicodedata
import warnings
from collections.abc import Iterable
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

__all__ = [
    "FontLike",
    "LoadedFont",
    "drawable_text",
    "font_for_text",
    "load_font",
    "missing_chars",
    "system_fonts",
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
    "Ubuntu-R.ttf",
    "FreeSans.ttf",
)
# Broad coverage (CJK, Cyrillic, Greek, ...), tried when a label has characters the
# Latin font lacks.
_WIDE = (
    "NotoSansCJK-Regular.ttc",
    "NotoSansCJKjp-Regular.otf",
    "NotoSansCJKsc-Regular.otf",
    "NotoSansJP-Regular.otf",
    "NotoSansJP-Regular.ttf",
    "NotoSansCJK-Regular.otf",
    "SourceHanSans-Regular.ttc",
    "DroidSansFallbackFull.ttf",
    "DroidSansFallback.ttf",
    "ipag.ttf",
    "ipagp.ttf",
    "fonts-japanese-gothic.ttf",
    "TakaoPGothic.ttf",
    "wqy-microhei.ttc",
    "wqy-zenhei.ttc",
    "UnDotum.ttf",
    "NanumGothic.ttf",
    "Arial Unicode.ttf",
    "Arial Unicode MS.ttf",
    "ArialUnicodeMS.ttf",
    "Hiragino Sans GB.ttc",
    "ヒラギノ角ゴシック W3.ttc",
    "AppleSDGothicNeo.ttc",
    "PingFang.ttc",
    "YuGothM.ttc",
    "msgothic.ttc",
    "meiryo.ttc",
    "msyh.ttc",
    "malgun.ttf",
    "seguisym.ttf",
    "FreeSerif.ttf",
)
_MAX_FONT_FILES = 20_000  # stop walking enormous font trees


def _font_dirs() -> list[Path]:
    home = Path.home()
    dirs = [
        Path("/usr/share/fonts"),
        Path("/usr/local/share/fonts"),
        home / ".fonts",
        home / ".local/share/fonts",
        Path("/Library/Fonts"),
        Path("/System/Library/Fonts"),
        home / "Library/Fonts",
    ]
    windir = os.environ.get("WINDIR") or os.environ.get("SYSTEMROOT")
    if windir:
        dirs.append(Path(windir) / "Fonts")
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        dirs.append(Path(os.environ["LOCALAPPDATA"]) / "Microsoft/Windows/Fonts")
    return [d for d in dirs if d.is_dir()]


@functools.lru_cache(maxsize=1)
def _font_index() -> dict[str, Path]:
    """Lower-cased file name → path of every font file in the usual folders."""
    index: dict[str, Path] = {}
    seen = 0
    for root in _font_dirs():
        for folder, _dirs, files in os.walk(root):
            for name in sorted(files):
                if name.lower().endswith((".ttf", ".otf", ".ttc")):
                    index.setdefault(name.lower(), Path(folder) / name)
                    seen += 1
            if seen > _MAX_FONT_FILES:
                return index
    return index


def system_fonts() -> list[Path]:
    """Known good font files found on this machine, in the order they are tried."""
    index = _font_index()
    return [index[n.lower()] for n in (*_LATIN, *_WIDE) if n.lower() in index]


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


@functools.lru_cache(maxsize=4096)
def _covers_char(font_key: str, char: str) -> bool:
    font = _font_by_key(font_key)
    if isinstance(font, ImageFont.FreeTypeFont):
        return _glyph(font, char) != _glyph(font, "\U0010ffff")
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
        _KEYED[key] = font  # holds the font (and its buffer), so the id stays unique
    return key


def _font_by_key(key: str) -> LoadedFont:
    return _KEYED[key]


def missing_chars(font: LoadedFont, text: str) -> str:
    """The characters of ``text`` that ``font`` has no glyph for (in order, once each)."""
    key = _key(font)
    return "".join(c for c in dict.fromkeys(text) if _needs_glyph(c) and not _covers_char(key, c))


def load_font(font: FontLike, size: int) -> LoadedFont:
    """Open ``font`` at ``size`` pixels (em size).

    ``font`` may be a path to a .ttf/.otf/.ttc file, a font file name found in the
    usual font folders ("DejaVuSans.ttf"), a family name fontconfig knows ("Noto Sans
    CJK JP"), or a PIL font (FreeType fonts are resized to ``size``; Pillow's bitmap
    font is used as it is). Raises ``ValueError`` when nothing loadable matches.
    """
    if isinstance(font, ImageFont.FreeTypeFont):
        return font.font_variant(size=size)
    if isinstance(font, ImageFont.ImageFont):
        return font
    text = os.fspath(font)
    candidates: list[str] = []
    if Path(text).is_file():
        candidates.append(text)
    else:
        hit = _font_index().get(Path(text).name.lower())
        if hit is not None:
            candidates.append(str(hit))
        match = _fontconfig_family(text)
        if match is not None and match not in candidates:
            candidates.append(match)
    for candidate in candidates:
        try:
            return _load_path(candidate, size)
        except OSError:
            continue
    if candidates:
        raise ValueError(f"cannot load font {text!r}: {candidates[0]} is not a font file")
    raise ValueError(
        f"cannot load font {text!r}: no such file, and no installed font has that name "
        "(pass a path to a .ttf/.otf/.ttc file)"
    )


def _candidates(size: int) -> Iterable[LoadedFont]:
    for path in system_fonts():
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

    Never raises for a missing glyph: when no installed font covers every character,
    the best partial match is used and a :class:`UserWarning` names what is missing.
    A ``font`` that cannot be loaded at all raises ``ValueError``.
    """
    chosen = _font_for_text(text, size, font)
    if isinstance(chosen, tuple):
        best, missing = chosen
        warnings.warn(
            f"no installed font has glyphs for {missing!r} (label {text!r}); they "
            "will show as boxes. Install a wide font such as Noto Sans CJK "
            "(Debian: fonts-noto-cjk) or pass font='path/to/font.ttf'.",
            UserWarning,
            stacklevel=_caller_stacklevel(),
        )
        return best
    return chosen


def _caller_stacklevel() -> int:
    """Stack level of the first frame outside boxmask, so warnings name the caller."""
    package = str(Path(__file__).resolve().parents[1])
    frame = sys._getframe(1)
    level = 1
    while frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(package):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


def _font_for_text(
    text: str, size: int, font: FontLike | None
) -> LoadedFont | tuple[LoadedFont, str]:
    """The covering font, or ``(best partial font, missing characters)``."""
    options: list[Iterable[LoadedFont]] = [_candidates(size)]
    if font is not None:
        options.insert(0, [load_font(font, size)])
    best: LoadedFont | None = None
    best_missing = ""
    for option in (f for group in options for f in group):
        missing = missing_chars(option, text)
        if not missing:
            return option
        if best is None or len(missing) < len(best_missing):
            best, best_missing = option, missing
    if best is None:
        best = _pillow_default(size)
        best_missing = missing_chars(best, text)
        if not best_missing:
            return best
    for path in _fontconfig_covering(best_missing):
        try:
            option = _load_path(str(path), size)
        except OSError:
            continue
        remaining = missing_chars(option, text)
        if not remaining:
            return option
        if len(remaining) < len(best_missing):
            best, best_missing = option, remaining
    return best, best_missing
