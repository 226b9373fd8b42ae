"""`coco`: COCO instances JSON (`annotations:`) + image folder (`images:`).

Categories are mapped to contiguous ids in category-id order (or `classes:` order,
matched by name). Detection uses `bbox` ([x, y, w, h] pixels); crowd regions are
not objects to detect and are ignored. Segmentation renders polygons / RLE into
an index mask (value = 1 + class, 0 = background) with pycocotools, one image at a
time inside the pipeline; later annotations paint over earlier ones.
"""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from edgecv.data.dataset import Dataset, FileSource, Problem, new_dataset
from edgecv.data.images import image_header, probe_image
from edgecv.data.readers import class_index, fixed_classes, note, require_dir, require_file, skip
from edgecv.data.readers.boxes import box_problem, normalised, pad
from edgecv.errors import DataError
from edgecv.tasks.table import target_of


def _load_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a COCO JSON file: {exc}") from None
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise DataError(f"{path}: COCO file lacks a '{key}' list")
    return data


class MaskRenderer:
    """Renders one image's segmentation annotations into an index mask (picklable, lazy)."""

    def __init__(self, per_image: list[tuple[int, int, list[tuple[int, object]]]]):
        self.per_image = per_image      # (height, width, [(class id, segmentation)])

    def __call__(self, position: int) -> np.ndarray:
        from pycocotools import mask as mask_utils

        height, width, objects = self.per_image[position]
        mask = np.zeros((height, width), dtype=np.uint8)
        for cls, segmentation in objects:
            if isinstance(segmentation, list):          # polygons
                rles = mask_utils.frPyObjects(usable_polygons(segmentation), height, width)
                rle = mask_utils.merge(rles)
            elif isinstance(segmentation.get("counts"), list):   # uncompressed RLE
                rle = mask_utils.frPyObjects(segmentation, height, width)
            else:
                rle = segmentation
            mask[mask_utils.decode(rle) > 0] = cls + 1
        return mask


def usable_polygons(segmentation: list) -> list:
    return [p for p in segmentation if isinstance(p, list) and len(p) >= 6 and len(p) % 2 == 0]


def segmentation_problem(segmentation, width: int, height: int) -> str | None:
    """What keeps a COCO `segmentation` from rendering into this image's mask, or None."""
    if not segmentation:
        return "no segmentation"
    if isinstance(segmentation, list):
        # Parts with < 3 points are left out by usable_polygons (COCO 2017 has a few, as
        # Detectron2 found); an object with no usable part is a problem.
        polygons = usable_polygons(segmentation)
        if not polygons:
            return "polygon needs x,y pairs of at least 3 points"
        for polygon in polygons:
            try:
                xy = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
            except (TypeError, ValueError):
                return "polygon coordinates must be numbers"
            # COCO polygons touch the border at x = width; a point well past it is an error.
            if (xy < -1).any() or (xy[:, 0] > width + 1).any() or (xy[:, 1] > height + 1).any():
                return f"polygon point outside the {width}x{height} image"
        return None
    if isinstance(segmentation, dict):
        size = segmentation.get("size")
        if "counts" not in segmentation or not isinstance(size, list) or len(size) != 2:
            return "RLE needs 'counts' and 'size'"
        try:
            size_hw = [int(v) for v in size]
        except (TypeError, ValueError):
            return f"RLE size must be two integers, got {size}"
        if size_hw != [height, width]:
            return f"RLE size {size} is not the image's [height, width] [{height}, {width}]"
        return None
    return "segmentation must be polygons or RLE"


def read_coco(spec: dict, task: str) -> Dataset:
    image_dir = require_dir(spec["images"], "COCO image folder")
    ann_path = require_file(spec["annotations"], "COCO annotation file")
    data = _load_json(ann_path)
    categories = sorted(data["categories"], key=lambda c: c["id"])
    names = fixed_classes(spec) or [str(c["name"]) for c in categories]
    index = class_index(names)
    cat_to_class = {c["id"]: index[str(c["name"])] for c in categories if str(c["name"]) in index}
    cat_names = {c["id"]: str(c["name"]) for c in categories}

    by_image = defaultdict(list)
    problems: list[Problem] = []
    image_ids = {img.get("id") for img in data["images"]}
    for ann in data["annotations"]:
        if ann.get("image_id") not in image_ids:
            note(problems, ann_path, f"annotation {ann.get('id')} refers to unknown image id {ann.get('image_id')}")
            continue
        by_image[ann["image_id"]].append(ann)

    paths, per_image_boxes, per_image_masks = [], [], []
    for img in sorted(data["images"], key=lambda i: i["id"]):
        path = image_dir / str(img.get("file_name", ""))
        if not path.is_file():
            skip(problems, path, f"image id {img['id']} listed in {ann_path.name} but missing")
            continue
        problem = probe_image(path)
        if problem:
            skip(problems, path, problem)
            continue
        width, height = float(img.get("width") or 0), float(img.get("height") or 0)
        # Boxes are normalised by, and masks rendered at, the JSON's size: it must be the file's.
        header = image_header(path)
        if header is None:
            skip(problems, path, "cannot decode image (unreadable header)")
            continue
        if width <= 0 or height <= 0:
            skip(problems, path, f"image id {img['id']}: {ann_path.name} gives no width/height")
            continue
        if header[:2] != (int(width), int(height)):
            skip(problems, path, f"image id {img['id']} is {header[0]}x{header[1]} but {ann_path.name} says "
                                 f"{img.get('width')}x{img.get('height')}")
            continue
        objs, seg, problem = [], [], None
        for ann in by_image.get(img["id"], []):
            cat = ann.get("category_id")
            if cat not in cat_to_class:
                name = cat_names.get(cat)
                problem = (f"annotation {ann.get('id')}: unknown category id {cat}" if name is None
                           else f"annotation {ann.get('id')}: class {name!r} not in classes {names}")
                break
            if target_of(task) == "boxes":
                if ann.get("iscrowd"):
                    continue
                try:
                    x, y, w, h = (float(v) for v in ann["bbox"])
                except (KeyError, TypeError, ValueError):
                    problem = f"annotation {ann.get('id')}: no [x, y, w, h] bbox"
                    break
                problem = box_problem(x, y, x + w, y + h, width, height)
                if problem:
                    problem = f"annotation {ann.get('id')}: {problem}"
                    break
                objs.append((normalised(x, y, x + w, y + h, width, height), cat_to_class[cat]))
            else:
                segmentation = ann.get("segmentation")
                problem = segmentation_problem(segmentation, int(width), int(height))
                if problem:
                    problem = f"annotation {ann.get('id')}: {problem}"
                    break
                seg.append((cat_to_class[cat], segmentation))
        if problem:
            skip(problems, path, problem)
            continue
        paths.append(str(path))
        per_image_boxes.append(objs)
        per_image_masks.append((int(height), int(width), seg))

    if target_of(task) == "boxes":
        boxes, classes = pad(per_image_boxes)
        source = FileSource(paths=paths, boxes=boxes, classes=classes)
        class_names = names
    else:
        source = FileSource(paths=paths, mask_fn=MaskRenderer(per_image_masks))
        class_names = ["background"] + names
    return new_dataset(task, class_names, source, name=f"coco {ann_path}", problems=problems,
                       limit=spec.get("limit"), seed=spec.get("seed", 0))
