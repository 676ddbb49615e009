"""Exports straight from crop-native masks: COCO (RLE or polygons) datasets and results,
YOLO detection/segmentation labels, label map PNGs, and supervision/FiftyOne interop.

Modules load on first use; ``import boxmask.export`` itself is cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "Categories",
    "CocoDataset",
    "CocoWriter",
    "MaskPolygons",
    "YoloDataset",
    "YoloWriter",
    "class_masks",
    "crop_to_polygons",
    "crop_to_rle",
    "crops_to_polygons",
    "crops_to_rle",
    "instance_label_map",
    "rle_to_crop",
    "save_class_mask_pngs",
    "save_label_map_png",
    "semantic_label_map",
    "to_fiftyone",
    "to_supervision",
]

_WHERE = {
    "Categories": "categories",
    "CocoWriter": "coco_writer",
    "CocoDataset": "coco",
    "MaskPolygons": "polygons",
    "crop_to_polygons": "polygons",
    "crops_to_polygons": "polygons",
    "crop_to_rle": "rle",
    "crops_to_rle": "rle",
    "rle_to_crop": "rle",
    "YoloDataset": "yolo",
    "YoloWriter": "yolo",
    "class_masks": "labelmap",
    "instance_label_map": "labelmap",
    "save_class_mask_pngs": "labelmap",
    "save_label_map_png": "labelmap",
    "semantic_label_map": "labelmap",
    "to_fiftyone": "interop",
    "to_supervision": "interop",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'boxmask.export' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"boxmask.export.{module}"), name)
    globals()[name] = value
    return value
