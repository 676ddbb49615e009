"""Code blocks of a Markdown file, and a runner that executes its Python blocks in order.

``extract(path)`` finds every fenced ```` ```python ```` and ```` ```sh ```` block (with
its line number and an optional ``<!-- no-test: reason -->`` marker on the line before).
Run as a script, ``python snippets.py BLOCKS.json`` executes the Python blocks one after
another in one namespace (a README reads top to bottom: later blocks use the names of
earlier ones), compiled so that a traceback names the Markdown file and its real line
numbers; it prints one JSON line per block and stops at the first failure.
"""

from __future__ import annotations

import json
import linecache
import os
import re
import sys
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

PYTHON = ("python", "py", "python3", "pycon")
SHELL = ("sh", "bash", "shell", "console")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([\w+-]*)")
_NO_TEST = re.compile(r"^\s*<!--\s*no-test:(.*?)-->\s*$")


@dataclass(frozen=True)
class Snippet:
    """One fenced block: ``line`` is the 1-based line of its opening fence."""

    file: str
    line: int
    language: str  # "python" or "sh"
    code: str
    skip: str | None  # the no-test reason, when marked

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def extract(path: Path, *, name: str | None = None) -> list[Snippet]:
    """Every Python and shell block of the Markdown file at ``path``, in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    snippets: list[Snippet] = []
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        fence, info = match.group(1), match.group(2).lower()
        end = i + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            end += 1
        language = "python" if info in PYTHON else "sh" if info in SHELL else None
        if language is not None:
            snippets.append(
                Snippet(
                    file=name or path.name,
                    line=i + 1,
                    language=language,
                    code="\n".join(lines[i + 1 : end]) + "\n",
                    skip=_marker(lines, i),
                )
            )
        i = end + 1
    return snippets


def _marker(lines: list[str], fence_index: int) -> str | None:
    """The reason of a ``<!-- no-test: reason -->`` line right before the fence."""
    j = fence_index - 1
    while j >= 0 and not lines[j].strip():
        j -= 1
    if j < 0:
        return None
    match = _NO_TEST.match(lines[j])
    return match.group(1).strip() or "(no reason given)" if match else None


def _use_fake_api(base_url: str) -> None:
    """Point ``boxmask.Client()`` / ``AsyncClient()`` at the fake server by default."""
    from boxmask.api.async_client import AsyncClient
    from boxmask.api.client import Client

    for cls in (Client, AsyncClient):
        defaults = cls.__init__.__kwdefaults__
        if defaults is not None and "base_url" in defaults:
            defaults["base_url"] = base_url


def run_python(snippets: list[Snippet]) -> None:
    """Execute the blocks in order in one namespace; one JSON result line per block."""
    base_url = os.environ.get("BOXMASK_BASE_URL")
    if base_url:
        _use_fake_api(base_url)
    namespace: dict[str, object] = {"__name__": "__main__"}
    for snippet in snippets:
        # Blank lines before the code keep the Markdown line numbers in tracebacks.
        source = "\n" * snippet.line + snippet.code
        lines = source.splitlines(keepends=True)
        linecache.cache[snippet.file] = (len(source), None, lines, snippet.file)
        try:
            exec(compile(source, snippet.file, "exec"), namespace)
        except BaseException:
            error = traceback.format_exc()
            print(json.dumps({"line": snippet.line, "ok": False, "error": error}), flush=True)
            return
        print(json.dumps({"line": snippet.line, "ok": True}), flush=True)


def dump(snippets: list[Snippet], path: Path) -> None:
    path.write_text(json.dumps([asdict(s) for s in snippets]), encoding="utf-8")


if __name__ == "__main__":
    blocks = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    run_python([Snippet(**b) for b in blocks])
