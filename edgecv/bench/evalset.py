"""The eval set npz: what `runner.py` reads on the device and the host scores against.

Layout (numpy arrays only, readable with `allow_pickle=False`):
  x            uint8 [N,H,W,C] raw pixels (normalised by the runner: (x - mean) / std)
  mean, std    float32 scalars (edgecv.data.normalize.MEAN / STD)
  task         str: one of TASKS (classification | detection | segmentation)
  class_names  str [K]
  and the targets of the task's kind (edgecv.data.targets):
  labels       int32 [N]                 (label)
  masks        uint8 [N,H,W]             (mask)
  det_boxes    float32 [M,4] normalised x1,y1,x2,y2, det_classes int32 [M],
  det_image    int32 [M] index of the image each box belongs to   (boxes)
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgecv.data.targets import target_kind
from edgecv.errors import BenchError
from edgecv.fileio import atomic_path
from edgecv.tasks.table import TASKS



@dataclass
class EvalSet:
    x: np.ndarray
    task: str
    targets: Any
    class_names: list[str] = field(default_factory=list)
    mean: float = 127.5
    std: float = 127.5
    source: str = ""    # the dataset spec it was built from (errors name it, not a temp npz)

    def __len__(self) -> int:
        return int(self.x.shape[0])


def write_eval_set(path, *, x_uint8, task, targets, class_names, mean=None, std=None,
                   source: str = "") -> Path:
    """Write a compact (compressed) eval npz atomically; returns the path."""
    from edgecv.data.normalize import MEAN, STD

    x = np.asarray(x_uint8)
    if x.dtype != np.uint8 or x.ndim != 4:
        raise BenchError(f"{path}: eval images must be uint8 [N,H,W,C], "
                         f"got {x.dtype} {list(x.shape)}")
    if task not in TASKS:
        raise BenchError(f"{path}: unknown task {task!r}; expected one of {', '.join(TASKS.names())}")
    arrays = {
        "x": x,
        "mean": np.float32(MEAN if mean is None else mean),
        "std": np.float32(STD if std is None else std),
        "task": np.array(task),
        "class_names": np.array([str(c) for c in class_names], dtype=str),
    }
    if source:
        arrays["source"] = np.array(str(source))
    arrays.update(target_kind(task).to_npz(str(path), targets, len(x)))
    with atomic_path(path) as tmp:
        # A file handle, not a name: np.savez would append ".npz" to the temp name.
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **arrays)
    return Path(path)


def read_eval_set(path) -> EvalSet:
    """Read an eval npz back into images + targets in the form edgecv.data.eval_arrays gives."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise BenchError(f"{path}: eval set not found")
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as exc:
        raise BenchError(f"{path}: not a readable eval npz ({exc})") from None
    missing = [k for k in ("x", "task") if k not in data]
    if missing:
        raise BenchError(f"{path}: eval npz lacks {missing} (found {sorted(data)})")
    task = str(data["task"])
    if task not in TASKS:
        raise BenchError(f"{path}: unknown task {task!r} in eval npz")
    targets = target_kind(task).from_npz(data, len(data["x"]))
    return EvalSet(x=data["x"], task=task, targets=targets,
                   class_names=[str(c) for c in data.get("class_names", [])],
                   mean=float(data.get("mean", 127.5)), std=float(data.get("std", 127.5)),
                   source=str(data.get("source", "")))


def normalized(evalset: EvalSet) -> np.ndarray:
    """The float32 model inputs exactly as the runner computes them."""
    return (evalset.x.astype(np.float32) - np.float32(evalset.mean)) / np.float32(evalset.std)
