"""Segmentation metrics: hand-made masks against hand-computed numbers, and the
Keras training metrics against the numpy definition on the same predictions."""
from __future__ import annotations

import math

import numpy as np
import pytest

from edgecv.tasks import get_task
from edgecv.tasks.segmentation import decode_masks
from edgecv.tasks.segmentation.metrics import (
    confusion_matrix,
    dice_per_class,
    inverse_frequency_weights,
    iou_per_class,
    mean_dice,
    mean_iou,
    pixel_accuracy,
    segmentation_scores,
)


def one_hot_scores(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Per-pixel 'softmax' whose argmax is `labels` (what a model would output)."""
    probs = np.full(labels.shape + (num_classes,), 0.1 / num_classes, np.float32)
    np.put_along_axis(probs, labels[..., None].astype(np.int64), 0.9, axis=-1)
    return probs


# truth [0 1 1 / 0 1 1], prediction [0 0 1 / 1 1 1]:
#   confusion (rows truth) = [[1, 1], [1, 3]]
#   IoU0 = 1 / (2 + 2 - 1) = 1/3, IoU1 = 3 / (4 + 4 - 3) = 3/5, mIoU = 7/15
#   Dice0 = 2*1 / (2 + 2) = 1/2, Dice1 = 2*3 / (4 + 4) = 3/4, pixel accuracy = 4/6
TRUTH = np.array([[[0, 1, 1], [0, 1, 1]]], np.uint8)
PRED = np.array([[[0, 0, 1], [1, 1, 1]]], np.uint8)


def test_partial_overlap_matches_hand_computed_values():
    cm = confusion_matrix(TRUTH, PRED, 2)
    assert cm.tolist() == [[1, 1], [1, 3]]
    assert iou_per_class(cm) == pytest.approx([1 / 3, 3 / 5])
    assert mean_iou(cm) == pytest.approx(7 / 15)
    assert dice_per_class(cm) == pytest.approx([1 / 2, 3 / 4])
    assert mean_dice(cm) == pytest.approx(5 / 8)
    assert pixel_accuracy(cm) == pytest.approx(4 / 6)


def test_perfect_match_scores_one_and_excludes_the_empty_class():
    masks = np.array([[[0, 0, 2], [2, 2, 0]]], np.uint8)          # class 1 is in neither
    scores = segmentation_scores(one_hot_scores(masks, 3), masks, ["background", "circle", "square"])
    assert scores["metric"] == "mIoU"
    assert scores["value"] == 1.0
    assert scores["pixel_accuracy"] == 1.0
    assert scores["mean_dice"] == 1.0
    assert scores["per_class_iou"] == {"background": 1.0, "circle": None, "square": 1.0}
    assert scores["confusion"] == [[3, 0, 0], [0, 0, 0], [0, 0, 3]]


def test_disjoint_prediction_scores_zero_for_both_classes():
    truth = np.array([[[1, 1], [0, 0]]], np.uint8)
    predicted = np.array([[[2, 2], [0, 0]]], np.uint8)
    cm = confusion_matrix(truth, predicted, 3)
    # class 0 exact (IoU 1), class 1 missed (0/2), class 2 all false positives (0/2)
    assert iou_per_class(cm) == pytest.approx([1.0, 0.0, 0.0])
    assert mean_iou(cm) == pytest.approx(1 / 3)
    assert pixel_accuracy(cm) == 0.5
    fully_disjoint = confusion_matrix(np.ones((1, 2, 2)), np.zeros((1, 2, 2)), 2)
    assert mean_iou(fully_disjoint) == 0.0 and mean_dice(fully_disjoint) == 0.0


def test_empty_class_is_excluded_not_counted_as_zero_or_one():
    # Class 3 appears in neither truth nor prediction: the mean is over classes 0..2 only.
    cm = confusion_matrix(TRUTH, PRED, 4)
    ious = iou_per_class(cm)
    assert math.isnan(ious[2]) and math.isnan(ious[3])
    assert mean_iou(cm) == pytest.approx(7 / 15)
    # A class predicted but absent from the truth is NOT excluded: IoU 0 pulls the mean down.
    predicted = PRED.copy()
    predicted[0, 0, 0] = 3
    ious = iou_per_class(confusion_matrix(TRUTH, predicted, 4))
    assert ious[3] == 0.0
    assert mean_iou(confusion_matrix(TRUTH, predicted, 4)) == pytest.approx((0 + 3 / 5 + 0) / 3)


def test_void_labels_outside_the_classes_are_ignored():
    truth = TRUTH.copy()
    truth[0, 0, 0] = 255          # VOC-style "void" border pixel
    cm = confusion_matrix(truth, PRED, 2)
    assert cm.sum() == 5
    assert cm.tolist() == [[0, 1], [1, 3]]


def test_scores_need_pixels_and_matching_shapes():
    with pytest.raises(ValueError, match="does not match"):
        segmentation_scores(np.zeros((1, 4, 4, 2)), np.zeros((1, 4, 5)), ["a", "b"])
    with pytest.raises(ValueError, match="no labelled pixels"):
        pixel_accuracy(np.zeros((2, 2)))


def test_task_score_and_decode_go_through_the_same_definition():
    task = get_task("segmentation")
    probs = one_hot_scores(PRED, 2)
    scores = task.score([probs], TRUTH, ["background"])          # missing names are filled in
    assert scores["value"] == pytest.approx(7 / 15)
    assert scores["per_class_iou"] == pytest.approx({"background": 1 / 3, "class_1": 3 / 5})
    assert decode_masks([probs]).tolist() == PRED.tolist()
    assert decode_masks(probs).dtype == np.uint8


def test_inverse_frequency_weights_are_balanced():
    masks = np.array([[[0, 0, 0, 0, 0, 0], [1, 1, 1, 0, 0, 0]]])   # 9 px of 0, 3 px of 1, none of 2
    weights = inverse_frequency_weights(masks, 3)
    # 12 px / (3 classes * count); an absent class gets 1.0
    assert weights == pytest.approx([12 / 27, 12 / 9, 1.0])


# ---------------------------------------------------------------- Keras == numpy
def test_keras_metrics_equal_numpy_metrics_on_random_batches():
    import tensorflow as tf

    rng = np.random.default_rng(3)
    num_classes = 5
    masks = rng.integers(0, 3, (6, 12, 12)).astype(np.int32)       # classes 3, 4 never true
    masks[0, 0, :4] = 255                                            # void pixels
    logits = rng.normal(size=(6, 12, 12, num_classes)).astype(np.float32)
    logits[..., 4] -= 10                                             # class 4 never predicted either
    probs = tf.nn.softmax(logits).numpy()

    task = get_task("segmentation")
    miou, accuracy = task.metrics()
    for start in (0, 2, 4):                                          # accumulate over 3 batches
        miou.update_state(masks[start:start + 2], probs[start:start + 2])
        accuracy.update_state(masks[start:start + 2], probs[start:start + 2])
    expected = segmentation_scores(probs, masks, [str(i) for i in range(num_classes)])
    assert expected["per_class_iou"]["4"] is None
    assert float(miou.result()) == pytest.approx(expected["value"], abs=1e-6)
    assert float(accuracy.result()) == pytest.approx(expected["pixel_accuracy"], abs=1e-6)
    miou.reset_state()
    assert float(miou.result()) == 0.0


def test_keras_metric_inside_fit_and_evaluate_matches_numpy_score():
    """The metric builds its variables on the first traced batch (class count unknown before)."""
    import tensorflow as tf
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 8, 8, 3)).astype(np.float32)
    masks = rng.integers(0, 3, (8, 8, 8)).astype(np.int32)
    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.Conv2D(3, 1, activation="softmax")(inputs)
    model = keras.Model(inputs, outputs)
    task = get_task("segmentation")
    model.compile(optimizer="adam", loss=task.loss(None), metrics=task.metrics())
    history = model.fit(x, masks, batch_size=4, epochs=1, validation_data=(x, masks), verbose=0)
    assert "val_mean_iou" in history.history and task.monitor == "val_mean_iou"
    results = model.evaluate(x, masks, batch_size=4, verbose=0, return_dict=True)
    expected = task.score([model.predict(x, verbose=0)], masks, ["a", "b", "c"])
    assert results["mean_iou"] == pytest.approx(expected["value"], abs=1e-6)
    assert results["pixel_accuracy"] == pytest.approx(expected["pixel_accuracy"], abs=1e-6)
    assert tf.is_tensor(model.metrics[-1].confusion)
