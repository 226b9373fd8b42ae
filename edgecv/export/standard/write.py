"""The one entry point export uses: a converted .tflite (edgecv metadata embedded) ->
the same file with the standard TFLite Model Metadata and its packed labels."""
from __future__ import annotations

from typing import Optional

from edgecv.export.standard.describe import describe
from edgecv.export.standard.embed import embed_standard


def add_standard_metadata(model_bytes: bytes, meta: dict, *, name: str) -> bytes:
    """Describe the file from its edgecv metadata `meta` and its task, and embed it."""
    from edgecv.export.flatbuffer import load_model_object, output_keys

    model, _, _ = load_model_object(model_bytes)
    keys = output_keys(model)
    described, files = describe(meta, keys, _task_outputs(meta, keys), name=name)
    return embed_standard(model_bytes, described, files)


def _task_outputs(meta: dict, keys: list[str]) -> Optional[object]:
    """The task's own description of the outputs (configured from the file's edgecv
    metadata, as the bench does), or None for a model exported without a task."""
    from edgecv.tasks import get_task
    from edgecv.tasks.table import TASKS

    task = meta.get("task")
    if task not in TASKS:
        return None
    return get_task(task, meta).app_outputs(keys)
