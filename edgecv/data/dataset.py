"""The indexed dataset every reader returns: where each sample lives plus its labels.

A Dataset holds *indexes* (file paths, labels, boxes), never decoded image
folders; pixels are produced lazily by the tf.data pipeline (edgecv.data.pipeline)
or one sample at a time by `read_sample` (checks, eval arrays). TensorFlow-free.

Targets per task:
- classification: `labels` int32 [N]
- detection: `boxes` float32 [N, M, 4] normalised x1,y1,x2,y2 and `classes`
  int32 [N, M], padded with -1 (M = the most objects any image holds)
- segmentation: one index mask per image (PNG path, or a function that renders it);
  mask value v means class_names[v], 0 = class_names[0] = background, and
  VOID (255, the VOC convention) marks pixels without a label: borders, letterbox
  padding. Loss and metrics ignore them.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Optional, Union

import numpy as np

from edgecv.errors import DataError
from edgecv.tasks.table import target_of

VOID = 255      # mask value of unlabelled pixels (see the module docstring)


@dataclass(frozen=True)
class Problem:
    """One bad or suspicious item found while indexing or checking, named by file."""

    file: str
    message: str
    skipped: bool = True        # the sample was left out of the dataset

    def __str__(self) -> str:
        return f"{self.file}: {self.message}"


@dataclass
class FileSource:
    """Images on disk, decoded by the pipeline; targets indexed up front."""

    paths: list[str]
    labels: Optional[np.ndarray] = None             # classification
    boxes: Optional[np.ndarray] = None              # detection [N, M, 4]
    classes: Optional[np.ndarray] = None            # detection [N, M]
    mask_paths: Optional[list[str]] = None          # segmentation from PNG files
    mask_fn: Optional[Callable[[int], np.ndarray]] = None  # segmentation rendered (COCO polygons)

    def __len__(self) -> int:
        return len(self.paths)


@dataclass
class ArraySource:
    """Small datasets held as arrays (MNIST-style idx files): uint8 [N, H, W, C]."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.images)


@dataclass
class GeneratedSource:
    """Samples generated per index at the requested size (synthetic shapes)."""

    generator: Any      # .sample(index, height, width, channels) -> (image, target); .labels(); .max_objects
    count: int
    labels: Optional[np.ndarray] = None

    def __len__(self) -> int:
        return self.count


Source = Union[FileSource, ArraySource, GeneratedSource]


@dataclass
class Dataset:
    task: str
    class_names: list[str]
    source: Source
    indices: np.ndarray                      # positions into `source` that this dataset uses
    name: str = "dataset"
    problems: list[Problem] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def skipped(self) -> int:
        """Samples left out because they are unreadable or badly annotated (each in `problems`)."""
        return sum(1 for p in self.problems if p.skipped)

    @property
    def labels(self) -> Optional[np.ndarray]:
        """Class ids of the used samples (classification), without decoding any image."""
        labels = getattr(self.source, "labels", None)
        return None if labels is None else np.asarray(labels)[self.indices]

    @property
    def max_objects(self) -> int:
        """Padded box count per image (detection)."""
        if isinstance(self.source, GeneratedSource):
            return int(self.source.generator.max_objects)
        boxes = getattr(self.source, "boxes", None)
        return 0 if boxes is None else int(boxes.shape[1])

    def subset(self, positions: np.ndarray, name: Optional[str] = None) -> "Dataset":
        """The samples at `positions` (0..len-1) of this dataset."""
        return replace(self, indices=self.indices[np.asarray(positions, dtype=np.int64)],
                       name=name or self.name, problems=list(self.problems))

    def class_counts(self) -> dict[str, int]:
        """Samples per class (classification) or objects per class (detection)."""
        counts = np.zeros(len(self.class_names), dtype=np.int64)
        kind = target_of(self.task)
        if kind == "label" and self.labels is not None:
            counts += np.bincount(self.labels, minlength=len(self.class_names))[: len(counts)]
        elif kind == "boxes" and getattr(self.source, "classes", None) is not None:
            used = self.source.classes[self.indices]
            used = used[used >= 0]
            counts += np.bincount(used, minlength=len(self.class_names))[: len(counts)]
        else:
            return {}
        return {name: int(c) for name, c in zip(self.class_names, counts)}


def new_dataset(task: str, class_names: list[str], source: Source, *, name: str,
                problems: list[Problem] = (), keep: Optional[np.ndarray] = None,
                limit: Optional[int] = None, seed: int = 0) -> Dataset:
    """Build a Dataset over `source`, using only the `keep` positions (good samples).

    `limit` keeps a seeded random subset of at most that many samples, in index order.
    """
    if len(class_names) == 0:
        raise DataError(f"{name}: no classes found")
    indices = np.arange(len(source), dtype=np.int64) if keep is None else np.asarray(keep, dtype=np.int64)
    if limit is not None and len(indices) > limit:
        rng = np.random.default_rng(seed)
        indices = np.sort(rng.choice(indices, size=limit, replace=False))
    return Dataset(task=task, class_names=list(class_names), source=source, indices=indices,
                   name=name, problems=list(problems))


def split_dataset(ds: Dataset, fraction: float, seed: int = 0) -> tuple[Dataset, Dataset]:
    """Seeded split into (train, val) with `fraction` of the samples in val.

    Classification splits are stratified: each class contributes `fraction` of its
    samples (at least one when it has two or more).
    """
    if not 0.0 < fraction < 1.0:
        raise DataError(f"val_split: must be between 0 and 1, got {fraction}")
    n = len(ds)
    if n < 2:
        raise DataError(f"{ds.name}: {n} sample(s) cannot be split into train and val")
    rng = np.random.default_rng(seed)
    labels = ds.labels if target_of(ds.task) == "label" else None
    if labels is None:
        order = rng.permutation(n)
        n_val = min(n - 1, max(1, int(round(n * fraction))))
        val_pos = order[:n_val]
    else:
        val_parts = []
        for cls in np.unique(labels):
            members = rng.permutation(np.flatnonzero(labels == cls))
            take = int(round(len(members) * fraction))
            if len(members) >= 2:
                take = min(len(members) - 1, max(1, take))
            val_parts.append(members[:take])
        val_pos = np.concatenate(val_parts) if val_parts else np.array([], dtype=np.int64)
    is_val = np.zeros(n, dtype=bool)
    is_val[val_pos] = True
    train = ds.subset(np.flatnonzero(~is_val), name=f"{ds.name}[train]")
    val = ds.subset(np.flatnonzero(is_val), name=f"{ds.name}[val]")
    val.problems = []       # problems are reported once, with the training part
    return train, val


def hold_out_classes(train: Dataset, val: Optional[Dataset], classes: list, *,
                     where: str = "data.holdout_classes") -> tuple[Dataset, Dataset]:
    """(train without `classes`, val with only them); val defaults to `train`'s samples of
    them. `classes` are names or indices into train.class_names."""
    if target_of(train.task) != "label":
        raise DataError(f"{where}: needs one label per image; task {train.task!r} has "
                        f"{target_of(train.task)} targets")
    names = list(train.class_names)
    held = set()
    for item in classes:
        if isinstance(item, int) and not isinstance(item, bool):
            if not 0 <= item < len(names):
                raise DataError(f"{where}: class index {item} outside 0..{len(names) - 1}")
            held.add(names[item])
        elif item in names:
            held.add(item)
        else:
            raise DataError(f"{where}: unknown class {item!r}; classes are {names}")
    source = train if val is None else val

    def keep(ds: Dataset, inside: bool, part: str) -> Dataset:
        ids = [i for i, name in enumerate(ds.class_names) if name in held]
        mask = np.isin(ds.labels, ids) == inside
        if not mask.any():
            raise DataError(f"{where}: leaves {ds.name} with no {part} samples")
        return ds.subset(np.flatnonzero(mask), name=f"{ds.name}[{part}]")

    val_part = keep(source, True, "held-out")
    if val is None:
        val_part.problems = []      # reported once, with the training part
    return keep(train, False, "training"), val_part
