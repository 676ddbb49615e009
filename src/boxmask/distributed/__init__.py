"""Scale-out on Ray Data: convert (and request) millions of answers on a cluster.

- :func:`convert_dataset` / :func:`run_ray_batch`: rows ``{image, width, height, answer or
  response}`` (a Ray Dataset, JSONL or Parquet manifests, or local jobs) → the COCO file,
  YOLO labels, overlays and report the local engine (:mod:`boxmask.batch`) writes for the
  same input, byte for byte.
- :func:`request_answers`: the model calls for a dataset of images, on an actor pool with
  global concurrency and rate limits; its rows feed :func:`convert_dataset`.
- :func:`connect`: join a Ray cluster, or start a local Ray when none runs.

Needs ``pip install 'boxmask[ray]'``; ``import boxmask.distributed`` itself does not import
Ray (the functions do, and raise :class:`RayNotInstalledError` when it is missing).
"""

from __future__ import annotations

from boxmask.distributed.cluster import (
    ClusterError,
    RayNotInstalledError,
    connect,
    disconnect,
)
from boxmask.distributed.ray import convert_dataset, run_ray_batch
from boxmask.distributed.request import ANSWER_COLUMNS, request_answers

__all__ = [
    "ANSWER_COLUMNS",
    "ClusterError",
    "RayNotInstalledError",
    "connect",
    "convert_dataset",
    "disconnect",
    "request_answers",
    "run_ray_batch",
]
