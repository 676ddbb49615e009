"""Model labels (free text) to GT category ids: exact, case-insensitive, or a synonym map.

A label map is a JSON object read case-insensitively, in either direction:

- ``{"mug": "cup"}``: the model label ``mug`` counts as the GT category ``cup``;
- ``{"cup": ["mug", "tumbler"]}``: a GT category and the model labels that mean it;
- ``{"background": null}``: the model label is ignored on purpose (reported as ignored).

Every target must be a GT category name. A label that matches nothing is *unknown*: its
items are left out of the metrics and listed, with counts, in the report.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from boxmask.evaluation.groundtruth import EvalInputError

__all__ = ["IGNORED", "UNKNOWN", "LabelMatcher", "read_label_map"]

#: Category id given to labels that match no GT category.
UNKNOWN = 0
#: Category id given to labels the map ignores on purpose.
IGNORED = -1

LabelMapSource = Mapping[str, Any] | str | os.PathLike[str] | None


def _fold(label: str) -> str:
    """Case- and spacing-insensitive key: ``"  Red  Cup"`` → ``"red cup"``."""
    return " ".join(label.split()).casefold()


def read_label_map(source: LabelMapSource) -> dict[str, Any]:
    """The map as a dict: a mapping passes through, a path is read as JSON."""
    if source is None:
        return {}
    if isinstance(source, Mapping):
        return dict(source)
    name = str(source)
    try:
        data = json.loads(Path(source).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvalInputError(f"label map {name} not found") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise EvalInputError(f"label map {name} is not a JSON object: {exc}") from None
    if not isinstance(data, dict):
        raise EvalInputError(f"label map {name} must be a JSON object like {{'mug': 'cup'}}")
    return data


class LabelMatcher:
    """Resolves labels to category ids (:data:`UNKNOWN`, :data:`IGNORED` otherwise).

    ``categories`` maps GT category id to name. Resolution order: the label exactly as a
    category name, the map (case-insensitive), then the name case-insensitively. Results
    are cached per label text.
    """

    def __init__(self, categories: Mapping[int, str], label_map: LabelMapSource = None) -> None:
        self._exact: dict[str, int] = {}
        folded: dict[str, list[int]] = {}
        for cat_id, name in categories.items():
            self._exact.setdefault(name, cat_id)
            folded.setdefault(_fold(name), []).append(cat_id)
        self._folded = {k: ids[0] for k, ids in folded.items() if len(ids) == 1}
        #: Category names differing only in case/spacing: matched exactly only.
        self.ambiguous = sorted(k for k, ids in folded.items() if len(ids) > 1)
        self._map = self._read_map(read_label_map(label_map), categories)
        self._cache: dict[str, int] = {}

    def _target(self, name: Any, categories: Mapping[int, str]) -> int:
        if not isinstance(name, str):
            raise EvalInputError(f"label map targets must be category names, got {name!r}")
        cat_id = self._exact.get(name, self._folded.get(_fold(name)))
        if cat_id is None:
            known = ", ".join(sorted(categories.values())[:20])
            raise EvalInputError(f"label map: {name!r} is not a GT category (known: {known})")
        return cat_id

    def _read_map(self, raw: dict[str, Any], categories: Mapping[int, str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for key, value in raw.items():
            if value is None:
                out[_fold(key)] = IGNORED
            elif isinstance(value, str):
                out[_fold(key)] = self._target(value, categories)
            elif isinstance(value, list):
                cat_id = self._target(key, categories)
                for synonym in value:
                    if not isinstance(synonym, str):
                        raise EvalInputError(
                            f"label map: synonyms of {key!r} must be strings, got {synonym!r}"
                        )
                    out[_fold(synonym)] = cat_id
            else:
                raise EvalInputError(
                    f"label map: {key!r} must map to a category name, a list of synonyms "
                    f"or null, not {type(value).__name__}"
                )
        return out

    def match(self, label: str) -> int:
        """The category id for ``label``, or :data:`UNKNOWN` / :data:`IGNORED`."""
        cached = self._cache.get(label)
        if cached is not None:
            return cached
        cat_id = self._exact.get(label)
        if cat_id is None:
            key = _fold(label)
            cat_id = self._map.get(key, self._folded.get(key, UNKNOWN))
        self._cache[label] = cat_id
        return cat_id
