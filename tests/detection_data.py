"""A tiny generated COCO detection dataset (with one damaged file or annotation of each
kind) and the recipe `edgecv train` runs on it: shared by the detection end-to-end tests
and the MediaPipe test through session fixtures in tests/conftest.py."""
from __future__ import annotations

import json

import numpy as np

CATEGORIES = ["box", "disc"]


def write_coco(root, count=24, size=64, seed=0):
    """`count` images with 1-3 filled rectangles (box) or circles (disc) + annotations.json."""
    import cv2

    rng = np.random.default_rng(seed)
    images_dir = root / "images"
    images_dir.mkdir(parents=True)
    images, annotations = [], []
    for i in range(count):
        image = np.full((size, size, 3), rng.integers(0, 80), np.uint8)
        for _ in range(rng.integers(1, 4)):
            kind = int(rng.integers(0, 2))
            w = int(rng.integers(12, 28))
            x, y = int(rng.integers(0, size - w)), int(rng.integers(0, size - w))
            colour = tuple(int(c) for c in rng.integers(150, 256, 3))
            if kind == 0:
                cv2.rectangle(image, (x, y), (x + w - 1, y + w - 1), colour, -1)
            else:
                cv2.circle(image, (x + w // 2, y + w // 2), w // 2, colour, -1)
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1, "category_id": kind + 1,
                                "bbox": [x, y, w, w], "area": w * w, "iscrowd": 0})
        cv2.imwrite(str(images_dir / f"img_{i:03d}.png"), image)
        images.append({"id": i + 1, "file_name": f"img_{i:03d}.png", "width": size, "height": size})
    categories = [{"id": i + 1, "name": n} for i, n in enumerate(CATEGORIES)]
    (root / "annotations.json").write_text(json.dumps(
        {"images": images, "annotations": annotations, "categories": categories}))
    return images_dir, root / "annotations.json"


# A damaged file or annotation per kind `edgecv train` must skip by name, not die on.
DAMAGE = {
    "truncated.jpg": "truncated JPEG",
    "empty.png": "zero-byte file",
    "notes.jpg": "not an image file",
    "garbage.jpg": "cannot decode image (unreadable header)",
    "corrupt.png": "cannot decode: Invalid PNG data",   # header fine, pixel data broken
    "outside.png": "lies outside the 64x64 image",
    "unknown.png": "unknown category id 9",
}


def add_damage(images_dir, annotations_path):
    import cv2

    good_jpeg = cv2.imencode(".jpg", np.zeros((64, 64, 3), np.uint8))[1].tobytes()
    (images_dir / "truncated.jpg").write_bytes(good_jpeg[: len(good_jpeg) // 2])
    (images_dir / "empty.png").write_bytes(b"")
    (images_dir / "notes.jpg").write_text("not an image\n")
    (images_dir / "garbage.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00garbage" * 20 + b"\xff\xd9")
    for name in ("outside.png", "unknown.png"):
        cv2.imwrite(str(images_dir / name), np.zeros((64, 64, 3), np.uint8))
    corrupt = bytearray(cv2.imencode(".png", np.zeros((64, 64, 3), np.uint8))[1].tobytes())
    corrupt[corrupt.index(b"IDAT") + 8] ^= 0xFF
    (images_dir / "corrupt.png").write_bytes(bytes(corrupt))
    data = json.loads(annotations_path.read_text())
    for name in DAMAGE:
        image_id = len(data["images"]) + 1
        data["images"].append({"id": image_id, "file_name": name, "width": 64, "height": 64})
        box, category = ([40, 40, 40, 40], 1) if name == "outside.png" else ([5, 5, 10, 10], 1)
        if name == "unknown.png":
            category = 9
        data["annotations"].append({"id": len(data["annotations"]) + 1, "image_id": image_id,
                                    "category_id": category, "bbox": box, "area": 100, "iscrowd": 0})
    annotations_path.write_text(json.dumps(data))


def coco_recipe(images, annotations, **changes) -> dict:
    """The tiny detection recipe on write_coco's data; `changes` replace top-level sections."""
    recipe = {
        "name": "tiny_coco_det",
        "task": "detection",
        "model": {"arch": "tiny_yolo_v3", "backbone": "mobilenet_v2", "alpha": 0.35,
                  "activation": "relu6", "input_shape": [64, 64, 3]},
        "data": {"train": {"format": "coco", "images": str(images), "annotations": str(annotations)},
                 "val_split": 0.25, "batch_size": 8, "resize": "letterbox"},
        "train": {"epochs": 1, "steps_per_epoch": 2, "learning_rate": 0.001},
        "detection": {"anchors": "auto", "anchors_per_scale": 3},
        # int8 only: the quantized heads are the path that must dequantize correctly, and
        # the float Keras model is the reference either way; QAT is covered elsewhere.
        "export": {"formats": ["int8"], "calibration_samples": 8},
        "bench": {"runs": 2, "warmup": 1},
    }
    recipe.update(changes)
    return recipe


# The same run re-exported with the decode + NMS in the graph (float formats only): a
# low threshold so that a two-step model still finds boxes.
IN_GRAPH_NMS = {"postprocess": "nms", "score_threshold": 0.01, "iou_threshold": 0.45, "max_detections": 10}
