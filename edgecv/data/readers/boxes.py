"""Shared box bookkeeping for the detection readers: validate, normalise, pad."""
from __future__ import annotations

from typing import Optional

import numpy as np

# Labelling tools round to whole pixels and sometimes step one past the edge.
EDGE_TOLERANCE_PX = 1.0


def box_problem(x1: float, y1: float, x2: float, y2: float, width: float, height: float) -> Optional[str]:
    """None for a usable pixel box inside a width x height image, else what is wrong."""
    if not all(np.isfinite([x1, y1, x2, y2])):
        return f"box {[x1, y1, x2, y2]} has non-numeric coordinates"
    if x2 <= x1 or y2 <= y1:
        return f"degenerate box {_fmt(x1, y1, x2, y2)} (zero or negative width/height)"
    tol = EDGE_TOLERANCE_PX
    if x1 < -tol or y1 < -tol or x2 > width + tol or y2 > height + tol:
        return f"box {_fmt(x1, y1, x2, y2)} lies outside the {int(width)}x{int(height)} image"
    return None


def _fmt(*values: float) -> str:
    return "[" + ", ".join(f"{v:g}" for v in values) + "]"


def normalised(x1, y1, x2, y2, width, height) -> list[float]:
    """Pixel box -> normalised x1,y1,x2,y2 clipped to [0, 1] (after the tolerance check)."""
    box = np.array([x1 / width, y1 / height, x2 / width, y2 / height], dtype=np.float64)
    return np.clip(box, 0.0, 1.0).tolist()


def pad(per_image: list[list[tuple[list[float], int]]]) -> tuple[np.ndarray, np.ndarray]:
    """[(box, class), ...] per image -> boxes float32 [N, M, 4], classes int32 [N, M] (-1 = none)."""
    most = max([len(objs) for objs in per_image], default=0)
    most = max(most, 1)   # keep the arrays 2-D/3-D even when no image has objects
    boxes = np.zeros((len(per_image), most, 4), dtype=np.float32)
    classes = np.full((len(per_image), most), -1, dtype=np.int32)
    for i, objs in enumerate(per_image):
        for j, (box, cls) in enumerate(objs):
            boxes[i, j] = box
            classes[i, j] = cls
    return boxes, classes
