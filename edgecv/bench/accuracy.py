"""Host-side scoring: TFLite outputs and the float Keras reference through one function.

`score()` prefers the task's own `edgecv.tasks.get_task(task).score` (ARCHITECTURE.md) so
training metrics and benchmark metrics agree; classification and segmentation fall back to
the numpy metrics below when the task module does not provide one. Either way the Keras
reference and the TFLite file are scored by the same function, so the delta is fair.
"""
from __future__ import annotations

import numpy as np

from edgecv.errors import BenchError


def top_k_accuracy(probs: np.ndarray, labels: np.ndarray, k: int = 1) -> float:
    """Fraction of samples whose label is among the k highest scores."""
    probs = np.asarray(probs)
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    k = min(k, probs.shape[1])
    best = np.argsort(-probs, axis=1)[:, :k]
    return float(np.mean(np.any(best == labels[:, None], axis=1)))


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """[true, predicted] counts."""
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    predictions = np.asarray(predictions).astype(np.int64).reshape(-1)
    keep = (labels >= 0) & (labels < num_classes)
    flat = labels[keep] * num_classes + predictions[keep]
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def mean_iou(masks: np.ndarray, predictions: np.ndarray, num_classes: int) -> tuple[float, np.ndarray]:
    """Mean IoU over classes present in the targets or the predictions."""
    cm = confusion_matrix(masks, predictions, num_classes).astype(np.float64)
    intersection = np.diag(cm)
    union = cm.sum(0) + cm.sum(1) - intersection
    iou = np.where(union > 0, intersection / np.maximum(union, 1), np.nan)
    return float(np.nanmean(iou)) if np.any(union > 0) else 0.0, iou


def _classification_score(outputs, targets, class_names):
    probs = outputs[0]
    labels = np.asarray(targets)
    num_classes = probs.shape[1]
    return {"metric": "top1", "value": top_k_accuracy(probs, labels, 1),
            "top5": top_k_accuracy(probs, labels, 5),
            "confusion": confusion_matrix(labels, probs.argmax(1), num_classes).tolist()}


def _segmentation_score(outputs, targets, class_names):
    probs = outputs[0]
    value, per_class = mean_iou(np.asarray(targets), probs.argmax(-1), probs.shape[-1])
    return {"metric": "miou", "value": value,
            "per_class_iou": [None if np.isnan(v) else float(v) for v in per_class]}


_FALLBACK = {"classification": _classification_score, "segmentation": _segmentation_score}


def _task_scorer(task: str):
    try:
        from edgecv.tasks import get_task
    except ImportError:
        get_task = None
    if get_task is not None:
        try:
            return get_task(task).score
        except Exception:  # task not registered yet: use the harness' own numpy metric
            if task not in _FALLBACK:
                raise
    if task in _FALLBACK:
        return _FALLBACK[task]
    raise BenchError(f"no scorer for task {task!r}: edgecv.tasks.get_task({task!r}) is not available")


def score(task: str, outputs, targets, class_names) -> dict:
    """Score model outputs (list of float arrays [N, ...]) -> dict(metric, value, ...)."""
    outputs = [np.asarray(o, dtype=np.float32) for o in outputs]
    result = dict(_task_scorer(task)(outputs, targets, list(class_names)))
    result["value"] = float(result["value"])
    # Classification: add the confusion matrix for the report's plot when the task's scorer
    # did not, and the class count is small enough to draw.
    if task == "classification" and "confusion" not in result and outputs[0].ndim == 2:
        if outputs[0].shape[1] <= 50:
            result["confusion"] = confusion_matrix(
                targets, outputs[0].argmax(1), outputs[0].shape[1]).tolist()
    return result


def align_outputs(outputs: list[np.ndarray], reference_shapes: list[tuple]) -> list[np.ndarray]:
    """Reorder TFLite outputs to the Keras model's output order by matching shapes.

    The converter does not promise to keep Keras' output order for multi-output models
    (detection heads); shapes are unique per head, so they identify each tensor.
    """
    if len(outputs) <= 1 or not reference_shapes:
        return list(outputs)
    remaining = list(outputs)
    ordered = []
    for shape in reference_shapes:
        match = [o for o in remaining if tuple(o.shape[1:]) == tuple(shape[1:])]
        if len(match) != 1:
            return list(outputs)  # ambiguous: keep the interpreter's order
        ordered.append(match[0])
        remaining = [o for o in remaining if o is not match[0]]
    return ordered


def keras_outputs(model, x_float: np.ndarray, batch_size: int = 32) -> list[np.ndarray]:
    """Float Keras model on the normalised samples -> list of output arrays."""
    predicted = model.predict(x_float, batch_size=batch_size, verbose=0)
    if isinstance(predicted, dict):
        predicted = list(predicted.values())
    if not isinstance(predicted, (list, tuple)):
        predicted = [predicted]
    return [np.asarray(p, dtype=np.float32) for p in predicted]


def load_keras_model(path):
    """Load a saved float (or QAT-wrapped) Keras model for the reference score."""
    import edgecv  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TF loads)
    import tf_keras as keras

    try:
        from edgecv.optimize.qat import quantize_scope
    except ImportError:
        quantize_scope = None
    try:
        if quantize_scope is not None:
            with quantize_scope():
                return keras.models.load_model(path, compile=False)
        return keras.models.load_model(path, compile=False)
    except (OSError, ValueError) as exc:
        raise BenchError(f"{path}: cannot load the reference Keras model ({exc})") from None


def reference_score(model, evalset) -> dict:
    """Score the float Keras model (object or saved path) on the eval set's samples."""
    from edgecv.bench.evalset import normalized, read_eval_set

    if not hasattr(evalset, "x"):
        evalset = read_eval_set(evalset)
    if not hasattr(model, "predict"):
        model = load_keras_model(model)
    outputs = keras_outputs(model, normalized(evalset))
    result = score(evalset.task, outputs, evalset.targets, evalset.class_names)
    result["output_shapes"] = [list(o.shape) for o in outputs]
    return result
