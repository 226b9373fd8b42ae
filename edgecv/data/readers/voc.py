"""`voc`: Pascal VOC layout, DIR/JPEGImages/*.jpg + DIR/Annotations/*.xml.

Boxes are VOC's 1-based inclusive pixel corners: normalised x1 = (xmin - 1) / width,
x2 = xmax / width. Classes: `classes:` or the sorted object names of all files.
An image whose annotation names an unknown class or holds a bad box is left out
(and reported): training on it would teach the model that an object is background.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from edgecv.data.dataset import Dataset, FileSource, Problem, new_dataset
from edgecv.data.images import probe_image
from edgecv.data.readers import (
    class_index,
    fixed_classes,
    note,
    readable_images,
    require_dir,
    skip,
)
from edgecv.data.readers.boxes import box_problem, normalised, pad


def _parse(xml_path: Path):
    """-> (filename or None, width, height, [(name, xmin, ymin, xmax, ymax)]) or raises ValueError."""
    try:
        root = ET.parse(xml_path).getroot()
    except ET.ParseError as exc:
        raise ValueError(f"invalid XML: {exc}") from None
    size = root.find("size")
    if size is None:
        raise ValueError("no <size> element")
    try:
        width = float(size.findtext("width"))
        height = float(size.findtext("height"))
    except (TypeError, ValueError):
        raise ValueError("<size> lacks a numeric width/height") from None
    objects = []
    for obj in root.findall("object"):
        name = (obj.findtext("name") or "").strip()
        bnd = obj.find("bndbox")
        try:
            coords = [float(bnd.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")]
        except (AttributeError, TypeError, ValueError):
            raise ValueError(f"object {name!r} has no numeric <bndbox>") from None
        objects.append((name, *coords))
    return root.findtext("filename"), width, height, objects


def _boxes(objects, index: dict, names: list[str], width: float, height: float):
    """-> ([(normalised box, class)], problem or None)."""
    objs = []
    for name, xmin, ymin, xmax, ymax in objects:
        if name not in index:
            return [], f"unknown class {name!r} (classes: {', '.join(names)})"
        x1, y1 = xmin - 1, ymin - 1
        problem = box_problem(x1, y1, xmax, ymax, width, height)
        if problem:
            return [], f"object {name!r}: {problem}"
        objs.append((normalised(x1, y1, xmax, ymax, width, height), index[name]))
    return objs, None


def read_voc(spec: dict, task: str) -> Dataset:
    root = require_dir(spec["path"], "VOC folder")
    image_dir = require_dir(root / "JPEGImages", "VOC image folder")
    xml_dir = require_dir(root / "Annotations", "VOC annotation folder")
    problems: list[Problem] = []
    images = {p.stem: p for p in readable_images(image_dir, problems)}
    parsed = []
    for xml_path in sorted(xml_dir.glob("*.xml")):
        try:
            filename, width, height, objects = _parse(xml_path)
        except ValueError as exc:
            skip(problems, xml_path, str(exc))
            continue
        image = images.get(xml_path.stem) or (image_dir / filename if filename else None)
        if image is None or not image.exists():
            skip(problems, xml_path, f"annotation without an image ({filename or xml_path.stem + '.*'} not in {image_dir})")
            continue
        parsed.append((xml_path, image, width, height, objects))
    annotated = {image.stem for _, image, *_ in parsed}
    for stem, image in images.items():
        if stem not in annotated and not (xml_dir / f"{stem}.xml").exists():
            note(problems, image, "image has no annotation file; ignored")

    names = fixed_classes(spec) or sorted({obj[0] for *_, objects in parsed for obj in objects})
    index = class_index(names)
    paths, per_image = [], []
    for xml_path, image, width, height, objects in parsed:
        problem = probe_image(image)
        if problem:
            skip(problems, image, problem)
            continue
        objs, problem = _boxes(objects, index, names, width, height)
        if problem:
            skip(problems, xml_path, problem)
            continue
        paths.append(str(image))
        per_image.append(objs)
    boxes, classes = pad(per_image)
    source = FileSource(paths=paths, boxes=boxes, classes=classes)
    return new_dataset(task, names or ["object"], source, name=f"voc {root}", problems=problems,
                       limit=spec.get("limit"), seed=spec.get("seed", 0))
