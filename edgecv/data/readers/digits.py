"""`digits`: OpenCV's handwritten digit sheet (`digits.png`, Debian `opencv-doc`:
/usr/share/doc/opencv-doc/examples/data/digits.png): one 2000x1000 greyscale image of
20x20 cells, 50 rows x 100 columns, five rows per digit 0..9 (500 samples each).

Small (1 MB), so held as an array like `idx`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edgecv.data.dataset import ArraySource, Dataset, new_dataset
from edgecv.data.readers import fixed_classes
from edgecv.errors import DataError

CELL = 20
ROWS_PER_DIGIT = 5
DEBIAN_PATH = Path("/usr/share/doc/opencv-doc/examples/data/digits.png")


def digit_cells(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [N, 20, 20], labels int32 [N]) in sheet order (row by row)."""
    import cv2

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file (OpenCV's digits.png: apt install opencv-doc -> {DEBIAN_PATH})")
    sheet = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if sheet is None:
        raise DataError(f"{path}: cannot decode the image")
    h, w = sheet.shape
    if h % (CELL * ROWS_PER_DIGIT) or w % CELL:
        raise DataError(f"{path}: {w}x{h} is not a sheet of {CELL}x{CELL} cells, {ROWS_PER_DIGIT} rows per digit")
    rows, cols = h // CELL, w // CELL
    cells = sheet.reshape(rows, CELL, cols, CELL).swapaxes(1, 2).reshape(rows * cols, CELL, CELL)
    labels = np.repeat(np.arange(rows) // ROWS_PER_DIGIT, cols).astype(np.int32)
    return np.ascontiguousarray(cells), labels


def read_digits(spec: dict, task: str) -> Dataset:
    images, labels = digit_cells(spec["path"])
    count = int(labels.max()) + 1
    names = fixed_classes(spec) or [str(i) for i in range(count)]
    if len(names) < count:
        raise DataError(f"{spec['path']}: {count} digit classes but classes names only {len(names)}")
    return new_dataset(task, names, ArraySource(images=images[..., None], labels=labels),
                       name=f"digits {spec['path']}", limit=spec.get("limit"), seed=spec.get("seed", 0))
