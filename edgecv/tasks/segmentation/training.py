"""Segmentation loss and training metrics in tf_keras.

Imported only when a segmentation model is trained (it imports TensorFlow).
The metrics accumulate the same pixel confusion matrix as
`metrics.confusion_matrix` and reduce it with the same rules, so
`val_mean_iou` in the training history equals the numpy mIoU on the same
predictions. Labels outside `[0, classes)` are ignored by loss and metrics alike.

Inputs: `y_true` int masks `[B, H, W]` (a trailing 1-channel axis is accepted),
`y_pred` per-pixel softmax `[B, H, W, C]` (the model output contract).
"""
from __future__ import annotations

from typing import Optional, Sequence

import tensorflow as tf
import tf_keras as keras

from edgecv.errors import RecipeError
from edgecv.tasks.segmentation.config import LOSS_KINDS

DICE_SMOOTH = 1.0   # keeps Dice defined (= 1) for a class absent from truth and prediction


def _flat_pixels(y_true, y_pred):
    """-> (labels int32 [P] with invalid set to 0, valid float32 [P], probs float32 [P, C])."""
    num_classes = y_pred.shape[-1]
    probs = tf.reshape(tf.cast(y_pred, tf.float32), [-1, num_classes])
    labels = tf.cast(tf.reshape(y_true, [-1]), tf.int32)
    valid = tf.logical_and(labels >= 0, labels < num_classes)
    return tf.where(valid, labels, 0), tf.cast(valid, tf.float32), probs


@keras.utils.register_keras_serializable(package="edgecv")
class SegmentationLoss(keras.losses.Loss):
    """Per-pixel cross-entropy, soft Dice, or their sum, with optional class weights.

    - ce: sum_p w[y_p] * -log(q_p[y_p]) / sum_p w[y_p] over the batch's labelled
      pixels (a weighted mean, so the scale does not depend on the weights' scale).
    - dice: 1 - sum_c w_c * dice_c / sum_c w_c with, per class over the whole batch,
      dice_c = (2 * sum(q_c * t_c) + s) / (sum(q_c) + sum(t_c) + s), s = DICE_SMOOTH,
      q = softmax output, t = one-hot truth.
    - ce+dice: their sum.
    """

    def __init__(self, kind: str = "ce+dice", class_weights: Optional[Sequence[float]] = None,
                 name: str = "segmentation_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        if kind not in LOSS_KINDS:
            raise RecipeError(f"segmentation.loss: unknown loss {kind!r}; expected one of {list(LOSS_KINDS)}")
        self.kind = kind
        self.class_weights = None if class_weights is None else [float(w) for w in class_weights]

    def _weights(self, num_classes: int):
        if self.class_weights is None:
            return tf.ones([num_classes], tf.float32)
        if len(self.class_weights) != num_classes:
            raise RecipeError(
                f"segmentation.class_weights: {len(self.class_weights)} weights given for a model "
                f"with {num_classes} classes; give one weight per class (background first) or `auto`")
        return tf.constant(self.class_weights, tf.float32)

    def call(self, y_true, y_pred):
        num_classes = y_pred.shape[-1]
        labels, valid, probs = _flat_pixels(y_true, y_pred)
        weights = self._weights(num_classes)
        total = tf.constant(0.0)
        if "ce" in self.kind.split("+"):
            total += _weighted_crossentropy(labels, valid, probs, weights)
        if "dice" in self.kind.split("+"):
            total += _dice_loss(labels, valid, probs, weights)
        return total

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "class_weights": self.class_weights}


def _weighted_crossentropy(labels, valid, probs, weights):
    eps = keras.backend.epsilon()
    true_prob = tf.gather(probs, labels, batch_dims=1)
    pixel_weight = tf.gather(weights, labels) * valid
    loss = -tf.math.log(tf.clip_by_value(true_prob, eps, 1.0))
    return tf.reduce_sum(pixel_weight * loss) / tf.maximum(tf.reduce_sum(pixel_weight), eps)


def _dice_loss(labels, valid, probs, weights):
    one_hot = tf.one_hot(labels, tf.shape(probs)[-1]) * valid[:, None]
    probs = probs * valid[:, None]
    intersection = tf.reduce_sum(one_hot * probs, axis=0)
    sizes = tf.reduce_sum(one_hot, axis=0) + tf.reduce_sum(probs, axis=0)
    dice = (2.0 * intersection + DICE_SMOOTH) / (sizes + DICE_SMOOTH)
    return 1.0 - tf.reduce_sum(weights * dice) / tf.maximum(tf.reduce_sum(weights), keras.backend.epsilon())


class _PixelConfusion(keras.metrics.Metric):
    """Accumulates the [true, predicted] pixel confusion matrix over argmax predictions.

    The class count is taken from the model output on the first batch when not
    given, because the task's `metrics()` is called before the data tells how
    many classes there are. float64 counts stay exact past 2**24 pixels.
    """

    def __init__(self, name: str, num_classes: Optional[int] = None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.num_classes = num_classes
        self.confusion = None
        if num_classes is not None:
            self._build(num_classes)

    def _build(self, num_classes: int) -> None:
        self.num_classes = int(num_classes)
        self.confusion = self.add_weight("confusion", shape=(self.num_classes, self.num_classes),
                                         initializer="zeros", dtype=tf.float64)

    def update_state(self, y_true, y_pred, sample_weight=None):
        if self.confusion is None:
            self._build(y_pred.shape[-1])
        num_classes = self.num_classes
        labels, valid, probs = _flat_pixels(y_true, y_pred)
        predicted = tf.argmax(probs, axis=-1, output_type=tf.int32)
        weight = tf.cast(valid, tf.float64)
        if sample_weight is not None:
            sample_weight = tf.cast(sample_weight, tf.float64)
            while sample_weight.shape.rank is not None and sample_weight.shape.rank < y_true.shape.rank:
                sample_weight = sample_weight[..., None]
            weight *= tf.reshape(tf.broadcast_to(sample_weight, tf.shape(y_true)), [-1])
        batch = tf.math.confusion_matrix(labels, predicted, num_classes=num_classes,
                                         weights=weight, dtype=tf.float64)
        return self.confusion.assign_add(batch)

    def reset_state(self):
        if self.confusion is not None:
            self.confusion.assign(tf.zeros_like(self.confusion))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


@keras.utils.register_keras_serializable(package="edgecv")
class MeanIoU(_PixelConfusion):
    """mIoU over argmax predictions; classes absent from truth and prediction are excluded."""

    def __init__(self, name: str = "mean_iou", num_classes: Optional[int] = None, **kwargs):
        super().__init__(name=name, num_classes=num_classes, **kwargs)

    def result(self):
        if self.confusion is None:
            return tf.constant(0.0, tf.float32)
        intersection = tf.linalg.diag_part(self.confusion)
        union = tf.reduce_sum(self.confusion, 0) + tf.reduce_sum(self.confusion, 1) - intersection
        present = union > 0
        iou = tf.where(present, intersection / tf.where(present, union, 1.0), 0.0)
        count = tf.reduce_sum(tf.cast(present, tf.float64))
        return tf.cast(tf.math.divide_no_nan(tf.reduce_sum(iou), count), tf.float32)


@keras.utils.register_keras_serializable(package="edgecv")
class PixelAccuracy(_PixelConfusion):
    """Fraction of labelled pixels whose argmax class is right."""

    def __init__(self, name: str = "pixel_accuracy", num_classes: Optional[int] = None, **kwargs):
        super().__init__(name=name, num_classes=num_classes, **kwargs)

    def result(self):
        if self.confusion is None:
            return tf.constant(0.0, tf.float32)
        correct = tf.linalg.trace(self.confusion)
        return tf.cast(tf.math.divide_no_nan(correct, tf.reduce_sum(self.confusion)), tf.float32)
