"""`idx`: MNIST-style `<split>-images-idx3-ubyte[.gz]` + `<split>-labels-idx1-ubyte[.gz]`.

These sets are small (Fashion-MNIST train: 47 MB of uint8), so they are held as arrays.
"""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from edgecv.data.dataset import ArraySource, Dataset, new_dataset
from edgecv.data.readers import fixed_classes, require_dir
from edgecv.errors import DataError

IMAGES_MAGIC = 2051      # 0x00000803: unsigned byte, 3 dimensions
LABELS_MAGIC = 2049      # 0x00000801: unsigned byte, 1 dimension
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def _find(root: Path, stem: str) -> Path:
    for name in (f"{stem}.gz", stem, f"{stem.replace('-idx', '.idx')}.gz", stem.replace("-idx", ".idx")):
        if (root / name).is_file():
            return root / name
    raise DataError(f"{root}: no {stem}.gz (or {stem}) file")


def _read_idx(path: Path, magic: int) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            data = handle.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read idx file: {exc}") from None
    if len(data) < 8 or int.from_bytes(data[:4], "big") != magic:
        got = int.from_bytes(data[:4], "big") if len(data) >= 4 else None
        raise DataError(f"{path}: not an idx file (magic {got}, expected {magic})")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    expected = int(np.prod(dims))
    if len(data) - offset != expected:
        raise DataError(f"{path}: holds {len(data) - offset} bytes of data, header says {expected} (truncated?)")
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(dims)


def read_idx_split(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images [N, H, W], int32 labels [N]) of one split of an idx folder."""
    root = Path(root)
    images = _read_idx(_find(root, f"{split}-images-idx3-ubyte"), IMAGES_MAGIC)
    labels = _read_idx(_find(root, f"{split}-labels-idx1-ubyte"), LABELS_MAGIC).astype(np.int32)
    if len(images) != len(labels):
        raise DataError(f"{root}: {len(images)} images but {len(labels)} labels in split {split!r}")
    return images, labels


def read_idx(spec: dict, task: str) -> Dataset:
    root = require_dir(spec["path"], "idx folder")
    split = spec.get("split") or "train"
    images, labels = read_idx_split(root, split)
    count = int(labels.max()) + 1 if len(labels) else 0
    names = fixed_classes(spec)
    if names is None:
        # The files carry no names; Debian's dataset-fashion-mnist folder is recognised by name.
        names = FASHION_CLASSES if "fashion" in str(root).lower() and count <= 10 else [str(i) for i in range(count)]
    if len(names) < count:
        raise DataError(f"{root}: labels go up to {count - 1} but classes names only {len(names)}")
    source = ArraySource(images=images[..., None], labels=labels)
    return new_dataset(task, names, source, name=f"idx {root} ({split})",
                       limit=spec.get("limit"), seed=spec.get("seed", 0))
