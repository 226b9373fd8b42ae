"""`masks`: images (`images:`) + PNG index masks (`masks:`) with the same relative stem.

Mask value v is class v; 0 is background, 255 unlabelled (VOID, ignored). Greyscale
and palette (VOC-style) PNGs both work: the pixel values are the class ids. Class names come from `classes:`
(which then starts with the background's name) or a classes.txt beside the
masks folder. Sizes are compared from the file headers while indexing; mask
values are checked per sample in the pipeline and by `edgecv data check`.
"""
from __future__ import annotations

from pathlib import Path

from edgecv.data.dataset import Dataset, FileSource, Problem, new_dataset
from edgecv.data.images import MASK_MODES, image_header, probe_image
from edgecv.data.readers import (
    fixed_classes,
    note,
    read_class_file,
    readable_images,
    require_dir,
    skip,
)
from edgecv.errors import DataError


def mask_classes(spec: dict) -> list[str]:
    names = fixed_classes(spec)
    if names:
        return names
    mask_dir = Path(spec["masks"])
    for candidate in (mask_dir / "classes.txt", mask_dir.parent / "classes.txt"):
        if candidate.is_file():
            return read_class_file(candidate)
    raise DataError(f"{mask_dir}: no classes.txt beside the masks; give classes: [background, ...] in the spec")


def read_masks(spec: dict, task: str) -> Dataset:
    image_dir = require_dir(spec["images"], "image folder")
    mask_dir = require_dir(spec["masks"], "mask folder")
    names = mask_classes(spec)
    problems: list[Problem] = []
    images = readable_images(image_dir, problems)
    stems = {p.relative_to(image_dir).with_suffix("") for p in images}
    for mask in sorted(mask_dir.rglob("*.png")):
        if mask.relative_to(mask_dir).with_suffix("") not in stems:
            note(problems, mask, "mask without an image; ignored")
    paths, mask_paths = [], []
    for image in images:
        mask = mask_dir / image.relative_to(image_dir).with_suffix(".png")
        if not mask.is_file():
            skip(problems, image, f"no mask {mask}")
            continue
        problem = probe_image(image)
        if problem:
            skip(problems, image, problem)
            continue
        problem = probe_image(mask)
        if problem:
            skip(problems, mask, problem)
            continue
        image_head, mask_head = image_header(image), image_header(mask)
        if image_head is None or mask_head is None:
            skip(problems, image if image_head is None else mask, "unreadable image header")
            continue
        image_wh, mask_wh = image_head[:2], mask_head[:2]
        if mask_head[2] not in MASK_MODES:
            skip(problems, mask, f"mask must be a single-channel index PNG (Pillow mode "
                                 f"{', '.join(MASK_MODES)}), got mode {mask_head[2]}")
            continue
        if image_wh != mask_wh:
            skip(problems, mask, f"mask is {mask_wh[0]}x{mask_wh[1]} but its image is {image_wh[0]}x{image_wh[1]}")
            continue
        paths.append(str(image))
        mask_paths.append(str(mask))
    source = FileSource(paths=paths, mask_paths=mask_paths)
    return new_dataset(task, names, source, name=f"masks {image_dir}", problems=problems,
                       limit=spec.get("limit"), seed=spec.get("seed", 0))
