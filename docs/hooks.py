"""mkdocs hook: pages include README sections, files and the CLI's help, so each text has one copy.

Directives, each alone on a line of a page under ``docs/``:

- ``<!-- readme: Heading -->``: the body of the README's ``## Heading`` section;
- ``<!-- readme-intro -->``: the README text before its first ``##`` section;
- ``<!-- include: PATH -->``: a file of the repository (``PATH`` from the root);
- ``<!-- cli-help -->``: ``boxmask --help`` and every command's ``--help``.

Links of included text that point into ``docs/`` are rewritten relative to the page. A
missing section or file fails the build with its name (the README is edited by many).
"""

from __future__ import annotations

import contextlib
import io
import os
import posixpath
import re
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
_DIRECTIVE = re.compile(
    r"^<!--\s*(readme-intro|readme|include|cli-help)\s*:?\s*(.*?)\s*-->\s*$", re.M
)
_DOCS_LINK = re.compile(r"\]\(docs/([^)\s]+)\)")


class IncludeError(PluginError):
    """A directive names a README section or a file that does not exist."""


def readme_sections(text: str) -> tuple[str, dict[str, str]]:
    """The README's intro (before the first ``##``) and its ``##`` sections by heading."""
    parts = re.split(r"^## (.+)$", text, flags=re.M)
    intro = re.sub(r"\A# .*\n", "", parts[0]).strip("\n")
    sections = {parts[i].strip(): parts[i + 1].strip("\n") for i in range(1, len(parts), 2)}
    return intro, sections


def cli_help() -> str:
    """``--help`` of ``boxmask`` and of each command, as Markdown."""
    from boxmask.cli.main import build_parser

    os.environ["COLUMNS"] = "96"
    parser = build_parser()
    (action,) = [a for a in parser._actions if a.dest == "command"]
    blocks = [("boxmask", parser.format_help())]
    for name, sub in action.choices.items():  # type: ignore[union-attr]
        blocks.append((f"boxmask {name}", sub.format_help()))
    return "\n\n".join(f"### `{title}`\n\n```text\n{body.rstrip()}\n```" for title, body in blocks)


def _relink(text: str, page_path: str) -> str:
    depth = posixpath.dirname(page_path)
    prefix = posixpath.relpath(".", depth) + "/" if depth else ""
    return _DOCS_LINK.sub(lambda m: f"]({prefix}{m.group(1)})", text)


def expand(markdown: str, page_path: str) -> str:
    """Replace every directive of a page's Markdown (``page_path`` relative to docs/)."""
    intro, sections = readme_sections(README.read_text(encoding="utf-8"))

    def replace(match: re.Match[str]) -> str:
        kind, arg = match.group(1), match.group(2)
        if kind == "readme":
            if arg not in sections:
                raise IncludeError(f"{page_path}: README.md has no section '## {arg}'")
            return _relink(sections[arg], page_path)
        if kind == "readme-intro":
            return _relink(intro, page_path)
        if kind == "include":
            path = ROOT / arg
            if not path.is_file():
                raise IncludeError(f"{page_path}: no file {arg} to include")
            return path.read_text(encoding="utf-8")
        with contextlib.redirect_stdout(io.StringIO()):
            return cli_help()

    return _DIRECTIVE.sub(replace, markdown)


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    return expand(markdown, page.file.src_uri)
