"""Background photographs for pasted datasets: which photos, loading them, random crops.

The default photos ship with OpenCV's samples (Debian `opencv-doc`), so a set built on
them is offline and installable in CI. A `backgrounds:` folder of the user's own photos
replaces them (every image under it).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edgecv.data.images import list_images
from edgecv.errors import DataError

OPENCV_SAMPLES = Path("/usr/share/doc/opencv-doc/examples/data")
PACKAGE_HINT = "apt install opencv-doc"
# Real photographs among OpenCV's samples: scenes, animals, fruit, people, aerial views,
# a circuit board, cluttered desks. Left out: logos, charts, drawings and paintings
# (HappyFish, starry_night), renders (blox, smarties, pic*.png), text pages, and the
# flat calibration patterns (chessboard, left02.. which repeat left01's scene).
PHOTOS = (
    "baboon.jpg", "fruits.jpg", "building.jpg", "home.jpg", "messi5.jpg", "orange.jpg",
    "apple.jpg", "butterfly.jpg", "aero1.jpg", "aero3.jpg", "board.jpg", "left01.jpg",
    "aloeL.jpg", "basketball1.png", "graf1.png", "leuvenA.jpg", "rubberwhale1.png",
    "squirrel_cls.jpg", "stuff.jpg", "box_in_scene.png", "chicky_512.png", "ela_original.jpg",
    "left.jpg",
)
MAX_SIDE = 640              # photos are shrunk to this on load: crops never need more, memory stays small
CROP_SIDE = (0.3, 1.0)      # crop's short side as a fraction of the photo's short side
CONTRAST = (0.6, 1.4)       # jitter around the crop's mean
BRIGHTNESS = (-40.0, 40.0)


def photo_paths(folder: Path | None) -> list[Path]:
    """The default OpenCV photos, or every image under a user's `folder`."""
    if folder is None:
        if not OPENCV_SAMPLES.is_dir():
            raise DataError(f"{OPENCV_SAMPLES}: no OpenCV sample photos for the backgrounds ({PACKAGE_HINT})")
        paths = [OPENCV_SAMPLES / name for name in PHOTOS]
        missing = [p for p in paths if not p.is_file()]
        if missing:
            raise DataError(f"{missing[0]}: background photo missing ({PACKAGE_HINT})")
        return paths
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: backgrounds folder not found (a folder of photos; default {OPENCV_SAMPLES}, "
                        f"{PACKAGE_HINT})")
    paths = list_images(folder)
    if not paths:
        raise DataError(f"{folder}: backgrounds folder holds no images")
    return paths


def load_photos(folder: Path | None = None) -> list[np.ndarray]:
    """RGB uint8 photos, each shrunk to at most MAX_SIDE."""
    photos = []
    for path in photo_paths(folder):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise DataError(f"{path}: cannot decode background photo")
        scale = MAX_SIDE / max(image.shape[:2])
        if scale < 1:
            image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        photos.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    return photos


def random_crop(photos: list[np.ndarray], rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A random crop of a random photo at height x width (aspect kept, maybe mirrored),
    brightness/contrast jittered: uint8 RGB."""
    photo = photos[int(rng.integers(len(photos)))]
    ph, pw = photo.shape[:2]
    # Largest crop of the output's aspect ratio that fits, then scaled down at random.
    fit = min(ph / height, pw / width)
    scale = fit * rng.uniform(*CROP_SIDE)
    ch, cw = max(1, round(height * scale)), max(1, round(width * scale))
    y, x = int(rng.integers(0, ph - ch + 1)), int(rng.integers(0, pw - cw + 1))
    crop = photo[y:y + ch, x:x + cw]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    interpolation = cv2.INTER_AREA if ch > height else cv2.INTER_LINEAR
    crop = cv2.resize(np.ascontiguousarray(crop), (width, height), interpolation=interpolation).astype(np.float32)
    mean = crop.mean()
    crop = (crop - mean) * rng.uniform(*CONTRAST) + mean + rng.uniform(*BRIGHTNESS)
    return np.clip(np.round(crop), 0, 255).astype(np.uint8)
