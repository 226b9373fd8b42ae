"""`digits` format: OpenCV's digits.png sheet (a generated sheet, and the real file when installed)."""

import numpy as np
import pytest

from edgecv.data import load_dataset
from edgecv.data.readers.digits import DEBIAN_PATH, digit_cells
from edgecv.errors import DataError


def test_generated_sheet_cells_and_labels(tmp_path):
    import cv2

    # 10 digits x 5 rows x 3 columns of 20x20 cells; each cell's value encodes (row, col)
    sheet = np.zeros((50 * 20, 3 * 20), np.uint8)
    for r in range(50):
        for c in range(3):
            sheet[r * 20:(r + 1) * 20, c * 20:(c + 1) * 20] = r * 3 + c
    cv2.imwrite(str(tmp_path / "d.png"), sheet)
    images, labels = digit_cells(tmp_path / "d.png")
    assert images.shape == (150, 20, 20) and labels.shape == (150,)
    assert [int(images[i, 0, 0]) for i in (0, 1, 3, 149)] == [0, 1, 3, 149]
    assert labels[:15].tolist() == [0] * 15 and labels[15] == 1 and labels[-1] == 9
    ds = load_dataset({"format": "digits", "path": str(tmp_path / "d.png")}, task="classification")
    assert len(ds) == 150 and ds.class_names == [str(i) for i in range(10)]


def test_not_a_sheet_names_the_file(tmp_path):
    import cv2

    cv2.imwrite(str(tmp_path / "bad.png"), np.zeros((30, 30), np.uint8))
    with pytest.raises(DataError, match="bad.png: 30x30 is not a sheet"):
        digit_cells(tmp_path / "bad.png")
    with pytest.raises(DataError, match="no such file"):
        digit_cells(tmp_path / "missing.png")


@pytest.mark.skipif(not DEBIAN_PATH.exists(), reason="apt install opencv-doc")
def test_real_digits_png():
    images, labels = digit_cells(DEBIAN_PATH)
    assert images.shape == (5000, 20, 20)
    assert np.bincount(labels).tolist() == [500] * 10
