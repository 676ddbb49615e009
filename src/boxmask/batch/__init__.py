"""Batch conversion: many (image, answer) pairs → one COCO dataset, overlays and a report.

Jobs come from one pair, a JSONL manifest or a folder (:mod:`.jobs`); workers parse and
export each pair (:mod:`.worker`); the parent merges results in input order with fresh
ids (:mod:`.merge`), streaming to disk, so the output is byte-identical whatever the
worker count (:mod:`.run`).
"""

from boxmask.batch.jobs import Job, jobs_from_dir, jobs_from_manifest
from boxmask.batch.run import BatchOptions, BatchReport, run_batch

__all__ = [
    "BatchOptions",
    "BatchReport",
    "Job",
    "jobs_from_dir",
    "jobs_from_manifest",
    "run_batch",
]
