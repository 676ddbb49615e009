from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixture_paths import FIXTURES, ROOT

#: ../shared/data next to the repository (a worktree under wt/ looks one level higher).
REAL_ANSWERS = next(
    (
        base / "shared" / "data" / "gemini-answers"
        for base in (ROOT.parent, ROOT.parent.parent)
        if (base / "shared" / "data" / "gemini-answers").is_dir()
    ),
    ROOT.parent / "shared" / "data" / "gemini-answers",
)


@pytest.fixture
def real_answers() -> Path:
    """Google's published answers (outside the project); skip when absent."""
    if not REAL_ANSWERS.is_dir():
        pytest.skip("real Gemini answers not available at ../shared/data/gemini-answers")
    return REAL_ANSWERS


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


def pytest_configure(config: pytest.Config) -> None:
    """Watch the whole session for a leaked API key (tests/test_reliability_secrets.py)."""
    from tests import reliability_secrets

    config.pluginmanager.register(reliability_secrets, "reliability-secrets")


@pytest.fixture
def no_pillow_heif(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Act as if pillow-heif were not installed (boxmask.images registers it lazily)."""
    import builtins

    from boxmask import images

    real_import = builtins.__import__

    def no_heif(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "pillow_heif" or name.startswith("pillow_heif."):
            raise ImportError("No module named 'pillow_heif'")
        return real_import(name, *args, **kwargs)

    images._heif_available.cache_clear()
    monkeypatch.setattr(builtins, "__import__", no_heif)
    yield
    monkeypatch.undo()
    images._heif_available.cache_clear()


@pytest.fixture
def stub() -> Iterator[Any]:
    """A scripted HTTP server on 127.0.0.1 (``tests/http_stub.py``); set ``stub.handler``."""
    from tests.http_stub import serve

    yield from serve()
