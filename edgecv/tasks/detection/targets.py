"""Padded ground-truth boxes -> one YOLO target tensor per model output (numpy).

Each box goes to the single anchor, over all heads, whose shape overlaps it best
(centre-aligned IoU, YOLOv2/v3), in the grid cell holding its centre.

Target layout of one head, flat per image so that Keras passes it to the loss
untouched: `GH * GW * A * 6` cell values followed by `M * 4` image boxes.
- cell values per anchor: `cx, cy, w, h` (normalised), `objectness` (1 or 0), `class id`;
- image boxes: every ground-truth box of the image (x1, y1, x2, y2, zero padded),
  used by the loss for the ignore threshold.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from edgecv.tasks.detection.anchors import wh_iou

CELL_VALUES = 6


@dataclass(frozen=True)
class HeadLayout:
    """One model output: its grid and its anchors (w, h) in input pixels."""

    grid_h: int
    grid_w: int
    anchors: tuple[tuple[float, float], ...]

    @property
    def num_anchors(self) -> int:
        return len(self.anchors)

    def cell_size(self) -> int:
        return self.grid_h * self.grid_w * self.num_anchors * CELL_VALUES

    def target_size(self, max_boxes: int) -> int:
        return self.cell_size() + max_boxes * 4


def encode_targets(boxes: np.ndarray, classes: np.ndarray, heads: Sequence[HeadLayout],
                   input_hw: Sequence[int], max_boxes: Optional[int] = None) -> list[np.ndarray]:
    """boxes float [B, M, 4] normalised x1,y1,x2,y2, classes int [B, M] (-1 = padding)
    -> one float32 [B, head.target_size(max_boxes or M)] array per head.

    `max_boxes` fixes the image-box part's length (zero padded, or cut: every box still
    gets its cell; only the ignore test sees the first `max_boxes`), so each head's
    target length is known before any data is seen."""
    boxes = np.asarray(boxes, dtype=np.float32).reshape(len(boxes), -1, 4)
    classes = np.asarray(classes).reshape(len(boxes), -1).astype(np.int64)
    batch = classes.shape[0]
    valid = (classes >= 0) & (boxes[..., 2] > boxes[..., 0]) & (boxes[..., 3] > boxes[..., 1])
    cells = [np.zeros((batch, h.grid_h, h.grid_w, h.num_anchors, CELL_VALUES), np.float32) for h in heads]

    # Every anchor of every head, normalised, with its (head, slot).
    scale = np.array([input_hw[1], input_hw[0]], dtype=np.float64)
    all_anchors = np.concatenate([np.asarray(h.anchors, np.float64) / scale for h in heads])
    owner = np.concatenate([[(i, a) for a in range(h.num_anchors)] for i, h in enumerate(heads)])

    image, slot = np.nonzero(valid)
    if len(image):
        chosen = boxes[image, slot]
        wh = chosen[:, 2:] - chosen[:, :2]
        centre = (chosen[:, :2] + chosen[:, 2:]) / 2
        best = wh_iou(wh, all_anchors).argmax(axis=1)
        # Later boxes overwrite earlier ones sharing a cell and anchor (rare; as in YOLO).
        for b, (cx, cy), (w, h), k, cls in zip(image, centre, wh, best, classes[image, slot]):
            head_index, anchor = owner[k]
            head = heads[head_index]
            col = min(int(cx * head.grid_w), head.grid_w - 1)
            row = min(int(cy * head.grid_h), head.grid_h - 1)
            cells[head_index][b, row, col, anchor] = (cx, cy, w, h, 1.0, cls)

    image_boxes = np.where(valid[..., None], boxes, 0.0)
    if max_boxes is not None:
        image_boxes = image_boxes[:, :max_boxes]
        image_boxes = np.pad(image_boxes, ((0, 0), (0, max_boxes - image_boxes.shape[1]), (0, 0)))
    image_boxes = image_boxes.reshape(batch, -1)
    return [np.concatenate([c.reshape(batch, -1), image_boxes], axis=1).astype(np.float32)
            for c in cells]


def split_target(target: np.ndarray, head: HeadLayout) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of the flat layout: (cells [B, GH, GW, A, 6], image boxes [B, M, 4])."""
    target = np.asarray(target)
    n = head.cell_size()
    cells = target[:, :n].reshape(-1, head.grid_h, head.grid_w, head.num_anchors, CELL_VALUES)
    return cells, target[:, n:].reshape(len(target), -1, 4)


def targets_to_logits(target: np.ndarray, head: HeadLayout, input_hw: Sequence[int],
                      num_classes: int, confidence: float = 12.0) -> np.ndarray:
    """The raw head a perfect model would output for these targets (tests, round trips)."""
    cells, _ = split_target(target, head)
    batch = len(cells)
    raw = np.full((batch, head.grid_h, head.grid_w, head.num_anchors, 5 + num_classes),
                  -confidence, dtype=np.float32)
    raw[..., :4] = 0.0
    obj = cells[..., 4] > 0
    cols = np.arange(head.grid_w)[None, None, :, None]
    rows = np.arange(head.grid_h)[None, :, None, None]
    anchors = np.asarray(head.anchors, np.float64) / np.array([input_hw[1], input_hw[0]])
    fx = np.clip(cells[..., 0] * head.grid_w - cols, 1e-6, 1 - 1e-6)
    fy = np.clip(cells[..., 1] * head.grid_h - rows, 1e-6, 1 - 1e-6)
    tx, ty = np.log(fx / (1 - fx)), np.log(fy / (1 - fy))
    tw = np.log(np.maximum(cells[..., 2], 1e-9) / anchors[:, 0])
    th = np.log(np.maximum(cells[..., 3], 1e-9) / anchors[:, 1])
    for channel, value in enumerate((tx, ty, tw, th)):
        raw[..., channel] = np.where(obj, value, 0.0)
    raw[..., 4] = np.where(obj, confidence, -confidence)
    class_index = cells[..., 5].astype(np.int64)
    b, r, c, a = np.nonzero(obj)
    raw[b, r, c, a, 5 + class_index[b, r, c, a]] = confidence
    return raw.reshape(batch, head.grid_h, head.grid_w, -1)
