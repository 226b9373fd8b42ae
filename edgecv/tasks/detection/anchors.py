"""Anchor boxes from k-means on box sizes with the 1 - IoU distance (YOLOv2, sec. 2).

Hand-written: scikit-learn's KMeans only supports Euclidean distance, which favours
large boxes; YOLO clusters by shape overlap. Anchors are `(w, h)` in input pixels.
"""
from __future__ import annotations

import numpy as np


def wh_iou(wh: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """IoU of boxes and anchors that share a centre: (N, 2) x (K, 2) -> (N, K)."""
    wh = np.asarray(wh, dtype=np.float64).reshape(-1, 2)
    anchors = np.asarray(anchors, dtype=np.float64).reshape(-1, 2)
    inter = np.minimum(wh[:, None, 0], anchors[None, :, 0]) * np.minimum(wh[:, None, 1], anchors[None, :, 1])
    union = (wh[:, 0] * wh[:, 1])[:, None] + (anchors[:, 0] * anchors[:, 1])[None, :] - inter
    return inter / np.maximum(union, 1e-12)


def mean_best_iou(wh: np.ndarray, anchors: np.ndarray) -> float:
    """Average over boxes of the IoU with their best anchor (how well anchors fit the data)."""
    return float(wh_iou(wh, anchors).max(axis=1).mean())


def kmeans_anchors(wh: np.ndarray, k: int, *, seed: int = 0, restarts: int = 5,
                   max_iter: int = 300) -> np.ndarray:
    """k anchors (k, 2) sorted by area, clustering `wh` (N, 2) with d = 1 - IoU.

    k-means++ seeding with the IoU distance, mean update, several seeded restarts;
    the run with the highest mean best IoU wins. Raises ValueError when there are
    fewer distinct box sizes than k.
    """
    wh = np.asarray(wh, dtype=np.float64).reshape(-1, 2)
    wh = wh[(wh[:, 0] > 0) & (wh[:, 1] > 0)]
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    distinct = len(np.unique(np.round(wh, 6), axis=0))
    if distinct < k:
        raise ValueError(f"{k} anchors requested but the boxes have only {distinct} distinct sizes")
    rng = np.random.default_rng(seed)
    best, best_fit = None, -1.0
    for _ in range(restarts):
        centres = _plus_plus_init(wh, k, rng)
        for _ in range(max_iter):
            assign = wh_iou(wh, centres).argmax(axis=1)
            updated = np.array([wh[assign == j].mean(axis=0) if np.any(assign == j) else centres[j]
                                for j in range(k)])
            if np.allclose(updated, centres):
                break
            centres = updated
        fit = mean_best_iou(wh, centres)
        if fit > best_fit:
            best, best_fit = centres, fit
    return best[np.argsort(best[:, 0] * best[:, 1], kind="stable")]


def _plus_plus_init(wh: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    centres = [wh[rng.integers(len(wh))]]
    for _ in range(1, k):
        distance = 1.0 - wh_iou(wh, np.array(centres)).max(axis=1)
        total = distance.sum()
        if total <= 0:
            break
        centres.append(wh[rng.choice(len(wh), p=distance / total)])
    while len(centres) < k:  # duplicates only: distinct sizes were checked by the caller
        centres.append(wh[rng.integers(len(wh))])
    return np.array(centres)


def group_anchors(anchors: np.ndarray, num_groups: int) -> list[list[list[float]]]:
    """Split anchors sorted by area into `num_groups` equal groups, smallest first
    (group i belongs to the i-th finest head)."""
    anchors = np.asarray(anchors, dtype=np.float64).reshape(-1, 2)
    if num_groups < 1 or len(anchors) % num_groups:
        raise ValueError(f"{len(anchors)} anchors do not split into {num_groups} equal groups")
    ordered = anchors[np.argsort(anchors[:, 0] * anchors[:, 1], kind="stable")]
    per = len(anchors) // num_groups
    return [[[round(float(w), 2), round(float(h), 2)] for w, h in ordered[i * per:(i + 1) * per]]
            for i in range(num_groups)]
