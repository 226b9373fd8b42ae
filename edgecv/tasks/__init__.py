"""Tasks: the table of tasks (TF-free), the Task base class, and `get_task`.

One package per task (`classification/`, `detection/`, `segmentation/`), each with its
task object, its recipe section (`config.py`) and its own loss, metrics and drawing.
Importing this package is cheap: a task's package is imported by `get_task`.
"""
from __future__ import annotations

import importlib
from typing import Any

from edgecv.errors import RecipeError
from edgecv.registry import suggest
from edgecv.tasks.base import Task
from edgecv.tasks.table import TASKS, TaskInfo, target_of, task_info, task_names


def get_task(name: str, source: Any = None) -> Task:
    """The task object, configured by `source`: a recipe, a .tflite metadata dict, or None
    (defaults). Every task package exposes `make_task(source)`."""
    if name not in TASKS:
        raise RecipeError(f"task: unknown task {name!r}{suggest(name, task_names())}")
    module = importlib.import_module(task_info(name).package)
    return module.make_task(source)


__all__ = ["TASKS", "Task", "TaskInfo", "get_task", "target_of", "task_info", "task_names"]
