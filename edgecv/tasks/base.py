"""What every task provides, and the defaults a task inherits for the optional steps.

The workflow calls each hook on every task; a task overrides only the ones it needs
(detection: `adapt_to_data` for `auto` anchors, `export_metadata` for decoding; both
image tasks: `write_examples`; embedding: `build_model` for its head, `batch_sampler` for
PK batches, `validation_callbacks` for the AUC that picks its best epoch, `adapt_to_model`
for its threshold and shipped features, `final_model` to ship them, `compare_outputs` for int8 fidelity). numpy-only: `score` runs where the bench runs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np


class Task:
    """Base class of every task (classification, detection, segmentation, ...)."""

    name: str
    monitor: str          # Keras history key that picks the best epoch, e.g. "val_accuracy"
    mode: str             # "max" or "min" for `monitor`
    # The key (its mode from its name) that picks the best epoch without a validation split,
    # for a monitor only `validation_callbacks` compute; None: `monitor` minus "val_".
    monitor_without_val: str | None = None

    # ------------------------------------------------------------ required
    def loss(self, recipe: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.loss")

    def score(self, outputs: Sequence[np.ndarray], targets: Any, class_names: Sequence[str]) -> dict:
        """Pure numpy: dict(metric=str, value=float, ...) for the Keras reference and every
        TFLite file alike, so the accuracy delta compares like with like."""
        raise NotImplementedError(f"{type(self).__name__}.score")

    # ------------------------------------------------------------ optional, with defaults
    def build_model(self, builder: Callable[..., Any], **kwargs: Any) -> Any:
        """The model to train from the recipe's registered `builder` and its keyword
        arguments (embedding: the backbone without its classifier plus a head)."""
        return builder(**kwargs)

    def batch_sampler(self, batch_size: int) -> Any:
        """How training batches are drawn (an `edgecv.data.sampling` sampler), or None for
        shuffled samples (embedding: P identities x K images)."""
        return None

    def metrics(self) -> list:
        """Keras metrics reported per epoch (none: the task scores whole sets in `score`)."""
        return []

    def validation_callbacks(self, val_data: Any) -> list:
        """Keras callbacks that add whole-set metrics of the prepared validation pipeline
        `val_data` to each epoch's logs before the best epoch is picked (embedding: the
        verification ROC AUC, `val_roc_auc`); called only when there is a validation split."""
        return []

    def prepare(self, dataset: Any, model: Any) -> Any:
        """Encode the pipeline's targets for the loss (identity unless the task needs more)."""
        return dataset

    def adapt_to_data(self, train_set: Any, model: Any = None) -> "Task":
        """Settle settings that come from the training data (e.g. YOLO `auto` anchors)."""
        return self

    def adapt_to_model(self, model: Any, val_set: Any) -> "Task":
        """Settle settings that need the trained float model, before export (e.g. the
        embedding's same/different threshold, picked on the validation split)."""
        return self

    def final_model(self, model: Any) -> Any:
        """The trained float model as the run ships it, after `adapt_to_model`: what
        model.keras holds, the Keras reference scores and the float files are converted
        from (embedding `features:` a backbone layer: that layer's features). Default: the
        model itself."""
        return model

    def compare_outputs(self, outputs: Sequence[np.ndarray], reference: Sequence[np.ndarray]) -> dict:
        """Pure numpy: how close a file's outputs are to the float model's on the same
        samples (embedding: cosine similarity); merged into the bench's accuracy entry."""
        return {}

    def chance_level(self, targets: Any, class_names: Sequence[str]) -> "float | None":
        """Pure numpy: the metric a model that learnt nothing scores on these targets (a
        constant guess), or None when the task has no such number. The bench warns when a
        file scores no better."""
        return None

    def export_metadata(self) -> dict:
        """Extra .tflite metadata an app needs to decode the outputs (e.g. anchors)."""
        return {}

    def restore(self, recorded: dict) -> "Task":
        """The task with the data-driven settings an earlier export of the same recipe
        recorded (`recorded`: the task part of its metadata) put back, so that a re-export
        that reuses them instead of recomputing them (`edgecv export RUN_DIR`) builds the
        same files. Default: nothing to restore."""
        return self

    def exported_model(self, model: Any, *, integer: bool = False) -> Any:
        """The Keras model the exported files hold: the trained model, unless the task puts
        its post-processing in the graph (detection `export.postprocess: nms`). `integer`:
        the file is a full-integer format (a task may refuse: ExportError)."""
        return model

    def app_outputs(self, keys: Sequence[str]) -> Any:
        """How the exported file's outputs (graph output names `keys`) are described to apps
        in the standard TFLite Model Metadata (`edgecv.tasks.app_outputs.AppOutputs`):
        plain features unless the task says what they are."""
        from edgecv.tasks.app_outputs import feature_outputs

        return feature_outputs(keys, f"{self.name} model output")

    def write_examples(self, run_dir: Any, x_uint8: np.ndarray, outputs: Sequence[np.ndarray],
                       targets: Any, class_names: Sequence[str]) -> list[Path]:
        """A few predictions drawn next to the truth, for a person to look at."""
        return []


def overrides(task: Task, hook: str) -> bool:
    """True when the task's class replaces the base class's default for `hook`, so a caller
    can skip the work that only feeds that hook (e.g. predicting images nobody draws)."""
    return getattr(type(task), hook) is not getattr(Task, hook)


def adapts_to_data(task: Task) -> bool:
    """True when the task settles settings from the training data or the trained model
    (overrides adapt_to_data or adapt_to_model): re-exporting a run then needs those
    settings back, from its files or recomputed."""
    return adapts_to_model(task) or overrides(task, "adapt_to_data")


def adapts_to_model(task: Task) -> bool:
    """True when the task settles settings from the trained model (overrides adapt_to_model)."""
    return overrides(task, "adapt_to_model")
