"""Overlay images: input | ground truth | prediction, side by side, with a class legend.

One PNG per sample under `run_dir/overlays/`, so a reviewer can see at a glance
where the (int8) model misses. Background (class 0) is left untinted.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from edgecv.fileio import write_png

ALPHA = 0.55            # colour weight of the class tint over the image
MIN_PANEL = 128         # small inputs are enlarged (nearest neighbour) up to this height
LABEL_HEIGHT = 18       # caption strip above each panel


def palette(num_classes: int) -> np.ndarray:
    """Pascal VOC's colour map (bit-interleaved class index; BGR for OpenCV): distinct,
    deterministic for any class count, and familiar to anyone who has seen VOC masks."""
    colours = np.zeros((num_classes, 3), dtype=np.uint8)
    for index in range(num_classes):
        c, r, g, b = index, 0, 0, 0
        for shift in range(7, -1, -1):
            r |= (c & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        colours[index] = (b, g, r)
    return colours


def tint(image_bgr: np.ndarray, mask: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Blend each non-background pixel with its class colour; unknown labels stay untinted."""
    out = image_bgr.astype(np.float32)
    labelled = (mask > 0) & (mask < len(colours))
    tinted = colours[np.where(labelled, mask, 0)].astype(np.float32)
    out[labelled] = (1 - ALPHA) * out[labelled] + ALPHA * tinted[labelled]
    return out.round().astype(np.uint8)


def overlay_image(x_rgb: np.ndarray, truth: np.ndarray, predicted: np.ndarray,
                  class_names: Sequence[str]) -> np.ndarray:
    """One BGR image: [input | truth | prediction] with captions and a legend row."""
    num_classes = max(len(class_names), int(max(truth.max(initial=0), predicted.max(initial=0))) + 1)
    colours = palette(num_classes)
    image = x_rgb if x_rgb.shape[-1] == 3 else np.repeat(x_rgb[..., :1], 3, axis=-1)
    image = cv2.cvtColor(image.astype(np.uint8), cv2.COLOR_RGB2BGR)
    scale = max(1, int(np.ceil(MIN_PANEL / image.shape[0])))
    panels = []
    for caption, panel in (("image", image), ("truth", tint(image, truth, colours)),
                           ("prediction", tint(image, predicted, colours))):
        panel = cv2.resize(panel, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
        strip = np.full((LABEL_HEIGHT, panel.shape[1], 3), 255, np.uint8)
        cv2.putText(strip, caption, (3, LABEL_HEIGHT - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1,
                    cv2.LINE_AA)
        panels.append(np.vstack([strip, panel]))
    row = np.hstack(panels)
    return np.vstack([row, _legend(row.shape[1], class_names, colours)])


def _legend(width: int, class_names: Sequence[str], colours: np.ndarray) -> np.ndarray:
    """Colour swatch + name per class, wrapped onto as many lines as needed."""
    line_height, swatch, x, y = 16, 10, 4, 0
    items = []
    for index, name in enumerate(class_names):
        text = str(name)
        text_width = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1)[0][0]
        item_width = swatch + 4 + text_width + 10
        if x + item_width > width and x > 4:
            x, y = 4, y + line_height
        items.append((index, text, x, y))
        x += item_width
    legend = np.full((y + line_height + 2, width, 3), 255, np.uint8)
    for index, text, x, y in items:
        colour = tuple(int(c) for c in colours[index]) if index else (200, 200, 200)
        cv2.rectangle(legend, (x, y + 3), (x + swatch, y + 3 + swatch), colour, -1)
        cv2.putText(legend, text, (x + swatch + 4, y + 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1,
                    cv2.LINE_AA)
    return legend


def write_overlays(run_dir, x_uint8: np.ndarray, predicted: np.ndarray, masks: np.ndarray,
                   class_names: Sequence[str], *, limit: int = 8, folder: str = "overlays") -> list[Path]:
    """Write `run_dir/<folder>/sample_000.png` ... for the first `limit` samples; returns the paths.

    `x_uint8` [N, H, W, C] raw pixels (RGB), `predicted` and `masks` [N, H, W] class ids.
    """
    x_uint8, predicted, masks = np.asarray(x_uint8), np.asarray(predicted), np.asarray(masks)
    if not (len(x_uint8) == len(predicted) == len(masks)):
        raise ValueError(f"overlay inputs differ in length: {len(x_uint8)} images, "
                         f"{len(predicted)} predictions, {len(masks)} masks")
    out_dir = Path(run_dir) / folder
    paths = []
    for index in range(min(limit, len(x_uint8))):
        image = overlay_image(x_uint8[index], masks[index], predicted[index], class_names)
        paths.append(write_png(out_dir / f"sample_{index:03d}.png", image))
    return paths
