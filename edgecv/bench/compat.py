"""A model and an eval set must fit each other before anything is scored.

A segmentation model benched with a classification npz (or the reverse) ended in a numpy
traceback; a 3-class classifier scored against 5-class labels gave a plausible-looking,
meaningless top-1. Both are checked from shapes alone — the model's input and outputs
against the eval images, the task and the class list — and refused with one line.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from edgecv.errors import BenchError


class EvalMismatchError(BenchError):
    """The model cannot be scored on this eval set."""


def _dims(shape: Sequence) -> tuple:
    return tuple(None if d is None or int(d) < 0 else int(d) for d in shape)


def check_outputs(where: str, *, input_shape: Optional[Sequence], output_shapes: list[Sequence],
                  evalset, eval_path, model_task: Optional[str] = None) -> None:
    """EvalMismatchError naming the model and the eval set when they cannot be scored together.

    Shapes include the batch dimension (None or -1 = any)."""
    eval_path = getattr(evalset, "source", "") or eval_path   # the user's spec, not a temp npz
    task = evalset.task
    names = list(evalset.class_names)
    classes = len(names) if names else None
    if model_task not in (None, "unknown") and model_task != task:
        raise EvalMismatchError(f"{where}: a {model_task} model cannot be scored on {eval_path}, "
                                f"an eval set for {task}")
    image = tuple(int(d) for d in evalset.x.shape[1:])
    if input_shape is not None:
        wanted = _dims(input_shape)[1:]
        if len(wanted) == len(image) and any(w is not None and w != g for w, g in zip(wanted, image)):
            raise EvalMismatchError(f"{where}: the model takes {_fmt(wanted)} images but {eval_path} "
                                    f"holds {_fmt(image)} images")
    outputs = [_dims(s) for s in output_shapes]
    if task == "classification":
        if len(outputs) != 1 or len(outputs[0]) != 2:
            raise EvalMismatchError(f"{where}: {eval_path} is a classification eval set but the model's "
                                    f"output{'s are' if len(outputs) != 1 else ' is'} "
                                    f"{', '.join(_fmt(o) for o in outputs)}, not [N, classes]")
        width = outputs[0][1]
        labels = np.asarray(evalset.targets)
        if width is not None and classes is not None and width != classes:
            raise EvalMismatchError(f"{where}: the model outputs {width} classes but {eval_path} has "
                                    f"{classes} ({', '.join(names[:6])}{', ...' if classes > 6 else ''})")
        if width is not None and labels.size and int(labels.max()) >= width:
            raise EvalMismatchError(f"{where}: {eval_path} has label {int(labels.max())} but the model "
                                    f"outputs only {width} classes")
    elif task == "segmentation":
        masks = np.asarray(evalset.targets)
        per_pixel = [o for o in outputs if len(o) == 4]
        if len(per_pixel) != 1:
            raise EvalMismatchError(f"{where}: {eval_path} is a segmentation eval set but the model's "
                                    f"outputs are {', '.join(_fmt(o) for o in outputs)}, not [N, H, W, classes]")
        _, height, width, depth = per_pixel[0]
        if (height, width) != tuple(masks.shape[1:3]) and None not in (height, width):
            raise EvalMismatchError(f"{where}: the model outputs {height}x{width} masks but {eval_path} "
                                    f"holds {masks.shape[2]}x{masks.shape[1]} masks")
        if depth is not None and classes is not None and depth != classes:
            raise EvalMismatchError(f"{where}: the model outputs {depth} classes per pixel but "
                                    f"{eval_path} has {classes}")
    elif task == "detection":
        from edgecv.tasks.detection.postprocess import is_nms_layout

        if any(len(o) != 4 for o in outputs) and not is_nms_layout(outputs):
            raise EvalMismatchError(f"{where}: {eval_path} is a detection eval set but the model's outputs "
                                    f"are {', '.join(_fmt(o) for o in outputs)}, not YOLO heads [N, S, S, ...] "
                                    f"nor in-graph NMS detections [N, D, 4], [N, D], [N, D], [N]")


def _fmt(shape: Sequence) -> str:
    return "[" + ", ".join("N" if d is None else str(d) for d in shape) + "]"


def check_tflite(tflite_path, evalset, eval_path) -> None:
    """check_outputs for a .tflite file (its I/O shapes and edgecv metadata task)."""
    from edgecv.bench.runner import RunnerError, make_interpreter
    from edgecv.export.metadata import read_metadata

    try:
        interpreter = make_interpreter(tflite_path, delegate="none")
    except RunnerError:
        # No LiteRT on this host (--remote), or ops only a delegate has (Edge TPU): the
        # shapes cannot be read here; the runner reports its own error if it fails too.
        return
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    meta = read_metadata(tflite_path) or {}
    check_outputs(str(tflite_path), input_shape=inputs[0]["shape"] if len(inputs) == 1 else None,
                  output_shapes=[d["shape"] for d in outputs], evalset=evalset, eval_path=eval_path,
                  model_task=meta.get("task"))


def check_keras(model, evalset, where: str = "the reference model", eval_path="the eval set") -> None:
    """check_outputs for a Keras model (the float reference)."""
    shapes = model.output_shape if isinstance(model.output_shape, list) else [model.output_shape]
    inputs = model.input_shape if not isinstance(model.input_shape, list) else None
    check_outputs(where, input_shape=inputs, output_shapes=list(shapes), evalset=evalset,
                  eval_path=eval_path)
