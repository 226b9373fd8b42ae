"""Pasting cut-out items onto an image: which pixels of each item stay visible.

Items are pasted in order, so a later item occludes earlier ones. Visibility is worked
out from the masks before anything is drawn, topmost item first: an item keeps the pixels
no kept item above it covers, and an item left with too little is not drawn at all. So
every pasted pixel belongs to exactly one kept item, no unlabelled fragment is left on the
image, and each item's box and mask are exactly its visible pixels.

numpy + OpenCV only; used by the `fashion_composite` generator and its tests.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

ITEM_THRESHOLD = 24         # a 28x28 Fashion-MNIST pixel above this is the item (its background is ~0)
MAX_HOLE = 8                # enclosed dark spots up to this many 28x28 pixels are part of the item


@dataclass(frozen=True)
class CutOut:
    """An item cropped to its own pixels: intensity in [0, 1] and its silhouette."""

    intensity: np.ndarray       # float32 [h, w]
    mask: np.ndarray            # bool [h, w]


@dataclass(frozen=True, eq=False)
class Placement:
    """One item on the canvas: its pixels, class, rectangle and colour ramp."""

    cut: CutOut
    cls: int
    x: int                      # top-left of the scaled item; may lie outside the canvas
    y: int
    width: int
    height: int
    dark: tuple[float, float, float]    # RGB of the item's intensity 0
    light: tuple[float, float, float]   # RGB of its intensity 1


@dataclass(frozen=True, eq=False)
class Composite:
    """A pasted image and its kept items, in paste order."""

    image: np.ndarray           # uint8 [H, W, 3] RGB
    masks: np.ndarray           # bool [k, H, W]: each kept item's visible pixels
    classes: np.ndarray         # int32 [k]
    background: np.ndarray      # uint8 [H, W, 3]: the image before any item (tests, debugging)

    def boxes(self) -> np.ndarray:
        """int32 [k, 4] pixel boxes x1, y1, x2, y2 (x2, y2 exclusive) of the visible pixels."""
        out = np.zeros((len(self.masks), 4), dtype=np.int32)
        for i, mask in enumerate(self.masks):
            ys, xs = np.nonzero(mask)
            out[i] = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        return out

    def index_mask(self) -> np.ndarray:
        """uint8 [H, W]: 0 background, 1 + class on each item's visible pixels."""
        mask = np.zeros(self.image.shape[:2], dtype=np.uint8)
        for visible, cls in zip(self.masks, self.classes):
            mask[visible] = cls + 1      # visible sets are disjoint: order does not matter
        return mask


def cut_out(item: np.ndarray, threshold: int = ITEM_THRESHOLD) -> CutOut | None:
    """A 28x28 uint8 item -> its pixels above `threshold`, small holes filled, cropped; None if blank.

    Small holes are dark prints inside a garment, still the garment; larger ones are real
    gaps, such as a bag's handle (median 17 pixels on t10k), and stay open."""
    item = np.asarray(item, dtype=np.uint8).reshape(item.shape[:2])
    mask = _fill_holes(item > threshold)
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    crop = np.s_[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    return CutOut(intensity=item[crop].astype(np.float32) / 255.0, mask=mask[crop])


def _fill_holes(mask: np.ndarray, max_hole: int = MAX_HOLE) -> np.ndarray:
    outside = np.pad(mask, 1).astype(np.uint8)
    cv2.floodFill(outside, None, (0, 0), 1)      # everything reachable from the border
    holes = (outside[1:-1, 1:-1] == 0).astype(np.uint8)
    _count, labels, stats, _ = cv2.connectedComponentsWithStats(holes, connectivity=4)
    small = np.flatnonzero(stats[:, cv2.CC_STAT_AREA] <= max_hole)
    return mask | np.isin(labels, small[small > 0])


def scaled(cut: CutOut, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """The cut-out resized to width x height: (intensity float32, mask bool)."""
    shrink = width < cut.mask.shape[1] or height < cut.mask.shape[0]
    interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    intensity = cv2.resize(cut.intensity, (width, height), interpolation=interpolation)
    # The mask is resized as a coverage fraction and cut at one half: the silhouette keeps
    # its shape at any scale instead of growing blocky nearest-neighbour steps.
    coverage = cv2.resize(cut.mask.astype(np.float32), (width, height), interpolation=interpolation)
    return intensity, coverage >= 0.5


def _on_canvas(p: Placement, height: int, width: int) -> tuple[np.ndarray, np.ndarray, int]:
    """(intensity, mask) of a placement over the whole canvas, and its unclipped area."""
    intensity, mask = scaled(p.cut, p.width, p.height)
    full_i = np.zeros((height, width), dtype=np.float32)
    full_m = np.zeros((height, width), dtype=bool)
    y0, x0 = max(p.y, 0), max(p.x, 0)
    y1, x1 = min(p.y + p.height, height), min(p.x + p.width, width)
    if y1 > y0 and x1 > x0:
        src = np.s_[y0 - p.y:y1 - p.y, x0 - p.x:x1 - p.x]
        full_i[y0:y1, x0:x1] = intensity[src]
        full_m[y0:y1, x0:x1] = mask[src]
    return full_i, full_m, int(mask.sum())


def paste(background: np.ndarray, placements: Sequence[Placement], *, min_fraction: float,
          min_pixels: int) -> Composite:
    """Paste `placements` in order over an RGB uint8 background.

    An item is kept when at least `min_pixels` and `min_fraction` of its own (unclipped)
    pixels stay visible after the kept items above it and the canvas border."""
    height, width = background.shape[:2]
    layers = [_on_canvas(p, height, width) for p in placements]
    covered = np.zeros((height, width), dtype=bool)
    kept: list[int] = []
    visible: dict[int, np.ndarray] = {}
    for i in reversed(range(len(placements))):
        _, mask, area = layers[i]
        seen = mask & ~covered
        count = int(seen.sum())
        if count < min_pixels or count < min_fraction * max(area, 1):
            continue        # not drawn: the items below it see through its place
        kept.append(i)
        visible[i] = seen
        covered |= mask
    kept.reverse()

    image = background.astype(np.float32)
    for i in kept:
        intensity, mask, _ = layers[i]
        p = placements[i]
        dark, light = np.float32(p.dark), np.float32(p.light)
        colour = dark + intensity[..., None] * (light - dark)
        # A softer rim (alpha 0.6 on the silhouette's edge pixels) instead of a cut-paper
        # edge; pixels outside the silhouette stay untouched, so the mask is the paste.
        inner = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(np.float32)
        alpha = (mask * (0.6 + 0.4 * inner))[..., None]
        image = image * (1.0 - alpha) + colour * alpha
    pixels = np.clip(np.round(image), 0, 255).astype(np.uint8)
    masks = np.stack([visible[i] for i in kept]) if kept else np.zeros((0, height, width), bool)
    classes = np.array([placements[i].cls for i in kept], dtype=np.int32)
    return Composite(image=pixels, masks=masks, classes=classes, background=background)
