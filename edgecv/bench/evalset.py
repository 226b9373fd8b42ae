"""The eval set npz: what `runner.py` reads on the device and the host scores against.

Layout (numpy arrays only, readable with `allow_pickle=False`):
  x            uint8 [N,H,W,C] raw pixels (normalised by the runner: (x - mean) / std)
  mean, std    float32 scalars (edgecv.data.normalize.MEAN / STD)
  task         str: one of TASKS (classification | detection | segmentation)
  class_names  str [K]
  labels       int32 [N]                 (classification)
  masks        uint8 [N,H,W]             (segmentation)
  det_boxes    float32 [M,4] normalised x1,y1,x2,y2, det_classes int32 [M],
  det_image    int32 [M] index of the image each box belongs to   (detection)
Detection boxes are flattened with an image index because images hold different numbers
of boxes and a ragged object array would need pickle.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgecv.errors import BenchError
from edgecv.fileio import atomic_path
# The task names, read by the eval npz and `edgecv bench --task`: the one import to point
# at the task table.
from edgecv.models.zoo import TASKS


@dataclass
class EvalSet:
    x: np.ndarray
    task: str
    targets: Any
    class_names: list[str] = field(default_factory=list)
    mean: float = 127.5
    std: float = 127.5

    def __len__(self) -> int:
        return int(self.x.shape[0])


def write_eval_set(path, *, x_uint8, task, targets, class_names, mean=None, std=None) -> Path:
    """Write a compact (compressed) eval npz atomically; returns the path."""
    from edgecv.data.normalize import MEAN, STD

    x = np.asarray(x_uint8)
    if x.dtype != np.uint8 or x.ndim != 4:
        raise BenchError(f"{path}: eval images must be uint8 [N,H,W,C], "
                         f"got {x.dtype} {list(x.shape)}")
    if task not in TASKS:
        raise BenchError(f"{path}: unknown task {task!r}; expected one of {', '.join(TASKS)}")
    arrays = {
        "x": x,
        "mean": np.float32(MEAN if mean is None else mean),
        "std": np.float32(STD if std is None else std),
        "task": np.array(task),
        "class_names": np.array([str(c) for c in class_names], dtype=str),
    }
    arrays.update(_encode_targets(path, task, targets, len(x)))
    with atomic_path(path) as tmp:
        # A file handle, not a name: np.savez would append ".npz" to the temp name.
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **arrays)
    return Path(path)


def _encode_targets(path, task, targets, n):
    if task == "classification":
        labels = np.asarray(targets, dtype=np.int32).reshape(-1)
        if len(labels) != n:
            raise BenchError(f"{path}: {len(labels)} labels for {n} images")
        return {"labels": labels}
    if task == "segmentation":
        masks = np.asarray(targets)
        if masks.ndim != 3 or len(masks) != n:
            raise BenchError(f"{path}: masks must be [N,H,W] with N={n}, got {list(masks.shape)}")
        return {"masks": masks.astype(np.uint8)}
    targets = list(targets)
    if len(targets) != n:
        raise BenchError(f"{path}: {len(targets)} box lists for {n} images")
    boxes, classes, image = [], [], []
    for i, (b, c) in enumerate(targets):
        b = np.asarray(b, dtype=np.float32).reshape(-1, 4)
        c = np.asarray(c, dtype=np.int32).reshape(-1)
        if len(b) != len(c):
            raise BenchError(f"{path}: image {i} has {len(b)} boxes but {len(c)} classes")
        boxes.append(b)
        classes.append(c)
        image.append(np.full(len(c), i, dtype=np.int32))
    return {
        "det_boxes": np.concatenate(boxes) if boxes else np.zeros((0, 4), np.float32),
        "det_classes": np.concatenate(classes) if classes else np.zeros(0, np.int32),
        "det_image": np.concatenate(image) if image else np.zeros(0, np.int32),
    }


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
    if task == "classification":
        targets = data["labels"].astype(np.int32)
    elif task == "segmentation":
        targets = data["masks"]
    elif task == "detection":
        n = len(data["x"])
        targets = [(data["det_boxes"][data["det_image"] == i],
                    data["det_classes"][data["det_image"] == i]) for i in range(n)]
    else:
        raise BenchError(f"{path}: unknown task {task!r} in eval npz")
    return EvalSet(x=data["x"], task=task, targets=targets,
                   class_names=[str(c) for c in data.get("class_names", [])],
                   mean=float(data.get("mean", 127.5)), std=float(data.get("std", 127.5)))


def normalized(evalset: EvalSet) -> np.ndarray:
    """The float32 model inputs exactly as the runner computes them."""
    return (evalset.x.astype(np.float32) - np.float32(evalset.mean)) / np.float32(evalset.std)
