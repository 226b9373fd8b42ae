"""`fashion_composite`: Fashion-MNIST items pasted onto crops of real photographs.

A harder detection / segmentation set than `synthetic_shapes`, built offline from two
Debian packages: items from `dataset-fashion-mnist` (10 classes; mask = the item's own
pixels, edgecv.data.paste), backgrounds from `opencv-doc`'s photos (edgecv.data.backgrounds).

Like `synthetic_shapes`, every sample is a pure function of (seed, index, size), drawn at
the size the model asks for. One scene per (seed, index): the detection and segmentation
sets of one seed show the same images.

- 1..MAX_OBJECTS items, the longer side ITEM_SIDE_PX (12..120 px) at REFERENCE_SIDE (160 px)
  and in proportion at other sizes (64 px: 5..48 px), log-uniform so small and large items
  are equally common; placed anywhere, up to BORDER_CUT of an item past the frame.
- Later items occlude earlier ones; boxes and masks are the visible pixels; an item with
  under MIN_VISIBLE_FRACTION of itself (or MIN_VISIBLE_PIXELS) left is not drawn.
- Colour: the item's intensity maps onto a random tint, lighter than the photo under it on
  dark photos and darker on light ones (so it stays visible), with its own contrast.
- detection: classes = the 10 Fashion-MNIST names; segmentation: 0 = background,
  1 + class id (like `coco` and `masks`).
- `split: train | t10k` picks the items' file: a t10k set never shows a training item.
"""
from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np

from edgecv.data import backgrounds
from edgecv.data.dataset import Dataset, GeneratedSource, new_dataset
from edgecv.data.paste import Composite, CutOut, Placement, cut_out, paste
from edgecv.data.readers.idx import FASHION_CLASSES, read_idx
from edgecv.errors import DataError
from edgecv.tasks.table import target_of

FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
FASHION_HINT = "apt install dataset-fashion-mnist"
DEFAULT_SAMPLES = 1000
MAX_OBJECTS = 6
REFERENCE_SIDE = 160                # ITEM_SIDE_PX hold at this image side; scaled with min(H, W)
ITEM_SIDE_PX = (12.0, 120.0)        # the item's longer side, log-uniform
MIN_ITEM_PX = 3                     # floor at small model sizes
BORDER_CUT = 0.25                   # at most this much of an item's width/height past the frame
MIN_VISIBLE_FRACTION = 0.25
MIN_VISIBLE_PIXELS = 6
LIGHTNESS_GAP = (60.0, 130.0)       # item's light end vs the photo's luminance under it
ITEM_CONTRAST = (0.45, 0.85)        # how much darker the item's dark end is than its light end
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def fashion_items(path: Path | None, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(items uint8 [N, 28, 28], labels int32 [N]) of one Fashion-MNIST split, via the idx reader."""
    root = Path(path) if path is not None else FASHION_MNIST
    if not root.is_dir():
        raise DataError(f"{root}: no Fashion-MNIST folder ({FASHION_HINT})")
    return _read_items(str(root.resolve()), split)


@functools.lru_cache(maxsize=4)
def _read_items(root: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    # Cached: a recipe's train and val sets share the 47 MB training split (read-only arrays).
    ds = read_idx({"path": Path(root), "split": split}, "classification")
    images, labels = ds.source.images[..., 0], np.asarray(ds.source.labels, dtype=np.int32)
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


class CompositeGenerator:
    """Draws scene `index` of the set with `seed` at any size (see the module docstring)."""

    def __init__(self, task: str, seed: int, items: np.ndarray, labels: np.ndarray,
                 photos: list[np.ndarray], max_objects: int = MAX_OBJECTS):
        if len(items) == 0 or len(photos) == 0:
            raise DataError("fashion_composite: needs at least one item and one background photo")
        self.kind = target_of(task)
        self.seed = int(seed)
        self.items, self.labels, self.photos = items, labels, photos
        self.max_objects = int(max_objects)
        self.object_names = list(FASHION_CLASSES)

    def compose(self, index: int, height: int, width: int) -> Composite:
        rng = np.random.default_rng([self.seed, int(index)])
        background = backgrounds.random_crop(self.photos, rng, height, width)
        count = int(rng.integers(1, self.max_objects + 1))
        placements = []
        for _ in range(count):
            item = int(rng.integers(len(self.items)))
            side = np.exp(rng.uniform(*np.log(ITEM_SIDE_PX))) * min(height, width) / REFERENCE_SIDE
            # Every draw happens for every item, so one blank item cannot shift the rest.
            where, gap, contrast = rng.random(2), rng.uniform(*LIGHTNESS_GAP), rng.uniform(*ITEM_CONTRAST)
            tint = rng.uniform(0.2, 1.0, 3).astype(np.float32)
            cut = cut_out(self.items[item])
            if cut is None:
                continue
            placements.append(self._place(cut, int(self.labels[item]), side, where, gap, contrast, tint,
                                          background))
        return paste(background, placements, min_fraction=MIN_VISIBLE_FRACTION, min_pixels=MIN_VISIBLE_PIXELS)

    @staticmethod
    def _place(cut: CutOut, cls: int, side: float, where: np.ndarray, gap: float, contrast: float,
               tint: np.ndarray, background: np.ndarray) -> Placement:
        height, width = background.shape[:2]
        ch, cw = cut.mask.shape
        scale = max(side, MIN_ITEM_PX) / max(ch, cw)
        h, w = max(1, round(ch * scale)), max(1, round(cw * scale))
        x = round(-BORDER_CUT * w + where[0] * (width - w + 2 * BORDER_CUT * w))
        y = round(-BORDER_CUT * h + where[1] * (height - h + 2 * BORDER_CUT * h))
        under = background[max(y, 0):max(y + h, 1), max(x, 0):max(x + w, 1)].reshape(-1, 3)
        luma = float(under.astype(np.float32).mean(axis=0) @ LUMA) if len(under) else 128.0
        target = luma + gap if luma < 128 else luma - gap
        light = tint * np.clip(target, 25.0, 250.0) / max(float(tint @ LUMA), 1e-3)
        light = np.clip(light, 0, 255)
        dark = light * (1.0 - contrast)
        return Placement(cut=cut, cls=cls, x=x, y=y, width=w, height=h,
                         dark=tuple(float(v) for v in dark), light=tuple(float(v) for v in light))

    def sample(self, index: int, height: int, width: int, channels: int = 3):
        """-> (uint8 image [H, W, C], target): (boxes, classes) or an index mask."""
        scene = self.compose(index, height, width)
        pixels = scene.image
        if channels == 1:
            pixels = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)[..., None]
        if self.kind == "mask":
            return pixels, scene.index_mask()
        boxes = np.zeros((self.max_objects, 4), dtype=np.float32)
        classes = np.full((self.max_objects,), -1, dtype=np.int32)
        k = len(scene.classes)
        boxes[:k] = scene.boxes() / np.array([width, height, width, height], dtype=np.float32)
        classes[:k] = scene.classes
        return pixels, (boxes, classes)


def class_names(task: str) -> list[str]:
    return (["background"] if target_of(task) == "mask" else []) + list(FASHION_CLASSES)


def read_fashion_composite(spec: dict, task: str) -> Dataset:
    samples = int(spec.get("samples") or DEFAULT_SAMPLES)
    seed = int(spec.get("seed", 0))
    split = spec.get("split") or "train"
    names = class_names(task)
    if spec.get("classes") and list(spec["classes"]) != names:
        raise DataError(f"fashion_composite: classes are fixed to {names}, got {list(spec['classes'])}")
    items, labels = fashion_items(spec.get("path"), split)
    photos = backgrounds.load_photos(spec.get("backgrounds"))
    generator = CompositeGenerator(task, seed, items, labels, photos)
    source = GeneratedSource(generator=generator, count=samples)
    return new_dataset(task, names, source, name=f"fashion_composite({split}, seed={seed})",
                       limit=spec.get("limit"), seed=seed)
