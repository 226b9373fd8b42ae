"""mAP@0.5 and mAP@0.5:0.95 (COCO 101-point interpolation) through pycocotools.

Ground truth and detections are handed to pycocotools in memory; boxes are
normalised x1,y1,x2,y2 and are scaled to `image_size` pixels only so that the
COCO area ranges make sense (IoU, hence AP, does not depend on the scale).
"""
from __future__ import annotations

import contextlib
import io
from typing import Sequence

import numpy as np

from edgecv.errors import EdgecvError


def coco_map(detections: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
             targets: Sequence[tuple[np.ndarray, np.ndarray]], class_names: Sequence[str], *,
             image_size: Sequence[int] = (640, 640), max_detections: int = 100) -> dict:
    """detections: per image (boxes [k,4], scores [k], classes [k]); targets: per image
    (boxes [m,4], classes [m]) -> dict(map50, map50_95, per_class {name: AP@0.5 or None})."""
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        raise EdgecvError("detection mAP needs pycocotools (pip install pycocotools)") from None
    if len(detections) != len(targets):
        raise ValueError(f"{len(detections)} detection lists for {len(targets)} images")
    height, width = float(image_size[0]), float(image_size[1])
    scale = np.array([width, height, width, height])

    def xywh(box):
        x1, y1, x2, y2 = (np.asarray(box, np.float64) * scale).tolist()
        return [x1, y1, x2 - x1, y2 - y1]

    images, annotations = [], []
    for image_id, (boxes, classes) in enumerate(targets, start=1):
        images.append({"id": image_id, "width": width, "height": height})
        for box, cls in zip(np.asarray(boxes).reshape(-1, 4), np.asarray(classes).reshape(-1)):
            if cls < 0:
                continue
            x, y, w, h = xywh(box)
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": int(cls) + 1,
                                "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0})
    results = []
    for image_id, (boxes, scores, classes) in enumerate(detections, start=1):
        for box, score, cls in zip(np.asarray(boxes).reshape(-1, 4), np.asarray(scores).reshape(-1),
                                   np.asarray(classes).reshape(-1)):
            results.append({"image_id": image_id, "category_id": int(cls) + 1,
                            "bbox": xywh(box), "score": float(score)})

    per_class_gt = np.bincount([a["category_id"] - 1 for a in annotations], minlength=len(class_names))
    if not annotations:
        return {"map50": 0.0, "map50_95": 0.0, "per_class": {n: None for n in class_names},
                "images": len(targets), "objects": 0, "detections": len(results)}
    if not results:  # pycocotools cannot load an empty result list; nothing found = AP 0
        return {"map50": 0.0, "map50_95": 0.0,
                "per_class": {n: (0.0 if per_class_gt[i] else None) for i, n in enumerate(class_names)},
                "images": len(targets), "objects": len(annotations), "detections": 0}

    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress and tables
        truth = COCO()
        truth.dataset = {"images": images, "annotations": annotations,
                         "categories": [{"id": i + 1, "name": n} for i, n in enumerate(class_names)]}
        truth.createIndex()
        found = truth.loadRes(results)
        evaluator = COCOeval(truth, found, iouType="bbox")
        evaluator.params.imgIds = [im["id"] for im in images]
        evaluator.params.catIds = list(range(1, len(class_names) + 1))
        evaluator.params.maxDets = [1, 10, int(max_detections)]
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    # precision[T, R, K, area, maxDets]: T=0 is IoU 0.5, area 0 is "all", maxDets -1 the largest.
    precision = evaluator.eval["precision"]
    per_class = {}
    for k, name in enumerate(class_names):
        curve = precision[0, :, k, 0, -1]
        per_class[name] = float(curve[curve > -1].mean()) if np.any(curve > -1) else None
    return {"map50": max(float(evaluator.stats[1]), 0.0), "map50_95": max(float(evaluator.stats[0]), 0.0),
            "per_class": per_class, "images": len(targets), "objects": len(annotations),
            "detections": len(results)}
