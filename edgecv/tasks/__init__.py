"""Per-task training and scoring: loss, metrics, target encoding, numpy scoring.

`score()` is pure numpy and is used for the float Keras reference and for every
TFLite file alike, so the accuracy delta in a report compares like with like.
"""
from __future__ import annotations

import importlib
from typing import Any, Protocol, Sequence

import numpy as np

from edgecv.errors import RecipeError
from edgecv.registry import suggest

# task name -> module defining `TASK` or `make_task(recipe)`; imported on first use (they import TensorFlow).
TASK_MODULES = {
    "classification": "edgecv.tasks.classification",
    "detection": "edgecv.tasks.detection",
    "segmentation": "edgecv.tasks.segmentation",
}


class Task(Protocol):
    name: str
    monitor: str          # Keras history key that picks the best epoch, e.g. "val_accuracy"
    mode: str             # "max" or "min" for `monitor`

    def loss(self, recipe: Any) -> Any: ...
    def metrics(self) -> list: ...
    def prepare(self, dataset: Any, model: Any) -> Any: ...
    def score(self, outputs: Sequence[np.ndarray], targets: Any, class_names: Sequence[str]) -> dict: ...

    # Optional hooks the workflow calls when a task defines them:
    #   adapt_to_data(train_set) -> Task      settle data-driven settings (YOLO `auto` anchors)
    #   export_metadata() -> dict             extra .tflite metadata to decode outputs (anchors)
    #   write_examples(run_dir, x_uint8, outputs, targets, class_names) -> list[Path]
    #                                         a few predictions drawn next to the truth


def get_task(name: str, recipe: Any = None) -> Task:
    """The task object; modules with `make_task(recipe)` are configured by the recipe
    (or by a .tflite file's metadata dict), the others expose a fixed `TASK`."""
    if name not in TASK_MODULES:
        raise RecipeError(f"task: unknown task {name!r}{suggest(name, list(TASK_MODULES))}")
    try:
        module = importlib.import_module(TASK_MODULES[name])
    except ModuleNotFoundError as exc:
        if exc.name == TASK_MODULES[name]:
            raise RecipeError(f"task: {name!r} is not built yet in this edgecv version") from None
        raise
    make_task = getattr(module, "make_task", None)
    return make_task(recipe) if make_task is not None else module.TASK
