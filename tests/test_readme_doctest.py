"""The docstring examples (``>>>``) of every boxmask module run and print what they show.

The API reference (``make docs``) renders these docstrings, so an example there is a
promise: each docstring holding examples is one test, run by :mod:`doctest` in a fresh
temporary folder with the fixture photos and answers copied in (``coffee.jpg``,
``coffee.seg-png.txt``, ...), and NumPy printing as in NumPy 1.x.
"""

from __future__ import annotations

import doctest
import importlib
import os
import pkgutil
import shutil
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import boxmask
from tests.fixture_paths import FIXTURE_ANSWERS, FIXTURE_IMAGES

#: Modules whose import needs something the test environment may lack; skipped if so.
OPTIONAL = ("boxmask.distributed",)
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def boxmask_modules() -> list[ModuleType]:
    modules = [boxmask]
    for info in pkgutil.walk_packages(boxmask.__path__, prefix="boxmask."):
        try:
            modules.append(importlib.import_module(info.name))
        except ImportError:
            if not info.name.startswith(OPTIONAL):
                raise
    return modules


def docstring_examples(modules: list[ModuleType]) -> list[doctest.DocTest]:
    finder = doctest.DocTestFinder(exclude_empty=True)
    found: dict[str, doctest.DocTest] = {}
    for module in modules:
        for test in finder.find(module):
            if test.examples:
                found.setdefault(test.name, test)  # re-exported objects are found twice
    return sorted(found.values(), key=lambda t: t.name)


EXAMPLES = docstring_examples(boxmask_modules())


def run_examples(test: doctest.DocTest, folder: Path) -> doctest.TestResults:
    for source in (FIXTURE_IMAGES, FIXTURE_ANSWERS):
        shutil.copytree(source, folder, dirs_exist_ok=True)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    old = Path.cwd()
    options = np.get_printoptions()
    try:
        os.chdir(folder)
        np.set_printoptions(legacy="1.25")
        test.globs = dict(test.globs)
        runner.run(test)
    finally:
        os.chdir(old)
        np.set_printoptions(**options)
    return runner.summarize(verbose=False)


@pytest.mark.parametrize("test", EXAMPLES, ids=[t.name for t in EXAMPLES])
def test_docstring_examples_run(test: doctest.DocTest, tmp_path: Path) -> None:
    results = run_examples(test, tmp_path)
    assert results.failed == 0, f"{test.name} ({test.filename}:{test.lineno}): see output"


def test_the_collector_finds_and_fails_a_wrong_example(tmp_path: Path) -> None:
    """Guard: the collector sees docstring examples and a wrong one fails."""
    module = ModuleType("example_module")
    module.__doc__ = ">>> open('coffee.seg-png.txt').read(4)\n'Here'\n"  # a fixture at hand

    exec('def broken():\n    """>>> 1 + 1\n    3\n    """\n', module.__dict__)
    found = docstring_examples([module])
    assert [t.name.rsplit(".", 1)[-1] for t in found] == ["example_module", "broken"]
    results = {t.name: run_examples(t, tmp_path / t.name) for t in found}
    assert results["example_module"].failed == 0
    assert results["example_module.broken"].failed == 1
