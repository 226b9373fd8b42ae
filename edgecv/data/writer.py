"""Write a generated set (`fashion_composite`) out as a user's data would look on disk.

One folder, read by two readers:

    images/000000.png ...   the pictures (PNG: lossless, the pixels the generator drew)
    masks/000000.png ...    index masks, 0 = background, 1 + class (format `masks`)
    classes.txt             background + the class names (the `masks` reader finds it)
    instances.json          COCO instances: bbox, category_id, RLE segmentation (format `coco`)
    coco.yaml, masks.yaml   one-spec files for `edgecv data check` (paths relative to them)

The folder must be new or empty: nothing that was there before is overwritten or
deleted, and every file is written atomically (edgecv.fileio).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edgecv.data.dataset import Dataset, GeneratedSource
from edgecv.errors import DataError
from edgecv.fileio import write_json, write_png, write_text

COCO_SPEC = "format: coco\nimages: images\nannotations: instances.json\n"
MASKS_SPEC = "format: masks\nimages: images\nmasks: masks\n"


@dataclass(frozen=True)
class WrittenSet:
    root: Path
    images: int
    objects: int


def coco_rle(mask: np.ndarray) -> dict[str, Any]:
    """A bool [H, W] mask as COCO compressed RLE (pycocotools), counts as text."""
    try:
        from pycocotools import mask as mask_utils
    except ImportError:
        raise DataError("writing COCO masks needs pycocotools: pip install pycocotools") from None
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def check_empty_folder(out_dir: Path) -> Path:
    """The output folder, created if missing; a DataError if it holds anything."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise DataError(f"{out_dir}: exists and is not a folder; give a new or empty folder")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        raise DataError(f"{out_dir}: folder is not empty; give a new or empty folder (nothing is overwritten)")
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir


def write_generated(ds: Dataset, out_dir: Path, *, height: int, width: int, progress=None) -> WrittenSet:
    """Write every sample of `ds` (a generated set whose generator has `compose`) at
    height x width into `out_dir` (see the module docstring). `progress(iterable, total)`
    may wrap the sample loop (a bar)."""
    generator = getattr(ds.source, "generator", None) if isinstance(ds.source, GeneratedSource) else None
    if not hasattr(generator, "compose"):
        raise DataError(f"{ds.name}: only generated sets with per-object masks can be written (fashion_composite)")
    if height <= 0 or width <= 0:
        raise DataError(f"size: must be positive, got {width}x{height}")
    root = check_empty_folder(out_dir)
    names = list(generator.object_names)
    images, annotations = [], []
    positions = list(enumerate(int(i) for i in ds.indices))
    for number, index in (progress(positions, len(positions)) if progress else positions):
        scene = generator.compose(index, height, width)
        file_name = f"{number:06d}.png"
        write_png(root / "images" / file_name, cv2.cvtColor(scene.image, cv2.COLOR_RGB2BGR))
        write_png(root / "masks" / file_name, scene.index_mask())
        image_id = number + 1
        images.append({"id": image_id, "file_name": file_name, "width": width, "height": height})
        for mask, cls, (x1, y1, x2, y2) in zip(scene.masks, scene.classes, scene.boxes()):
            annotations.append({
                "id": len(annotations) + 1, "image_id": image_id, "category_id": int(cls) + 1,
                "bbox": [int(x1), int(y1), int(x2 - x1), int(y2 - y1)], "area": int(mask.sum()),
                "iscrowd": 0, "segmentation": coco_rle(mask),
            })
    categories = [{"id": i + 1, "name": name, "supercategory": "fashion"} for i, name in enumerate(names)]
    write_json(root / "instances.json", {
        "info": {"description": f"{ds.name}, {len(images)} images at {width}x{height}, written by edgecv"},
        "images": images, "annotations": annotations, "categories": categories,
    })
    write_text(root / "classes.txt", "\n".join(["background", *names]) + "\n")
    write_text(root / "coco.yaml", COCO_SPEC)
    write_text(root / "masks.yaml", MASKS_SPEC)
    return WrittenSet(root=root, images=len(images), objects=len(annotations))
