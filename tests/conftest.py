from __future__ import annotations

from pathlib import Path

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
