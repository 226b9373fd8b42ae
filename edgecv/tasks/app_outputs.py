"""How a task describes its model's outputs to apps: the vocabulary of the `Task.app_outputs`
hook, which `edgecv.export.standard` turns into the standard TFLite Model Metadata that
MediaPipe Tasks read (plain data: no flatbuffers, no TensorFlow, no export code).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class OutputTensor:
    """One graph output, found by its name in the file (`key`: the Keras output name,
    which becomes the TFLite signature's output name), never by its position."""
    key: str
    name: str                          # the metadata name apps see; MediaPipe's detector matches it
    description: str
    boxes: bool = False                # BoundingBoxProperties (BOUNDARIES, RATIO) instead of features
    box_index: tuple[int, int, int, int] = (0, 1, 2, 3)   # positions of left, top, right, bottom
    labels: Optional[str] = None       # "axis": labels.txt names the last axis (scores per class);
                                       # "value": the values are label indices (detected classes)
    value_range: Optional[tuple[int, int]] = None   # Content.range: the dims one object spans
    value_bounds: Optional[tuple[float, float]] = None   # Stats: (min, max) by construction
    score_threshold: Optional[float] = None          # ScoreThresholdingOptions


@dataclass(frozen=True)
class AppOutputs:
    tensors: tuple[OutputTensor, ...]
    group: Optional[tuple[str, tuple[str, ...]]] = None   # (name, metadata names) of a TensorGroup
    summary: str = ""                  # one line for the model description


def feature_outputs(keys, description: str) -> AppOutputs:
    """Plain feature outputs, one per graph output, named by their keys (a task that says
    nothing more, or a model exported without a task)."""
    return AppOutputs(tuple(OutputTensor(key=k, name=k, description=description) for k in keys))


def only_key(keys, task: str) -> str:
    """The one output of a single-output task (its name does not matter)."""
    keys = list(keys)
    if len(keys) != 1:
        from edgecv.errors import ExportError

        raise ExportError(f"{task} models have one output, the file has {len(keys)}: {keys}")
    return keys[0]
