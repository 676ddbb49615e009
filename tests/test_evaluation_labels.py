"""Model labels to GT categories: exact, case-insensitive, synonym maps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from boxmask.evaluation import EvalInputError, LabelMatcher
from boxmask.evaluation.labels import IGNORED, UNKNOWN

CATEGORIES = {1: "cup", 2: "Wine Glass", 3: "plate", 4: "Plate"}


def test_exact_then_case_and_spacing_insensitive() -> None:
    m = LabelMatcher(CATEGORIES)
    assert m.match("cup") == 1
    assert m.match("CUP") == 1
    assert m.match("  wine   glass ") == 2
    assert m.match("plate") == 3 and m.match("Plate") == 4  # exact wins
    assert m.match("PLATE") == UNKNOWN  # ambiguous case-insensitively
    assert m.ambiguous == ["plate"]
    assert m.match("mug") == UNKNOWN


def test_map_in_both_directions_and_ignore(tmp_path: Path) -> None:
    path = tmp_path / "map.json"
    path.write_text(json.dumps({"Mug": "cup", "wine glass": ["goblet", "Flute"], "logo": None}))
    m = LabelMatcher(CATEGORIES, path)
    assert m.match("mug") == 1
    assert m.match("GOBLET") == 2 and m.match("flute") == 2
    assert m.match("logo") == IGNORED
    assert m.match("cup") == 1


@pytest.mark.parametrize(
    ("label_map", "message"),
    [
        ({"mug": "bowl"}, "'bowl' is not a GT category"),
        ({"bowl": ["mug"]}, "'bowl' is not a GT category"),
        ({"cup": [1]}, "must be strings"),
        ({"mug": 3}, "must map to a category name"),
    ],
)
def test_bad_maps(label_map: dict[str, object], message: str) -> None:
    with pytest.raises(EvalInputError, match=message):
        LabelMatcher(CATEGORIES, label_map)


def test_map_file_errors(tmp_path: Path) -> None:
    with pytest.raises(EvalInputError, match="not found"):
        LabelMatcher(CATEGORIES, tmp_path / "none.json")
    (tmp_path / "list.json").write_text("[1]")
    with pytest.raises(EvalInputError, match="must be a JSON object"):
        LabelMatcher(CATEGORIES, tmp_path / "list.json")
