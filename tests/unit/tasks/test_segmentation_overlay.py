"""Overlay images: files written, panels in place, class colours blended as documented."""
from __future__ import annotations

import numpy as np

from edgecv.tasks.segmentation import write_overlays
from edgecv.tasks.segmentation.draw import ALPHA, LABEL_HEIGHT, palette


def test_palette_is_the_pascal_voc_colour_map_in_bgr():
    # VOC RGB: 0 black, 1 (128,0,0), 2 (0,128,0), 3 (128,128,0), 4 (0,0,128)
    assert palette(5).tolist() == [[0, 0, 0], [0, 0, 128], [0, 128, 0], [0, 128, 128], [128, 0, 0]]


def test_overlay_shows_image_truth_and_prediction_side_by_side(tmp_path):
    import cv2

    x = np.full((3, 16, 16, 3), 100, np.uint8)
    truth = np.zeros((3, 16, 16), np.uint8)
    truth[:, :8, :8] = 1
    scores = np.zeros((3, 16, 16, 3), np.float32)
    scores[..., 0] = 1.0
    scores[:, :8, :8, 2] = 2.0                         # predicted class 2 where the truth is class 1
    paths = write_overlays(tmp_path, x, [scores], truth, ["background", "a", "b"], limit=2)
    assert [p.name for p in paths] == ["sample_000.png", "sample_001.png"]
    image = cv2.imread(str(paths[0]))
    panel = 128                                        # 16 px enlarged 8x (nearest) to MIN_PANEL
    assert image.shape[1] == 3 * panel and image.shape[0] > LABEL_HEIGHT + panel
    y = LABEL_HEIGHT + 10                              # inside the top-left 8x8 block (64 px enlarged)
    blend = round((1 - ALPHA) * 100 + ALPHA * 128)
    dim = round((1 - ALPHA) * 100)
    assert image[y, 10].tolist() == [100, 100, 100]                    # input, untouched
    assert image[y, panel + 10].tolist() == [dim, dim, blend]          # truth: class 1 red (BGR)
    assert image[y, 2 * panel + 10].tolist() == [dim, blend, dim]      # prediction: class 2 green
    assert image[LABEL_HEIGHT + 100, 2 * panel + 100].tolist() == [100, 100, 100]   # background untinted
