"""Category ids shared by every exporter: the one place labels become category ids.

Labels are model free text. boxmask keeps them as written, in any script (Japanese,
emoji, ...), with exactly one normalization: Unicode NFC and surrounding whitespace
removed (``"cup "`` and ``"cup"`` are the same category; NFC only unifies different
encodings of the same characters). When that changes a label, the item is kept under the
normalized name and the change is reported once per spelling (``label_normalized``).

Labels that differ only in case or Unicode compatibility form (``"Cup"`` / ``"cup"``,
full-width ``"ｃｕｐ"``) are **not** merged: they become separate categories and the pair
is reported (``label_collision``) so the caller can merge them deliberately, e.g. by
passing ``categories=[...]`` and relabelling.

Ids: a given list fixes them (``1..K`` in list order; items with other labels are skipped
and reported ``unknown_category``); otherwise ids are ``1..K`` in first-seen order,
stable across images. YOLO class ids are the same order, 0-based.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence

from boxmask.errors import ExportError
from boxmask.problems import ExportKind, Problem

__all__ = ["Categories", "normalize_label"]


def normalize_label(label: str) -> str:
    """The category name for a label: NFC, without surrounding whitespace."""
    return unicodedata.normalize("NFC", str(label)).strip()


def _fold(name: str) -> str:
    """Key under which names count as colliding (case and compatibility forms)."""
    return unicodedata.normalize("NFKC", name).casefold()


class Categories:
    """Label → category id map with first-seen or fixed ids (see the module docs)."""

    def __init__(
        self, names: Sequence[str] | None = None, *, problems: list[Problem] | None = None
    ) -> None:
        """``names`` fixes the categories (ids 1..K in order); ``problems`` is the list
        the label reports are appended to (a new one when not given)."""
        self.fixed = names is not None
        self._ids: dict[str, int] = {}
        self._folded: dict[str, str] = {}
        self._seen_spellings: set[str] = set()
        self._refused: set[tuple[str | None, int | None]] = set()
        self._index: dict[str, int] | None = None
        self.problems: list[Problem] = problems if problems is not None else []
        if names is not None:
            if isinstance(names, str):
                raise ExportError("categories must be a list of names, not one string")
            for raw in names:
                name = normalize_label(raw)
                if name in self._ids:
                    raise ExportError(f"category {name!r} is listed twice")
                self._register(name)

    @classmethod
    def from_ids(
        cls, pairs: Iterable[tuple[int, str]], *, problems: list[Problem] | None = None
    ) -> Categories:
        """Fixed categories with given ids (e.g. read from a COCO file; gaps allowed)."""
        out = cls(None, problems=problems)
        out.fixed = True
        for cat_id, raw in pairs:
            name = normalize_label(raw)
            if name in out._ids:
                raise ExportError(f"category {name!r} appears twice")
            if int(cat_id) in out._ids.values():
                raise ExportError(f"category id {int(cat_id)} appears twice")
            out._register(name, int(cat_id))
        return out

    def _register(self, name: str, cat_id: int | None = None) -> int:
        self._index = None
        self._ids[name] = cat_id if cat_id is not None else max(self._ids.values(), default=0) + 1
        key = _fold(name)
        other = self._folded.get(key)
        if other is None:
            self._folded[key] = name
        else:
            self.problems.append(
                Problem(
                    None,
                    ExportKind.LABEL_COLLISION,
                    f"categories {other!r} (id {self._ids[other]}) and {name!r} "
                    f"(id {self._ids[name]}) differ only in case or character width; "
                    "kept apart (pass categories=[...] and relabel to merge them)",
                    dropped=False,
                )
            )
        return self._ids[name]

    @property
    def names(self) -> list[str]:
        """Category names in id order (for first-seen or listed categories, id ``i + 1``
        is ``names[i]``)."""
        return sorted(self._ids, key=self._ids.__getitem__)

    def name_of(self, cat_id: int) -> str:
        """The name of category ``cat_id``; :class:`~boxmask.ExportError` if unknown."""
        for name, i in self._ids.items():
            if i == cat_id:
                return name
        raise ExportError(f"unknown category id {cat_id}")

    def index_of(self, label: str, **where: object) -> int | None:
        """0-based class index (YOLO): position in :attr:`names`, or None (reported)."""
        cat_id = self.id_of(label, **where)  # type: ignore[arg-type]
        if cat_id is None:
            return None
        if self._index is None:
            self._index = {name: i for i, name in enumerate(self.names)}
        return self._index[normalize_label(label)]

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, label: object) -> bool:
        return isinstance(label, str) and normalize_label(label) in self._ids

    def id_of(
        self, label: str, *, image: str | None = None, index: int | None = None
    ) -> int | None:
        """The 1-based id for ``label`` (registering it when ids are first-seen), or None
        when the categories are fixed and do not contain it (reported)."""
        found = self._ids.get(label) if type(label) is str else None
        if found is not None:  # a known name as written: already normalized (1 µs less)
            return found
        name = normalize_label(label)
        if name != label and label not in self._seen_spellings:
            self._seen_spellings.add(label)
            self.problems.append(
                Problem(
                    index,
                    ExportKind.LABEL_NORMALIZED,
                    f"label {label!r} written as {name!r}",
                    image=image,
                )
            )
        found = self._ids.get(name)
        if found is not None:
            return found
        if self.fixed:
            near = self._folded.get(_fold(name))
            hint = f" (did you mean {near!r}?)" if near is not None else ""
            if (image, index) not in self._refused:  # writers sharing these categories
                self._refused.add((image, index))
                self.problems.append(
                    Problem(
                        index,
                        ExportKind.UNKNOWN_CATEGORY,
                        f"label {name!r} is not among the given categories{hint}; item skipped",
                        dropped=True,
                        image=image,
                    )
                )
            return None
        return self._register(name)

    def extend(self, labels: Iterable[str]) -> None:
        """Register labels in order (first-seen ids) without exporting anything."""
        for label in labels:
            self.id_of(label)

    def coco(self, supercategory: str = "") -> list[dict[str, object]]:
        """COCO ``categories`` entries ``{"id", "name", "supercategory"}``."""
        return [
            {"id": self._ids[name], "name": name, "supercategory": supercategory}
            for name in self.names
        ]
