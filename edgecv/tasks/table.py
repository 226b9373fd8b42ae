"""The task table: every task's name, target kind, implementation and recipe section.

TensorFlow-free and import-free (errors and registry only), so every layer can read it:
the recipe schema and the click choices take the task names from here, the data layer
maps a task to its target kind (label, boxes, mask: `edgecv.data.targets`), and
`get_task` imports a task's package only when it is used. A new task is one row here
plus its package under edgecv/tasks/.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Optional

from edgecv.errors import RecipeError
from edgecv.registry import Registry


@dataclass(frozen=True)
class TaskInfo:
    name: str
    target: str                 # what one sample is annotated with: "label" | "boxes" | "mask"
    package: str                # implementation: a package with make_task(source) (imports TensorFlow on use)
    config: Optional[str]       # "module:Class" of the task's own recipe section (keyed by the task name)
    description: str
    output_layout: str          # what the model outputs, written into every exported file's metadata

    def load_config(self) -> Any:
        if self.config is None:
            return None
        module, attr = self.config.split(":")
        return getattr(importlib.import_module(module), attr)


TASKS = Registry("task", RecipeError)


def _add(info: TaskInfo) -> None:
    TASKS.add(info.name, info)


_add(TaskInfo("classification", "label", "edgecv.tasks.classification", None,
              "one label per image: softmax scores, top-1 / top-5 accuracy",
              "probabilities [N, classes] (softmax)"))
_add(TaskInfo("detection", "boxes", "edgecv.tasks.detection", "edgecv.tasks.detection.config:DetectionSpec",
              "boxes per image: Tiny-YOLO heads, YOLO loss, NMS, COCO mAP",
              "raw heads [N, S, S, anchors * (5 + classes)] per scale, decoded outside the graph"))
_add(TaskInfo("segmentation", "mask", "edgecv.tasks.segmentation",
              "edgecv.tasks.segmentation.config:SegmentationSpec",
              "a class per pixel: per-pixel softmax, CE/Dice loss, mIoU",
              "probabilities [N, H, W, classes] (per-pixel softmax)"))
_add(TaskInfo("embedding", "label", "edgecv.tasks.embedding", "edgecv.tasks.embedding.config:EmbeddingSpec",
              "identities as classes: L2-normalised embeddings, triplet loss on PK batches, "
              "verification ROC AUC / TAR@FAR, recall@k",
              "embeddings [N, dim] (L2-normalised); same identity iff ||a - b||^2 <= metadata "
              "embedding.threshold"))


def all_tasks() -> list[TaskInfo]:
    return [entry.obj for entry in TASKS]


def task_names() -> tuple[str, ...]:
    return tuple(TASKS.names())


def task_info(name: str) -> TaskInfo:
    return TASKS.get(name)


def target_of(task: str) -> str:
    """The target kind of a task name ("label", "boxes" or "mask")."""
    return TASKS.get(task).target
