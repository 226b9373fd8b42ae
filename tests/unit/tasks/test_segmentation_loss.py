"""Segmentation losses against hand-computed numbers; class weights and recipe options."""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from edgecv.errors import RecipeError
from edgecv.data.spec import DatasetSpec
from edgecv.tasks.segmentation.config import SegmentationSpec
from edgecv.tasks.segmentation import auto_class_weights, make_task

# Two pixels, two classes: pixel A is class 0 scored [0.8, 0.2], pixel B class 1 scored [0.4, 0.6].
Y_TRUE = np.array([[[0, 1]]], np.int32)                                   # [1, 1, 2]
Y_PRED = np.array([[[[0.8, 0.2], [0.4, 0.6]]]], np.float32)               # [1, 1, 2, 2]

CE = (-math.log(0.8) - math.log(0.6)) / 2
CE_WEIGHTED = (1 * -math.log(0.8) + 3 * -math.log(0.6)) / (1 + 3)
# Dice per class over the batch, smooth 1: (2 * intersection + 1) / (|truth| + |scores| + 1)
DICE_0 = (2 * 0.8 + 1) / (1 + 1.2 + 1)      # = 0.8125
DICE_1 = (2 * 0.6 + 1) / (1 + 0.8 + 1)      # = 0.7857...
DICE = 1 - (DICE_0 + DICE_1) / 2
DICE_WEIGHTED = 1 - (1 * DICE_0 + 3 * DICE_1) / 4


def loss_value(kind, weights=None, y_true=Y_TRUE, y_pred=Y_PRED) -> float:
    from edgecv.tasks.segmentation.training import SegmentationLoss

    return float(SegmentationLoss(kind, weights)(y_true, y_pred))


@pytest.mark.parametrize("kind, weights, expected", [
    ("ce", None, CE),
    ("ce", [1.0, 3.0], CE_WEIGHTED),
    ("dice", None, DICE),
    ("dice", [1.0, 3.0], DICE_WEIGHTED),
    ("ce+dice", None, CE + DICE),
    ("ce+dice", [1.0, 3.0], CE_WEIGHTED + DICE_WEIGHTED),
])
def test_loss_matches_hand_computed_value(kind, weights, expected):
    assert loss_value(kind, weights) == pytest.approx(expected, rel=1e-5)


def test_perfect_prediction_has_near_zero_loss_and_void_pixels_do_not_count():
    perfect = np.array([[[[1.0, 0.0], [0.0, 1.0]]]], np.float32)
    assert loss_value("ce+dice", y_pred=perfect) == pytest.approx(0.0, abs=1e-5)
    # A third pixel labelled 255 (void) with a terrible score changes nothing.
    y_true = np.array([[[0, 1, 255]]], np.int32)
    y_pred = np.array([[[[0.8, 0.2], [0.4, 0.6], [0.5, 0.5]]]], np.float32)
    assert loss_value("ce+dice", y_true=y_true, y_pred=y_pred) == pytest.approx(CE + DICE, rel=1e-5)


def test_loss_errors_name_the_recipe_key():
    with pytest.raises(RecipeError, match=r"segmentation.class_weights: 3 weights given for a model with 2 classes"):
        loss_value("ce", [1.0, 1.0, 1.0])
    from edgecv.tasks.segmentation.training import SegmentationLoss

    with pytest.raises(RecipeError, match=r"segmentation.loss: unknown loss 'focal'"):
        SegmentationLoss("focal")


def recipe_with(segmentation=None, num_classes=None, train=None):
    return SimpleNamespace(
        segmentation=segmentation,
        model=SimpleNamespace(num_classes=num_classes, input_shape=(32, 32, 3)),
        data=SimpleNamespace(train=train, resize="stretch"),
    )


def test_make_task_reads_the_recipe_section():
    task = make_task(recipe_with(SegmentationSpec(loss="dice", class_weights=[0.5, 2.0]), num_classes=2))
    assert (task.loss_kind, task.class_weights, task.num_classes) == ("dice", (0.5, 2.0), 2)
    assert make_task(None).loss_kind == "ce+dice"
    assert make_task({"task": "segmentation"}).class_weights is None   # .tflite metadata
    with pytest.raises(RecipeError, match=r"segmentation.class_weights: 3 weights given for model.num_classes=2"):
        make_task(recipe_with(SegmentationSpec(class_weights=[1, 1, 1]), num_classes=2))
    with pytest.raises(RecipeError, match=r"segmentation.class_weights: weights must be finite, >= 0"):
        make_task(recipe_with(SegmentationSpec(class_weights=[1, -1])))


def test_auto_class_weights_follow_inverse_pixel_frequency():
    spec = DatasetSpec(format="synthetic_shapes", samples=24, seed=0)
    recipe = recipe_with(SegmentationSpec(class_weights="auto"), train=spec)
    weights = auto_class_weights(recipe)
    # background covers most pixels, so it gets by far the smallest weight
    assert weights.shape == (6,)
    assert weights[0] < 0.5 and weights[1:].min() > 1.0
    loss = make_task(recipe).loss(recipe)
    assert loss.class_weights == pytest.approx(weights.tolist())
