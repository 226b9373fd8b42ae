"""The table of dataset formats and the spec check the recipe validation runs.

TensorFlow- and OpenCV-free: the recipe loader imports this module to check
`data.train.format` and its keys before anything heavy is loaded. Each format's
reader is named as "module:function" and imported only when a dataset is loaded.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

from edgecv.errors import DataError, RecipeError
from edgecv.registry import Registry, suggest
from edgecv.tasks.table import target_of, task_names

# Keys every format accepts (see edgecv.data.spec.DatasetSpec).
COMMON_KEYS = ("format", "classes", "seed", "limit", "max_pixels")
SPEC_KEYS = ("format", "path", "images", "annotations", "masks", "split", "classes", "samples", "seed", "limit",
             "max_pixels", "backgrounds")
IDX_SPLITS = ("train", "t10k")
SPLIT_FORMATS = ("idx", "fashion_composite")     # formats whose `split` names an idx file pair


@dataclass(frozen=True)
class Format:
    name: str
    targets: tuple[str, ...]            # target kinds it can read: label | boxes | mask (edgecv.data.targets)
    required: tuple[str, ...]           # keys the spec must give
    optional: tuple[str, ...]           # further keys it may give (besides COMMON_KEYS)
    reader: str                         # "module:function(spec: dict, task: str) -> Dataset"
    description: str

    @property
    def tasks(self) -> tuple[str, ...]:
        """The tasks whose target kind this format reads (from the task table)."""
        return tuple(t for t in task_names() if target_of(t) in self.targets)

    def load_reader(self) -> Callable[..., Any]:
        module, attr = self.reader.split(":")
        return getattr(importlib.import_module(module), attr)


FORMATS = Registry("dataset format", DataError)


def _add(fmt: Format) -> None:
    FORMATS.add(fmt.name, fmt, tasks=fmt.tasks, required=fmt.required, optional=fmt.optional)


_add(Format("folder", ("label",), ("path",), (), "edgecv.data.readers.folder:read_folder",
            "one sub-folder of images per class"))
_add(Format("idx", ("label",), ("path",), ("split",), "edgecv.data.readers.idx:read_idx",
            "MNIST-style *-images-idx3-ubyte(.gz) + *-labels-idx1-ubyte(.gz); split: train|t10k"))
_add(Format("digits", ("label",), ("path",), (), "edgecv.data.readers.digits:read_digits",
            "OpenCV's digits.png sheet: 20x20 cells, 500 per digit (Debian opencv-doc)"))
_add(Format("csv", ("label",), ("path",), (), "edgecv.data.readers.csvfile:read_csv",
            "CSV file of image path,label rows (paths relative to the CSV)"))
_add(Format("coco", ("boxes", "mask"), ("images", "annotations"), (),
            "edgecv.data.readers.coco:read_coco", "COCO instances JSON: boxes, polygons/RLE -> masks"))
_add(Format("voc", ("boxes",), ("path",), (), "edgecv.data.readers.voc:read_voc",
            "Pascal VOC: JPEGImages/ + Annotations/*.xml"))
_add(Format("yolo", ("boxes",), ("path",), (), "edgecv.data.readers.yolo:read_yolo",
            "images/ + labels/*.txt (class cx cy w h, normalised) + classes.txt"))
_add(Format("masks", ("mask",), ("images", "masks"), (), "edgecv.data.readers.masks:read_masks",
            "images + PNG index masks of the same stem (0 = background)"))
_add(Format("synthetic_shapes", ("label", "boxes", "mask"), (), ("samples",),
            "edgecv.data.synthetic:read_synthetic", "generated coloured shapes on textured backgrounds"))
_add(Format("fashion_composite", ("boxes", "mask"), (), ("path", "split", "samples", "backgrounds"),
            "edgecv.data.readers.fashion_composite:read_fashion_composite",
            "generated: Fashion-MNIST items pasted onto crops of real photos (Debian dataset-fashion-mnist, "
            "opencv-doc); path: the idx folder, split: train|t10k items, backgrounds: a photo folder"))


def spec_to_dict(spec: Any) -> dict[str, Any]:
    """A DatasetSpec (pydantic) or a plain mapping -> dict of the keys that are set."""
    if hasattr(spec, "model_dump"):
        return {k: v for k, v in spec.model_dump().items() if v is not None}
    if not isinstance(spec, dict):
        raise RecipeError(f"dataset spec must be a mapping, got {type(spec).__name__}")
    return {k: v for k, v in spec.items() if v is not None}


def check_spec(spec: Any, task: str, *, where: str = "data.train") -> Format:
    """Check one dataset spec against the format table; raise RecipeError naming the key.

    Checks: the format exists, supports the task, every required key is given,
    no key is given that the format does not use, idx `split` is known.
    """
    values = spec_to_dict(spec)
    name = values.get("format")
    if not name:
        raise RecipeError(f"{where}.format: required key is missing (formats: {', '.join(FORMATS.names())})")
    if name not in FORMATS:
        raise RecipeError(f"{where}.format: unknown dataset format {name!r}{suggest(str(name), FORMATS.names())} "
                          f"(formats: {', '.join(FORMATS.names())})")
    fmt: Format = FORMATS.get(name)
    if task not in fmt.tasks:  # a task reads a format when the format reads its target kind
        raise RecipeError(f"{where}.format: format {name!r} does not support task {task!r} "
                          f"(it supports: {', '.join(fmt.tasks)})")
    allowed = COMMON_KEYS + fmt.required + fmt.optional
    for key in values:
        if key not in SPEC_KEYS:
            raise RecipeError(f"{where}.{key}: unknown key{suggest(key, list(allowed))}")
        if key not in allowed:
            raise RecipeError(f"{where}.{key}: not used by format {name!r} "
                              f"(it takes: {', '.join(k for k in allowed if k != 'format')})")
    for key in fmt.required:
        if values.get(key) in (None, ""):
            raise RecipeError(f"{where}.{key}: required for format {name!r}")
    if name in SPLIT_FORMATS and values.get("split", "train") not in IDX_SPLITS:
        split = values.get("split")
        raise RecipeError(f"{where}.split: must be one of {', '.join(IDX_SPLITS)}, got {split!r}"
                          f"{suggest(str(split), IDX_SPLITS)}")
    return fmt
