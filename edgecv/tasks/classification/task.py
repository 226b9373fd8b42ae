"""Classification: sparse labels, softmax outputs, top-1 / top-5 accuracy."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from edgecv.tasks.base import Task


@dataclass(frozen=True)
class ClassificationTask(Task):
    name: str = "classification"
    monitor: str = "val_accuracy"
    mode: str = "max"

    def loss(self, recipe: Any):
        import tensorflow as tf
        import tf_keras as keras

        smoothing = float(getattr(recipe.train, "label_smoothing", 0.0))
        if not smoothing:
            return keras.losses.SparseCategoricalCrossentropy()

        # tf_keras' sparse loss has no label smoothing; one-hot the labels for it.
        def smoothed_crossentropy(y_true, y_pred):
            depth = tf.shape(y_pred)[-1]
            one_hot = tf.one_hot(tf.cast(tf.reshape(y_true, [-1]), tf.int32), depth)
            return keras.losses.categorical_crossentropy(one_hot, y_pred, label_smoothing=smoothing)

        return smoothed_crossentropy

    def metrics(self) -> list:
        import tf_keras as keras

        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    def app_outputs(self, keys):
        from edgecv.tasks.app_outputs import AppOutputs, OutputTensor, only_key

        return AppOutputs((OutputTensor(
            key=only_key(keys, self.name), name="probability",
            description="Probability of each class (softmax), in the order of labels.txt",
            labels="axis", value_bounds=(0.0, 1.0)),), summary="image classifier")

    def score(self, outputs: Sequence[np.ndarray], targets: Any, class_names: Sequence[str]) -> dict:
        probs = np.asarray(outputs[0], dtype=np.float32).reshape(len(targets), -1)
        return classification_scores(probs, np.asarray(targets), len(class_names))

    def chance_level(self, targets: Any, class_names: Sequence[str]) -> float | None:
        """Top-1 of always answering the most frequent class of the eval set."""
        labels = np.asarray(targets).astype(np.int64).reshape(-1)
        if len(labels) == 0:
            return None
        return float(np.bincount(labels).max() / len(labels))


def classification_scores(probs: np.ndarray, labels: np.ndarray, num_classes: int) -> dict:
    """Top-1 (the report's metric), top-5 and the confusion matrix (rows: truth)."""
    if len(labels) == 0:
        raise ValueError("cannot score an empty evaluation set")
    labels = labels.astype(np.int64).reshape(-1)
    predicted = probs.argmax(axis=1)
    top_k = min(5, probs.shape[1])
    best_k = np.argsort(-probs, axis=1, kind="stable")[:, :top_k]
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    return {
        "metric": "top1",
        "value": float(np.mean(predicted == labels)),
        "top5": float(np.mean((best_k == labels[:, None]).any(axis=1))),
        "samples": int(len(labels)),
        "confusion": confusion.tolist(),
    }


TASK = ClassificationTask()


def make_task(source: Any = None) -> ClassificationTask:
    """Classification needs no options: the same task for a recipe, metadata or nothing."""
    return TASK
