"""Every ```python and ```sh block of README.md runs as written.

The blocks run in a temporary folder laid out as the README talks to its reader (see
``WORKSPACE``): photos and answers from the bundled fixtures under the names the README
uses. Python blocks run in order in one subprocess and one namespace, as a reader would
paste them; shell blocks each in ``bash -e`` with ``boxmask`` on the PATH. The real Gemini
API is replaced by the fake server (``boxmask.testing.server.FakeGemini``):
``BOXMASK_BASE_URL`` for the command line, and ``Client()``'s default ``base_url`` in the
Python runner. A block that cannot run here is marked on the line before its fence with
``<!-- no-test: reason -->``; it is reported as skipped with that reason, and counted.
A failure names the block's line in README.md.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixture_paths import FIXTURE_ANSWERS, FIXTURE_IMAGES, ROOT
from tests.snippets import Snippet, dump, extract

README = ROOT / "README.md"
SNIPPETS = extract(README)
PYTHON_BLOCKS = [s for s in SNIPPETS if s.language == "python"]
SHELL_BLOCKS = [s for s in SNIPPETS if s.language == "sh"]
RUNNER = Path(__file__).resolve().parent / "snippets.py"

#: What the README's reader has at hand: name in the README -> fixture it is made of.
WORKSPACE: dict[str, Path | tuple[Path, ...]] = {
    "kitchen.jpg": FIXTURE_IMAGES / "coffee.jpg",
    "photo.jpg": FIXTURE_IMAGES / "chelsea.jpg",
    "a.jpg": FIXTURE_IMAGES / "astronaut.jpg",
    "b.jpg": FIXTURE_IMAGES / "rocket.jpg",
    "answer.txt": FIXTURE_ANSWERS / "coffee.seg-png.txt",
    # `convert answers/`: a folder of answers with their photos (the layout jobs_from_dir
    # pairs today; with the photos in a sibling images/ folder it finds none, issue 12)
    "answers": (FIXTURE_ANSWERS, FIXTURE_IMAGES),
    "images": (FIXTURE_IMAGES,),
    "photos": (FIXTURE_IMAGES,),  # `boxmask segment photos/ ...`: a folder of pictures
}
#: Manifests the README names: clean answers only, so ``--strict`` has nothing to report.
MANIFEST_PAIRS = [
    ("images/coffee.jpg", "answers/coffee.seg-png.txt"),
    ("images/chelsea.jpg", "answers/chelsea.seg-polygon.json"),
    ("images/astronaut.jpg", "answers/astronaut.boxes.txt"),
]


def make_workspace(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in WORKSPACE.items():
        if isinstance(source, tuple):
            for directory in source:
                shutil.copytree(directory, folder / name, dirs_exist_ok=True)
        else:
            shutil.copyfile(source, folder / name)
    lines = [json.dumps({"image": image, "answer": answer}) for image, answer in MANIFEST_PAIRS]
    for manifest in ("pairs.jsonl", "answers.jsonl"):
        (folder / manifest).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def fake_api() -> Iterator[str]:
    from boxmask.testing.server import FakeGemini

    with FakeGemini(api_keys=None, port=0) as server:
        yield server.base_url


def snippet_env(base_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEMINI_", "GOOGLE_API"))}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["BOXMASK_BASE_URL"] = base_url
    env["GEMINI_API_KEY"] = "readme-test-key"
    env["MPLBACKEND"] = "Agg"
    return env


@pytest.fixture(scope="module")
def python_results(
    fake_api: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[int, dict[str, object]]:
    """Run every unmarked Python block in order; results by opening-fence line."""
    folder = make_workspace(tmp_path_factory.mktemp("readme-python") / "work")
    blocks = folder.parent / "blocks.json"
    dump([s for s in PYTHON_BLOCKS if s.skip is None], blocks)
    done = subprocess.run(
        [sys.executable, str(RUNNER), str(blocks)],
        cwd=folder,
        env=snippet_env(fake_api),
        capture_output=True,
        text=True,
        timeout=600,
    )
    results: dict[int, dict[str, object]] = {}
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            result = json.loads(line)
            results[int(result["line"])] = result
    results[-1] = {"stderr": done.stderr[-4000:], "returncode": done.returncode}
    return results


def _id(snippet: Snippet) -> str:
    return f"{snippet.where}-{snippet.language}"


def _skip_if_marked(snippet: Snippet) -> None:
    if snippet.skip is not None:
        pytest.skip(f"{snippet.where} marked no-test: {snippet.skip}")


@pytest.mark.slow
@pytest.mark.parametrize("snippet", PYTHON_BLOCKS, ids=_id)
def test_readme_python_block(
    snippet: Snippet, python_results: dict[int, dict[str, object]]
) -> None:
    _skip_if_marked(snippet)
    result = python_results.get(snippet.line)
    if result is None:
        failed = [r for line, r in python_results.items() if line > 0 and not r["ok"]]
        why = (
            f"an earlier block failed ({README.name} line {failed[0]['line']})"
            if failed
            else f"the runner stopped: {python_results[-1]}"
        )
        pytest.fail(f"{snippet.where}: python block did not run: {why}")
    assert result["ok"], f"{snippet.where}: python block failed:\n{result['error']}"


@pytest.fixture(scope="module")
def shell_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_workspace(tmp_path_factory.mktemp("readme-sh") / "work")


@pytest.mark.slow
@pytest.mark.parametrize("snippet", SHELL_BLOCKS, ids=_id)
def test_readme_shell_block(snippet: Snippet, shell_workspace: Path, fake_api: str) -> None:
    _skip_if_marked(snippet)
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", snippet.code],
        cwd=shell_workspace,
        env=snippet_env(fake_api),
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, (
        f"{snippet.where}: sh block exited {done.returncode}\n--- block\n{snippet.code}"
        f"--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
    )
    assert "Traceback" not in done.stderr, f"{snippet.where}: traceback\n{done.stderr}"


def test_readme_snippets_are_found_and_marks_counted() -> None:
    """The extractor sees the README's blocks; marked ones are few and give a reason."""
    assert len(PYTHON_BLOCKS) >= 3 and len(SHELL_BLOCKS) >= 3, SNIPPETS
    marked = [s for s in SNIPPETS if s.skip is not None]
    assert all(s.skip and s.skip != "(no reason given)" for s in marked), marked
    assert len(marked) <= len(SNIPPETS) // 2, [s.where for s in marked]


def test_extract_reads_fences_markers_and_lines(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(
        "# t\n\n```python\nx = 1\n```\n\n<!-- no-test: needs a real API key -->\n"
        "```sh\nboxmask ask a.jpg hi\n```\n\n```json\n{}\n```\n````bash\necho ```\n````\n",
        encoding="utf-8",
    )
    found = extract(doc)
    assert [(s.line, s.language, s.skip) for s in found] == [
        (3, "python", None),
        (8, "sh", "needs a real API key"),
        (15, "sh", None),
    ]
    assert found[0].code == "x = 1\n" and found[2].code == "echo ```\n"


def test_runner_names_the_markdown_line_of_a_failure(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("```python\nx = 1\n```\n\ntext\n\n```python\ny = x + 1\nz = y / 0\n```\n")
    blocks = tmp_path / "blocks.json"
    dump(extract(doc), blocks)
    done = subprocess.run(
        [sys.executable, str(RUNNER), str(blocks)], capture_output=True, text=True, cwd=tmp_path
    )
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["ok"] for r in results] == [True, False]
    assert results[1]["line"] == 7
    assert 'File "doc.md", line 9' in results[1]["error"] and "z = y / 0" in results[1]["error"]
    assert "ZeroDivisionError" in results[1]["error"]


def test_docs_pages_include_existing_readme_sections() -> None:
    """The guides include README sections by heading (docs/hooks.py): all of them exist."""
    import importlib.util

    pytest.importorskip("mkdocs")
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    assert spec is not None and spec.loader is not None
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    pages = sorted((ROOT / "docs").rglob("*.md"))
    expanded = {
        p: hooks.expand(p.read_text(encoding="utf-8"), p.relative_to(ROOT / "docs").as_posix())
        for p in pages
    }
    guide = expanded[ROOT / "docs" / "guide" / "exports.md"]
    assert "CocoDataset" in guide and "<!-- readme" not in guide
    assert "](overlay.png)" in expanded[ROOT / "docs" / "index.md"]  # docs/ links rebased
    assert "](../design.md)" in expanded[ROOT / "docs" / "guide" / "parse.md"]
    with pytest.raises(hooks.IncludeError, match="no section '## Nope'"):
        hooks.expand("<!-- readme: Nope -->\n", "guide/x.md")
