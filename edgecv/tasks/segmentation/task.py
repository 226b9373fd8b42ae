"""Segmentation: int masks in, per-pixel softmax out; mIoU, pixel accuracy, overlays.

- Loss (`segmentation.loss` in the recipe): per-pixel cross-entropy (`ce`), soft
  Dice (`dice`) or their sum (`ce+dice`, default), with optional class weights:
  a list (one per class, background first) or `auto` = inverse pixel frequency
  of the training masks, computed in `loss(recipe)` from up to
  AUTO_WEIGHT_SAMPLES training samples.
- Metrics: one definition in numpy (`metrics.py`) that the Keras
  metrics (`training.py`) reproduce; see that module for how classes
  absent from both truth and prediction are treated (excluded from the mean).
- Decoding: `decode_masks` (argmax); `write_overlays` draws predictions next to
  the ground truth (`draw.py`).

TensorFlow and OpenCV are imported only inside the methods that need them, so
the bench harness can score with this module on a machine without them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np

from edgecv.errors import RecipeError
from edgecv.tasks.base import Task
from edgecv.tasks.segmentation.metrics import (  # noqa: F401  (re-exported: the one metric definition)
    confusion_matrix,
    dice_per_class,
    inverse_frequency_weights,
    iou_per_class,
    mean_dice,
    mean_iou,
    pixel_accuracy,
    segmentation_scores,
)

AUTO_WEIGHT_SAMPLES = 512   # training masks read to estimate class frequencies for `auto`


@dataclass(frozen=True)
class SegmentationTask(Task):
    name: str = "segmentation"
    monitor: str = "val_mean_iou"
    mode: str = "max"
    loss_kind: str = "ce+dice"
    class_weights: Union[str, tuple[float, ...], None] = None   # "auto", explicit, or None
    num_classes: Optional[int] = None                          # known from recipe; else from the model output

    def loss(self, recipe: Any):
        from edgecv.tasks.segmentation.training import SegmentationLoss

        weights = self.class_weights
        if weights == "auto":
            weights = tuple(auto_class_weights(recipe))
        return SegmentationLoss(self.loss_kind, weights)

    def metrics(self) -> list:
        from edgecv.tasks.segmentation.training import MeanIoU, PixelAccuracy

        return [MeanIoU(num_classes=self.num_classes), PixelAccuracy(num_classes=self.num_classes)]

    def score(self, outputs: Sequence[np.ndarray], targets: Any, class_names: Sequence[str]) -> dict:
        return segmentation_scores(_first(outputs), np.asarray(targets), class_names)

    def app_outputs(self, keys):
        from edgecv.tasks.app_outputs import AppOutputs, OutputTensor, only_key

        return AppOutputs((OutputTensor(
            key=only_key(keys, self.name), name="segmentation_masks",
            description="Per-pixel probability of each class (softmax over the last axis, "
                        "labels.txt order, background first); the category mask is its argmax",
            labels="axis", value_bounds=(0.0, 1.0)),), summary="image segmenter")

    def write_examples(self, run_dir, x_uint8, outputs, masks, class_names, **kwargs) -> list[Path]:
        return write_overlays(run_dir, x_uint8, outputs, masks, class_names, **kwargs)


def make_task(recipe: Any = None) -> SegmentationTask:
    """The task configured by a recipe's `segmentation:` section (defaults without one).

    `recipe` may also be None or a .tflite metadata dict (scoring needs no options).
    """
    if recipe is None or isinstance(recipe, dict):
        return SegmentationTask()
    spec = getattr(recipe, "segmentation", None)
    num_classes = getattr(getattr(recipe, "model", None), "num_classes", None)
    if spec is None:
        return SegmentationTask(num_classes=num_classes)
    weights = spec.class_weights
    if isinstance(weights, (list, tuple)):
        weights = tuple(float(w) for w in weights)
        if any(w < 0 or not np.isfinite(w) for w in weights) or sum(weights) <= 0:
            raise RecipeError(f"segmentation.class_weights: weights must be finite, >= 0 and not all 0, "
                              f"got {list(weights)}")
        if num_classes is not None and len(weights) != num_classes:
            raise RecipeError(f"segmentation.class_weights: {len(weights)} weights given for "
                              f"model.num_classes={num_classes}; give one weight per class")
    return SegmentationTask(loss_kind=spec.loss, class_weights=weights, num_classes=num_classes)


_AUTO_WEIGHTS: dict[str, np.ndarray] = {}   # loss() runs once per stage; read the masks once per run


def auto_class_weights(recipe: Any, samples: int = AUTO_WEIGHT_SAMPLES) -> np.ndarray:
    """Inverse pixel-frequency weights from (up to `samples` of) the recipe's training masks."""
    key = repr((recipe.data.train, tuple(recipe.model.input_shape), recipe.model.num_classes, samples,
                recipe.data.resize))
    if key not in _AUTO_WEIGHTS:
        _AUTO_WEIGHTS[key] = _read_auto_class_weights(recipe, samples)
    return _AUTO_WEIGHTS[key].copy()


def _read_auto_class_weights(recipe: Any, samples: int) -> np.ndarray:
    from edgecv.data import eval_arrays, load_dataset

    dataset = load_dataset(recipe.data.train, task="segmentation")
    num_classes = recipe.model.num_classes or len(dataset.class_names)
    _, masks = eval_arrays(dataset, input_shape=recipe.model.input_shape, limit=samples,
                           resize=recipe.data.resize)
    try:
        return inverse_frequency_weights(masks, num_classes)
    except ValueError:
        raise RecipeError(f"segmentation.class_weights: auto needs labelled pixels, but the first "
                          f"{len(masks)} masks of data.train hold none of the {num_classes} classes") from None


def decode_masks(outputs: Any) -> np.ndarray:
    """Per-pixel scores `[N, H, W, C]` (or a one-element list of them) -> uint8 class masks `[N, H, W]`."""
    probs = np.asarray(_first(outputs))
    if probs.ndim != 4:
        raise ValueError(f"expected per-pixel scores [N, H, W, classes], got shape {list(probs.shape)}")
    return probs.argmax(axis=-1).astype(np.uint8 if probs.shape[-1] <= 256 else np.int32)


def write_overlays(run_dir, x_uint8, outputs, masks, class_names, **kwargs) -> list[Path]:
    """Coloured prediction-vs-truth images under `run_dir/overlays/` (see draw.py)."""
    from edgecv.tasks.segmentation.draw import write_overlays as _write

    return _write(run_dir, x_uint8, decode_masks(outputs), masks, class_names, **kwargs)


def _first(outputs: Any) -> np.ndarray:
    """Task outputs arrive as a list (one array per model output); segmentation has one."""
    if isinstance(outputs, (list, tuple)):
        if len(outputs) != 1:
            raise ValueError(f"segmentation models have one output, got {len(outputs)}")
        return outputs[0]
    return outputs
