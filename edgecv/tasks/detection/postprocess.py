"""Decode raw YOLO heads and run per-class NMS, in numpy only.

Self-contained on purpose (numpy is its only import): the bench runner can copy
this file to a Raspberry Pi next to runner.py and decode there without TensorFlow
or edgecv.

Conventions (shared with edgecv.tasks.detection and the .tflite metadata):
- a head is `(N, GH, GW, A * (5 + C))` raw logits; per anchor the channels are
  `tx, ty, tw, th, objectness, class_0 .. class_{C-1}`;
- box centre = (sigmoid(tx) + column) / GW, width = anchor_w * exp(tw) / input_w;
- boxes are normalised `x1, y1, x2, y2` in [0, 1];
- anchors are `(w, h)` in input pixels, grouped per head, finest grid first
  (the smallest anchors go to the finest grid, as in YOLOv3).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

# Pre-NMS cap per image: with the low mAP score threshold (0.001) thousands of
# box/class pairs survive; keeping the best few thousand does not change mAP@100
# and keeps NMS fast on a Pi.
PRE_NMS_TOP_K = 2000


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Overflow-free logistic function."""
    x = np.asarray(x, dtype=np.float32)
    out = np.empty_like(x)
    positive = x >= 0
    out[positive] = 1.0 / (1.0 + np.exp(-x[positive]))
    e = np.exp(x[~positive])
    out[~positive] = e / (1.0 + e)
    return out


def box_area(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64)
    return np.clip(boxes[..., 2] - boxes[..., 0], 0, None) * np.clip(boxes[..., 3] - boxes[..., 1], 0, None)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of x1,y1,x2,y2 boxes: (N, 4) x (M, 4) -> (N, M); empty boxes give 0."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def order_heads(outputs: Sequence[np.ndarray]) -> list[int]:
    """Indices of the heads from the finest grid to the coarsest (the anchor-group order)."""
    return sorted(range(len(outputs)), key=lambda i: -int(outputs[i].shape[1]) * int(outputs[i].shape[2]))


def decode_head(output: np.ndarray, anchors_px: np.ndarray, input_hw: Sequence[int],
                num_classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One head -> (boxes (N, GH*GW*A, 4), objectness (N, K), class probabilities (N, K, C))."""
    output = np.asarray(output, dtype=np.float32)
    anchors_px = np.asarray(anchors_px, dtype=np.float32).reshape(-1, 2)
    n, gh, gw, channels = output.shape
    num_anchors = len(anchors_px)
    if channels != num_anchors * (5 + num_classes):
        raise ValueError(f"head {list(output.shape)}: {channels} channels, expected "
                         f"{num_anchors} anchors x (5 + {num_classes} classes) = "
                         f"{num_anchors * (5 + num_classes)}")
    raw = output.reshape(n, gh, gw, num_anchors, 5 + num_classes)
    cols = np.arange(gw, dtype=np.float32)[None, None, :, None]
    rows = np.arange(gh, dtype=np.float32)[None, :, None, None]
    cx = (sigmoid(raw[..., 0]) + cols) / gw
    cy = (sigmoid(raw[..., 1]) + rows) / gh
    # exp of a clipped logit: a quantized head can saturate and must not overflow.
    w = anchors_px[:, 0] / float(input_hw[1]) * np.exp(np.clip(raw[..., 2], -10.0, 8.0))
    h = anchors_px[:, 1] / float(input_hw[0]) * np.exp(np.clip(raw[..., 3], -10.0, 8.0))
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1)
    boxes = np.clip(boxes, 0.0, 1.0).reshape(n, -1, 4)
    objectness = sigmoid(raw[..., 4]).reshape(n, -1)
    class_probs = sigmoid(raw[..., 5:]).reshape(n, -1, num_classes)
    return boxes, objectness, class_probs


def decode(outputs: Sequence[np.ndarray], anchor_groups: Sequence[Sequence[Sequence[float]]],
           input_hw: Sequence[int], num_classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All heads -> boxes (N, K, 4), objectness (N, K), class probabilities (N, K, C).

    `anchor_groups[i]` belongs to the i-th finest head; heads may come in any order.
    """
    if len(outputs) != len(anchor_groups):
        raise ValueError(f"{len(outputs)} output heads but {len(anchor_groups)} anchor groups")
    parts = [decode_head(outputs[head], np.asarray(anchor_groups[rank]), input_hw, num_classes)
             for rank, head in enumerate(order_heads(outputs))]
    return tuple(np.concatenate(p, axis=1) for p in zip(*parts))  # type: ignore[return-value]


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy NMS: indices kept, best score first; a box is dropped when its IoU with a
    kept box is >= iou_threshold. Hand-written because it must run where only numpy is."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    boxes = np.asarray(boxes, dtype=np.float64)
    keep = []
    while order.size:
        best = order[0]
        keep.append(best)
        if order.size == 1:
            break
        overlap = box_iou(boxes[best:best + 1], boxes[order[1:]])[0]
        order = order[1:][overlap < iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def per_class_nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, *,
                  score_threshold: float, iou_threshold: float,
                  max_detections: int) -> np.ndarray:
    """Indices kept: drop scores below the threshold, NMS within each class, then the
    best `max_detections` over all classes, best score first."""
    scores = np.asarray(scores)
    classes = np.asarray(classes)
    candidates = np.flatnonzero(scores >= score_threshold)
    kept = []
    for cls in np.unique(classes[candidates]):
        members = candidates[classes[candidates] == cls]
        kept.append(members[nms(boxes[members], scores[members], iou_threshold)])
    if not kept:
        return np.zeros(0, dtype=np.int64)
    kept = np.concatenate(kept)
    return kept[np.argsort(-scores[kept], kind="stable")][:max_detections]


def detect(outputs: Sequence[np.ndarray], anchor_groups, input_hw: Sequence[int], num_classes: int, *,
           score_threshold: float = 0.001, iou_threshold: float = 0.45,
           max_detections: int = 100, multilabel: bool = True) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Raw heads -> per image (boxes (k, 4) normalised, scores (k,), classes (k,)).

    Multilabel (YOLOv3, the default): every box/class pair whose score
    objectness * p(class) reaches the threshold is a candidate. `multilabel=False` keeps
    only each box's best class, as the in-graph NMS (graph.py) does.
    """
    boxes, objectness, class_probs = decode(outputs, anchor_groups, input_hw, num_classes)
    results = []
    for image in range(boxes.shape[0]):
        pair_scores = objectness[image][:, None] * class_probs[image]
        if not multilabel:
            best = pair_scores.argmax(axis=1)
            pair_scores = np.where(np.arange(num_classes)[None, :] == best[:, None], pair_scores, -1.0)
        box_index, cls = np.nonzero(pair_scores >= score_threshold)
        scores = pair_scores[box_index, cls]
        if len(scores) > PRE_NMS_TOP_K:
            best = np.argpartition(-scores, PRE_NMS_TOP_K)[:PRE_NMS_TOP_K]
            box_index, cls, scores = box_index[best], cls[best], scores[best]
        candidates = boxes[image][box_index]
        keep = per_class_nms(candidates, scores, cls, score_threshold=score_threshold,
                             iou_threshold=iou_threshold, max_detections=max_detections)
        results.append((candidates[keep].astype(np.float32), scores[keep].astype(np.float32),
                        cls[keep].astype(np.int32)))
    return results


def is_nms_layout(shapes: Sequence[Sequence]) -> bool:
    """True for the outputs of the in-graph NMS (graph.py): location (N, D, 4), category
    (N, D), score (N, D), number of detections (N,); raw YOLO heads are all rank 4."""
    shapes = [tuple(s) for s in shapes]
    return (len(shapes) == 4 and [len(s) for s in shapes] == [3, 2, 2, 1]
            and shapes[0][-1] == 4 and shapes[1][-1] == shapes[2][-1] == shapes[0][1])


def nms_rows(outputs: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """In-graph NMS outputs -> per image (boxes (k, 4), scores (k,), classes (k,)): the
    first `number of detections` rows, the rest being padding."""
    boxes, classes, scores, counts = (np.asarray(o) for o in outputs)
    results = []
    for image in range(boxes.shape[0]):
        k = int(np.clip(np.rint(counts[image]), 0, boxes.shape[1]))
        results.append((boxes[image, :k].astype(np.float32), scores[image, :k].astype(np.float32),
                        np.rint(classes[image, :k]).astype(np.int32)))
    return results
