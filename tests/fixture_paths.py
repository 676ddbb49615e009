"""Where the tests find the fixture photos and answers.

They ship inside the package (``src/boxmask/fixtures``, package data) so that
``boxmask demo`` works from an installed wheel; the tests read that same copy.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "src" / "boxmask" / "fixtures"
FIXTURE_IMAGES = FIXTURES / "images"
FIXTURE_ANSWERS = FIXTURES / "answers"
ANSWER_FORMATS = ROOT / "tests" / "data" / "answer_formats"  # test-only: one answer per format
