"""The README's serve-fake snippet for google-genai users runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
SECTION = "### Testing your own google-genai code offline"


def section_blocks() -> list[str]:
    text = README.read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.find("\n#", start + len(SECTION))
    return re.findall(r"```python\n(.*?)```", text[start : end if end > 0 else None], re.S)


def test_the_section_has_a_snippet() -> None:
    assert section_blocks()


@pytest.mark.parametrize("number", range(len(section_blocks())))
def test_snippet_runs(number: int, capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(section_blocks()[number], f"README.md snippet {number}", "exec"), {})
    assert "shape(s)" in capsys.readouterr().out
