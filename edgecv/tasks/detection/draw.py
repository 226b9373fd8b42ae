"""Sample images with ground-truth (green) and predicted (coloured, labelled) boxes."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from edgecv.fileio import write_png

DISPLAY_SIZE = 320   # small inputs (64 px) are upscaled so labels stay readable


def class_colour(index: int) -> tuple[int, int, int]:
    """A stable, distinct BGR colour per class (golden-ratio hue steps)."""
    import cv2

    hue = int((index * 0.618033988749895 % 1.0) * 180)
    hsv = np.uint8([[[hue, 220, 255]]])
    return tuple(int(v) for v in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])


def draw_detections(image_rgb: np.ndarray, truth: tuple[np.ndarray, np.ndarray],
                    found: tuple[np.ndarray, np.ndarray, np.ndarray],
                    class_names: Sequence[str]) -> np.ndarray:
    """One BGR picture: truth boxes thin green, detections coloured with `name score`."""
    import cv2

    image = np.asarray(image_rgb, dtype=np.uint8)
    if image.ndim == 2 or image.shape[-1] == 1:
        image = cv2.cvtColor(image.reshape(image.shape[0], image.shape[1]), cv2.COLOR_GRAY2RGB)
    scale = max(1.0, DISPLAY_SIZE / max(image.shape[:2]))
    size = (int(round(image.shape[1] * scale)), int(round(image.shape[0] * scale)))
    canvas = cv2.cvtColor(cv2.resize(image, size, interpolation=cv2.INTER_NEAREST), cv2.COLOR_RGB2BGR)
    span = np.array([size[0], size[1], size[0], size[1]], dtype=np.float64)

    def corners(box):
        x1, y1, x2, y2 = np.round(np.asarray(box, np.float64) * span).astype(int)
        return (x1, y1), (x2, y2)

    for box, cls in zip(*truth):
        if cls >= 0:
            cv2.rectangle(canvas, *corners(box), (0, 200, 0), 1)
    for box, score, cls in zip(*found):
        colour = class_colour(int(cls))
        (x1, y1), (x2, y2) = corners(box)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, 2)
        name = class_names[int(cls)] if int(cls) < len(class_names) else str(int(cls))
        label = f"{name} {score:.2f}"
        (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1)
        top = max(y1 - th - 4, 0)
        cv2.rectangle(canvas, (x1, top), (x1 + tw + 4, top + th + 4), colour, -1)
        cv2.putText(canvas, label, (x1 + 2, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1,
                    cv2.LINE_AA)
    return canvas


def write_sample_images(run_dir, x_uint8: np.ndarray, detections, targets, class_names: Sequence[str],
                        *, limit: int = 8) -> list[Path]:
    """`run_dir/samples/detection_XX.png` for the first `limit` images; returns the paths."""
    paths = []
    for i in range(min(limit, len(x_uint8))):
        picture = draw_detections(x_uint8[i], targets[i], detections[i], class_names)
        paths.append(write_png(Path(run_dir) / "samples" / f"detection_{i:02d}.png", picture))
    return paths
