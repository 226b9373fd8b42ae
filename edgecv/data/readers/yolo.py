"""`yolo`: DIR/images/** + DIR/labels/** (same relative stem, .txt) + DIR/classes.txt.

Label lines are `class cx cy w h`, normalised to [0, 1]. An empty label file marks
an image without objects; a missing one is reported and the image left out.
"""
from __future__ import annotations

from pathlib import Path

from edgecv.data.dataset import Dataset, FileSource, Problem, new_dataset
from edgecv.data.images import probe_image
from edgecv.data.readers import (
    fixed_classes,
    note,
    read_class_file,
    readable_images,
    require_dir,
    skip,
)
from edgecv.data.readers.boxes import box_problem, normalised, pad
from edgecv.errors import DataError


def _objects(label_path: Path, count: int) -> tuple[list, str | None]:
    """-> ([(normalised box, class)], problem or None)."""
    objs = []
    lines = label_path.read_text(encoding="utf-8", errors="replace").splitlines()
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 5:
            return [], f"line {number}: expected 'class cx cy w h', got {line.strip()!r}"
        try:
            cls = int(fields[0])
            cx, cy, w, h = (float(v) for v in fields[1:])
        except ValueError:
            return [], f"line {number}: not numbers: {line.strip()!r}"
        if not 0 <= cls < count:
            return [], f"line {number}: unknown class id {cls} (classes 0..{count - 1})"
        x1, y1, x2, y2 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
        # Tolerance is in pixels elsewhere; here 1/1000 of the image stands in for rounding.
        problem = box_problem(x1 * 1000, y1 * 1000, x2 * 1000, y2 * 1000, 1000, 1000)
        if problem:
            return [], f"line {number}: {problem.replace('1000x1000 image', 'image (normalised)')}"
        objs.append((normalised(x1, y1, x2, y2, 1.0, 1.0), cls))
    return objs, None


def read_yolo(spec: dict, task: str) -> Dataset:
    root = require_dir(spec["path"], "YOLO folder")
    image_dir = require_dir(root / "images", "YOLO image folder")
    label_dir = require_dir(root / "labels", "YOLO label folder")
    names = fixed_classes(spec)
    if names is None:
        class_file = root / "classes.txt"
        if not class_file.is_file():
            raise DataError(f"{class_file}: missing; list the class names there or give classes: in the spec")
        names = read_class_file(class_file)
    problems: list[Problem] = []
    images = readable_images(image_dir, problems)
    expected = {p.relative_to(image_dir).with_suffix("") for p in images}
    for label in sorted(label_dir.rglob("*.txt")):
        if label.relative_to(label_dir).with_suffix("") not in expected:
            note(problems, label, "label file without an image; ignored")
    paths, per_image = [], []
    for image in images:
        label = label_dir / image.relative_to(image_dir).with_suffix(".txt")
        if not label.is_file():
            skip(problems, image, f"no label file {label}")
            continue
        problem = probe_image(image)
        if problem:
            skip(problems, image, problem)
            continue
        objs, problem = _objects(label, len(names))
        if problem:
            skip(problems, label, problem)
            continue
        paths.append(str(image))
        per_image.append(objs)
    boxes, classes = pad(per_image)
    source = FileSource(paths=paths, boxes=boxes, classes=classes)
    return new_dataset(task, names, source, name=f"yolo {root}", problems=problems,
                       limit=spec.get("limit"), seed=spec.get("seed", 0))
