"""Segmentation metrics in numpy: the one definition every score goes through.

Pure numpy (no TensorFlow) so the benchmark side (`edgecv.bench.accuracy`) can
import it, and the Keras training metrics in `training.py` are built on
the very same confusion-matrix definition:

- `confusion[t, p]` counts pixels whose truth is class `t` and whose predicted
  (argmax) class is `p`. Pixels whose truth is not a class index in
  `[0, num_classes)` (e.g. 255 "void" borders in VOC-style masks) are ignored
  by every metric and by the loss.
- IoU of class c = confusion[c, c] / (row_c + column_c - confusion[c, c]).
- mIoU = mean IoU over the classes that occur in the truth OR the prediction.
  A class absent from both has no defined IoU (0/0): it is excluded from the
  mean and reported as `None`, rather than counted as 1 (which would flatter a
  model on images that happen to lack rare classes) or 0 (which would punish it
  for something it got right).
- pixel accuracy = trace / total over the counted pixels.
- Dice of class c = 2 * confusion[c, c] / (row_c + column_c); same exclusion.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def confusion_matrix(masks: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """[true, predicted] pixel counts (int64); truth outside [0, num_classes) is ignored."""
    truth = np.asarray(masks).astype(np.int64).reshape(-1)
    predicted = np.asarray(predictions).astype(np.int64).reshape(-1)
    if truth.shape != predicted.shape:
        raise ValueError(f"masks and predictions differ in size: {np.shape(masks)} vs {np.shape(predictions)}")
    keep = (truth >= 0) & (truth < num_classes)
    flat = truth[keep] * num_classes + np.clip(predicted[keep], 0, num_classes - 1)
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def iou_per_class(confusion: np.ndarray) -> np.ndarray:
    """IoU per class; NaN for a class absent from both truth and prediction."""
    confusion = np.asarray(confusion, dtype=np.float64)
    intersection = np.diag(confusion)
    union = confusion.sum(axis=0) + confusion.sum(axis=1) - intersection
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, intersection / union, np.nan)


def dice_per_class(confusion: np.ndarray) -> np.ndarray:
    """Dice (F1) per class; NaN for a class absent from both truth and prediction."""
    confusion = np.asarray(confusion, dtype=np.float64)
    intersection = np.diag(confusion)
    total = confusion.sum(axis=0) + confusion.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, 2 * intersection / total, np.nan)


def mean_iou(confusion: np.ndarray) -> float:
    """Mean IoU over the classes present in truth or prediction (see module doc)."""
    return _nanmean(iou_per_class(confusion))


def mean_dice(confusion: np.ndarray) -> float:
    return _nanmean(dice_per_class(confusion))


def pixel_accuracy(confusion: np.ndarray) -> float:
    confusion = np.asarray(confusion, dtype=np.float64)
    total = confusion.sum()
    if total == 0:
        raise ValueError("no labelled pixels to score")
    return float(np.trace(confusion) / total)


def _nanmean(values: np.ndarray) -> float:
    present = values[~np.isnan(values)]
    if present.size == 0:
        raise ValueError("no labelled pixels to score")
    return float(present.mean())


def segmentation_scores(probs: np.ndarray, masks: np.ndarray, class_names: Sequence[str]) -> dict:
    """Score per-pixel class scores `[N, H, W, C]` against masks `[N, H, W]`.

    Returns the report's accuracy fields: `metric` "mIoU", `value`, plus
    `pixel_accuracy`, `mean_dice`, `per_class_iou` {class name: IoU or None},
    `confusion` (pixel counts, rows = truth) and `class_names`.
    """
    probs = np.asarray(probs)
    masks = np.asarray(masks)
    if probs.ndim != 4:
        raise ValueError(f"expected per-pixel scores [N, H, W, classes], got shape {list(probs.shape)}")
    if masks.shape != probs.shape[:3]:
        raise ValueError(f"masks shape {list(masks.shape)} does not match outputs {list(probs.shape[:3])}")
    if masks.size == 0:
        raise ValueError("cannot score an empty evaluation set")
    num_classes = probs.shape[-1]
    names = [str(n) for n in class_names][:num_classes]
    names += [f"class_{i}" for i in range(len(names), num_classes)]
    confusion = confusion_matrix(masks, probs.argmax(axis=-1), num_classes)
    ious = iou_per_class(confusion)
    return {
        "metric": "mIoU",
        "value": mean_iou(confusion),
        "pixel_accuracy": pixel_accuracy(confusion),
        "mean_dice": mean_dice(confusion),
        "per_class_iou": {name: (None if np.isnan(v) else float(v)) for name, v in zip(names, ious)},
        "samples": int(len(masks)),
        "confusion": confusion.tolist(),
        "class_names": names,
    }


def inverse_frequency_weights(masks: np.ndarray, num_classes: int) -> np.ndarray:
    """Class weights from inverse pixel frequency, scaled like scikit-learn's "balanced":
    `w_c = pixels / (num_classes * pixels_c)`, so a perfectly balanced set gets all 1.

    A class with no pixels in `masks` gets weight 1.0 (it cannot affect the
    cross-entropy, and a huge weight would dominate the Dice average).
    """
    truth = np.asarray(masks).astype(np.int64).reshape(-1)
    truth = truth[(truth >= 0) & (truth < num_classes)]
    if truth.size == 0:
        raise ValueError("no labelled pixels to compute class weights from")
    counts = np.bincount(truth, minlength=num_classes).astype(np.float64)
    with np.errstate(divide="ignore"):
        weights = np.where(counts > 0, truth.size / (num_classes * counts), 1.0)
    return weights.astype(np.float32)
