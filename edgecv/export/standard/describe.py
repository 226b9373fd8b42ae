"""What one exported .tflite file says about itself in the standard metadata: its input
image (colour space, the normalisation edgecv trains with, value range), its outputs as
the task describes them (`Task.app_outputs`, matched to the file's outputs by name) and
the recipe's name, description, version and author. Returns the ModelMetadata table as
a dict (codec.encode writes it) and the associated files to pack."""
from __future__ import annotations

from typing import Any, Optional, Sequence

from edgecv.errors import ExportError
from edgecv.export.standard.schema import (AssociatedFileType, BoundingBoxType,
                                           ColorSpaceType)
from edgecv.tasks.app_outputs import AppOutputs, OutputTensor, feature_outputs

LABELS_FILE = "labels.txt"
# 1.0.0 covers every table edgecv writes but TensorGroup (added in 1.2.0).
_PARSER_BASE, _PARSER_GROUPS = "1.0.0", "1.2.0"


def describe(meta: dict, output_keys: Sequence[str], app: Optional[AppOutputs] = None,
             *, name: str) -> tuple[dict, dict[str, bytes]]:
    """(ModelMetadata dict, {file name: bytes}) for a file with edgecv metadata `meta` and
    graph outputs named `output_keys` in the file's order."""
    labels = meta.get("labels") or None
    app = app or feature_outputs(output_keys, "model output")
    outputs = [_output(t, labels) for t in _match(app, output_keys)]
    subgraph: dict[str, Any] = {
        "name": name,
        "input_tensor_metadata": [_image_input(meta)],
        "output_tensor_metadata": outputs,
    }
    if app.group is not None:
        subgraph["output_tensor_groups"] = [{"name": app.group[0],
                                              "tensor_names": list(app.group[1])}]
    about = meta.get("about") or {}
    model = {
        "name": about.get("name") or name,
        "description": about.get("description") or _description(meta, app),
        "version": about.get("version") or meta.get("recipe_hash") or "unversioned",
        "author": about.get("author") or "edgecv",
        "subgraph_metadata": [subgraph],
        "min_parser_version": _PARSER_GROUPS if app.group is not None else _PARSER_BASE,
    }
    if about.get("license"):
        model["license"] = about["license"]
    files = {}
    if labels and any(t.labels for t in app.tensors):
        files[LABELS_FILE] = ("\n".join(str(label) for label in labels) + "\n").encode("utf-8")
    return model, files


def _match(app: AppOutputs, keys: Sequence[str]) -> list[OutputTensor]:
    by_key = {t.key: t for t in app.tensors}
    missing = [k for k in keys if k not in by_key]
    if missing or len(by_key) != len(keys):
        raise ExportError(f"the file's outputs {list(keys)} do not match the outputs the task "
                          f"describes {sorted(by_key)}")
    return [by_key[k] for k in keys]


def _image_input(meta: dict) -> dict:
    inputs = meta.get("inputs") or [{}]
    tensor = inputs[0]
    shape = tensor.get("shape") or meta.get("input_shape") or []
    channels = shape[-1] if shape else 3
    norm = meta.get("normalization") or {"mean": 127.5, "std": 127.5}
    mean, std = float(norm["mean"]), float(norm["std"])
    dtype = tensor.get("dtype", "float32")
    # What the input tensor holds: raw pixels for integer inputs (their scale and zero
    # point do the normalisation), normalised values for float inputs.
    bounds = {"uint8": (0.0, 255.0), "int8": (-128.0, 127.0)}.get(
        dtype, ((0.0 - mean) / std, (255.0 - mean) / std))
    color = ColorSpaceType.GRAYSCALE if channels == 1 else ColorSpaceType.RGB
    return {
        "name": "image",
        "description": (f"Input image, {'greyscale' if channels == 1 else 'RGB'} "
                        f"{shape[1] if len(shape) > 2 else '?'}x{shape[2] if len(shape) > 2 else '?'}"
                        f", normalised as (pixel - {mean:g}) / {std:g}"),
        "content": {"content_properties": ("ImageProperties", {"color_space": color})},
        "process_units": [{"options": ("NormalizationOptions",
                                       {"mean": [mean], "std": [std]})}],
        "stats": {"min": [bounds[0]], "max": [bounds[1]]},
    }


def _output(t: OutputTensor, labels: Optional[list]) -> dict:
    entry: dict[str, Any] = {"name": t.name, "description": t.description}
    content: dict[str, Any] = {"content_properties": ("FeatureProperties", {})}
    if t.boxes:
        content["content_properties"] = ("BoundingBoxProperties", {
            "index": list(t.box_index), "type": BoundingBoxType.BOUNDARIES,
            "coordinate_type": 0})   # RATIO: coordinates in [0, 1]
    if t.value_range is not None:
        content["range"] = {"min": t.value_range[0], "max": t.value_range[1]}
    entry["content"] = content
    if t.score_threshold is not None:
        entry["process_units"] = [{"options": ("ScoreThresholdingOptions",
                                               {"global_score_threshold": float(t.score_threshold)})}]
    if t.value_bounds is not None:
        entry["stats"] = {"min": [float(t.value_bounds[0])], "max": [float(t.value_bounds[1])]}
    if t.labels and labels:
        kind = (AssociatedFileType.TENSOR_AXIS_LABELS if t.labels == "axis"
                else AssociatedFileType.TENSOR_VALUE_LABELS)
        entry["associated_files"] = [{"name": LABELS_FILE, "description": "Class names",
                                      "type": kind}]
    return entry


def _description(meta: dict, app: AppOutputs) -> str:
    what = app.summary or f"{meta.get('task', 'unknown')} model"
    arch = meta.get("model")
    return f"{what}{f' ({arch})' if arch else ''}, exported by edgecv {meta.get('edgecv_version', '')}".strip()
