"""COCO shards on Ray: the workers write the shards, the driver numbers and writes the index.

Plan (``--shard-size N`` with ``--engine ray``)::

    convert tasks ─► result rows; each row's COCO segmentations (the bulk of a dataset)
                     travel in a column of their own, ``segmentations``
    materialize    ─► the rows stay in Ray's object store (spilled to disk when large)
    driver         ─► one pass over the rows *without* that column, in input order: the
                     local engine's ResultCollector numbers them (CocoNumbering: ids and
                     categories assigned in one place) and cuts shards by the local rule
                     (ShardedCoco); each shard's plan (its rows' image entries and
                     annotation, image and category ids) goes to the object store
    shard tasks    ─► one task per shard, in parallel: its rows + its plan + the final
                     categories → CocoWriter → the shard file, written atomically
    driver         ─► the index

The driver never holds a mask; the shard files are byte-identical to the local engine's
(same ids, same shard cuts, the final categories in every shard, so no category tail is
rewritten). ``import ray`` happens inside the functions.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from boxmask.batch.worker import JobResult
from boxmask.distributed.cluster import _ray
from boxmask.distributed.rows import result_row
from boxmask.export.categories import Categories
from boxmask.export.coco_shards import ShardedCoco
from boxmask.export.coco_writer import AddedImage, CocoWriter, coco_annotation
from boxmask.export.fragments import ImageFragment

__all__ = ["SEGMENTATIONS", "RayShards", "result_row_apart"]

#: The column that carries a row's COCO segmentations apart from its fragment.
SEGMENTATIONS = "segmentations"

# One planned row: (row number, image entry or None, [(annotation position in the
# fragment, annotation id, image id, category id)]).
PlannedRow = tuple[int, dict[str, Any] | None, list[tuple[int, int, int, int]]]


def result_row_apart(result: JobResult) -> dict[str, Any]:
    """:func:`~boxmask.distributed.rows.result_row` with the fragment's segmentations
    moved into the ``segmentations`` column (JSON list, one per annotation)."""
    segmentations = None
    if result.fragment is not None:
        annotations = result.fragment.annotations
        segmentations = [a.segmentation for a in annotations]
        light = [replace(a, segmentation=None) for a in annotations]
        result = replace(result, fragment=replace(result.fragment, annotations=light))
    row = result_row(result)
    row[SEGMENTATIONS] = json.dumps(segmentations, separators=(",", ":"))
    return row


class RayShards(ShardedCoco):
    """The driver's side: numbers rows and plans shards; :meth:`finish` has one Ray task
    per shard write it (module docs). Call :meth:`take` with the converted dataset
    before the pass, and set :attr:`row` to each row's number before it is added."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: The number (0-based, input order) of the row being added.
        self.row = 0
        self._dataset: Any = None
        self._plan: list[PlannedRow] = []
        self._first_row = 0
        self._starts: list[int] = []  # each shard's first row
        self._plans: list[Any] = []  # each shard's plan, in the object store

    def take(self, dataset: Any) -> Any:
        """Keep the converted rows (materialized) for the shard tasks; returns them
        without the segmentations, for the driver's pass."""
        self._dataset = dataset.materialize()
        return self._dataset.drop_columns([SEGMENTATIONS])

    def _start(self, path: Path) -> None:
        self._plan, self._first_row = [], self.row

    def _put(self, added: AddedImage, image_entry: dict[str, Any] | None) -> None:
        numbered = [
            (position, a["id"], a["image_id"], a["category_id"])
            for position, a in zip(added.positions, added.annotations, strict=True)
        ]
        self._plan.append((self.row, image_entry, numbered))

    def _end(self, path: Path) -> None:
        self._starts.append(self._first_row)
        self._plans.append(_ray().put(self._plan))
        self._plan = []

    def _complete(self) -> None:
        if not self.shards:
            return
        ray = _ray()
        # shard k reads the rows from its first row to the next shard's (rows between
        # that failed or were refused are not in its plan)
        pieces = self._dataset.split_at_indices(self._starts[1:])
        write = ray.remote(num_cpus=1)(_write_shard)
        categories = self.categories.coco()
        tasks = [
            write.remote(
                piece.to_arrow_refs(),
                0 if number == 0 else self._starts[number],
                plan,
                str(self.path.with_name(shard.file)),
                categories,
                self.info,
                self.licenses,
            )
            for number, (piece, plan, shard) in enumerate(
                zip(pieces, self._plans, self.shards, strict=True)
            )
        ]
        ray.get(tasks)


def _write_shard(
    blocks: list[Any],
    first_row: int,
    plan: list[PlannedRow],
    path: str,
    categories: list[dict[str, Any]],
    info: dict[str, Any],
    licenses: list[dict[str, Any]],
) -> str:
    """Ray task: write one shard from its rows and the driver's plan (no id assigned here)."""
    rows = [
        row
        for table in _ray().get(blocks)
        for row in table.select(["fragment", SEGMENTATIONS]).to_pylist()
    ]
    fixed = Categories.from_ids((int(c["id"]), str(c["name"])) for c in categories)
    with CocoWriter(path, categories=fixed, info=info, licenses=licenses) as writer:
        for number, entry, numbered in plan:
            row = rows[number - first_row]
            fragment = ImageFragment.from_dict(json.loads(row["fragment"]))
            segmentations = json.loads(row[SEGMENTATIONS])
            annotations = [
                coco_annotation(
                    replace(fragment.annotations[position], segmentation=segmentations[position]),
                    annotation_id,
                    image_id,
                    category_id,
                )
                for position, annotation_id, image_id, category_id in numbered
            ]
            image_id = entry["id"] if entry is not None else (numbered[0][2] if numbered else 0)
            writer.write(AddedImage(image_id, entry is None, entry, annotations), entry)
        writer.finish()
    return path
