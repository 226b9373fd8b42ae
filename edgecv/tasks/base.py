"""What every task provides, and the defaults a task inherits for the optional steps.

The workflow calls each hook on every task; a task overrides only the ones it needs
(detection: `adapt_to_data` for `auto` anchors, `export_metadata` for decoding; both
image tasks: `write_examples`). numpy-only: `score` runs where the bench runs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np


class Task:
    """Base class of every task (classification, detection, segmentation, ...)."""

    name: str
    monitor: str          # Keras history key that picks the best epoch, e.g. "val_accuracy"
    mode: str             # "max" or "min" for `monitor`

    # ------------------------------------------------------------ required
    def loss(self, recipe: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.loss")

    def score(self, outputs: Sequence[np.ndarray], targets: Any, class_names: Sequence[str]) -> dict:
        """Pure numpy: dict(metric=str, value=float, ...) for the Keras reference and every
        TFLite file alike, so the accuracy delta compares like with like."""
        raise NotImplementedError(f"{type(self).__name__}.score")

    # ------------------------------------------------------------ optional, with defaults
    def metrics(self) -> list:
        """Keras metrics reported per epoch (none: the task scores whole sets in `score`)."""
        return []

    def prepare(self, dataset: Any, model: Any) -> Any:
        """Encode the pipeline's targets for the loss (identity unless the task needs more)."""
        return dataset

    def adapt_to_data(self, train_set: Any, model: Any = None) -> "Task":
        """Settle settings that come from the training data (e.g. YOLO `auto` anchors)."""
        return self

    def export_metadata(self) -> dict:
        """Extra .tflite metadata an app needs to decode the outputs (e.g. anchors)."""
        return {}

    def write_examples(self, run_dir: Any, x_uint8: np.ndarray, outputs: Sequence[np.ndarray],
                       targets: Any, class_names: Sequence[str]) -> list[Path]:
        """A few predictions drawn next to the truth, for a person to look at."""
        return []


def adapts_to_data(task: Task) -> bool:
    """True when the task settles settings from the training data (overrides adapt_to_data):
    re-exporting a run then needs those settings back, from its files or its data."""
    return type(task).adapt_to_data is not Task.adapt_to_data
