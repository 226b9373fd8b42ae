"""Host-side scoring: TFLite outputs and the float Keras reference through one function.

`score()` uses the task's own `edgecv.tasks.get_task(task).score` (ARCHITECTURE.md) so
training metrics and benchmark metrics agree, and the Keras reference and the TFLite file
are scored by the same function, so the delta is fair.
"""
from __future__ import annotations

import numpy as np

from edgecv.errors import BenchError


def resolve_task(task, metadata=None):
    """A Task object, or a task name configured by a .tflite's edgecv metadata (a detection
    task needs its anchors and strides from there)."""
    if not isinstance(task, str):
        return task
    from edgecv.tasks import get_task

    return get_task(task, metadata)


def score(task, outputs, targets, class_names, metadata=None) -> dict:
    """Score model outputs (list of float arrays [N, ...]) -> dict(metric, value, ...) with
    the task's own numpy scorer, the one training and every report use."""
    outputs = [np.asarray(o, dtype=np.float32) for o in outputs]
    result = dict(resolve_task(task, metadata).score(outputs, targets, list(class_names)))
    result["value"] = float(result["value"])
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
    from edgecv.optimize.qat import load_keras_model as _load

    return _load(path, error=BenchError, what="the reference Keras model")


def reference_score(model, evalset, task=None, metadata=None) -> dict:
    """Score the float Keras model (object or saved path) on the eval set's samples."""
    from edgecv.bench.evalset import normalized, read_eval_set

    if not hasattr(evalset, "x"):
        evalset = read_eval_set(evalset)
    where = "the reference model" if hasattr(model, "predict") else str(model)
    if not hasattr(model, "predict"):
        model = load_keras_model(model)
    from edgecv.bench.compat import check_keras  # before predicting: shapes and classes agree

    check_keras(model, evalset, where)
    outputs = keras_outputs(model, normalized(evalset))
    result = score(task or evalset.task, outputs, evalset.targets, evalset.class_names, metadata)
    result["output_shapes"] = [list(o.shape) for o in outputs]
    result["outputs"] = outputs     # in memory only: what `fidelity` compares each file with
    return result


def fidelity(task, outputs, reference_outputs, metadata=None) -> dict:
    """The task's numpy comparison of a file's outputs with the float model's on the same
    samples (`Task.compare_outputs`; {} for tasks without one)."""
    if reference_outputs is None:
        return {}
    outputs = [np.asarray(o, dtype=np.float32) for o in outputs]
    reference_outputs = [np.asarray(o, dtype=np.float32) for o in reference_outputs]
    return dict(resolve_task(task, metadata).compare_outputs(outputs, reference_outputs))
