"""`data.resize`: stretch vs letterbox, checked pixel by pixel, box by box and mask by mask.

A 40x20 (WxH) image letterboxed to 32x32 is scaled by 0.8 to 32x16 and centred:
rows 0-7 and 24-31 are padding. Its box (10,5)-(30,15) lands at (8,12)-(24,20).
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

import edgecv  # noqa: F401
from edgecv.data import eval_arrays, load_dataset, make_pipeline, representative_dataset
from edgecv.data.dataset import VOID
from edgecv.data.normalize import LETTERBOX_FILL
from edgecv.errors import DataError

IMAGE_H, IMAGE_W = 20, 40
MODEL = (32, 32, 3)
BOX_PX = (10, 5, 30, 15)                    # x1, y1, x2, y2 in the 40x20 image
LETTERBOXED_BOX = (8 / 32, 12 / 32, 24 / 32, 20 / 32)


def _picture() -> np.ndarray:
    image = np.zeros((IMAGE_H, IMAGE_W, 3), np.uint8)
    x1, y1, x2, y2 = BOX_PX
    image[y1:y2, x1:x2] = 255
    return image


@pytest.fixture(scope="module")
def yolo_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("letterbox_yolo")
    (root / "images").mkdir()
    (root / "labels").mkdir()
    cv2.imwrite(str(root / "images" / "wide.png"), _picture())
    x1, y1, x2, y2 = BOX_PX
    (root / "labels" / "wide.txt").write_text(
        f"0 {(x1 + x2) / 2 / IMAGE_W} {(y1 + y2) / 2 / IMAGE_H} {(x2 - x1) / IMAGE_W} {(y2 - y1) / IMAGE_H}\n")
    (root / "classes.txt").write_text("block\n")
    return load_dataset({"format": "yolo", "path": str(root)}, task="detection")


def test_letterbox_keeps_the_aspect_ratio_and_maps_the_box(yolo_set):
    x, targets = eval_arrays(yolo_set, input_shape=MODEL, resize="letterbox")
    image = x[0]
    assert (image[:8] == LETTERBOX_FILL).all() and (image[24:] == LETTERBOX_FILL).all()
    boxes, classes = targets[0]
    np.testing.assert_allclose(boxes[0], LETTERBOXED_BOX, atol=1e-6)
    assert classes.tolist() == [0]
    # The drawn block is exactly where the box says (interior; edges are blended by the resize).
    assert (image[13:19, 9:23] == 255).all()
    assert (image[8:11] == 0).all() and (image[21:24] == 0).all()


def test_stretch_fills_the_frame_and_keeps_normalised_boxes(yolo_set):
    x, targets = eval_arrays(yolo_set, input_shape=MODEL, resize="stretch")
    np.testing.assert_allclose(targets[0][0][0], (0.25, 0.25, 0.75, 0.75), atol=1e-6)
    assert (x[0][9:23, 9:23] == 255).all() and (x[0][:7] == 0).all()


def test_training_calibration_and_eval_see_the_same_letterboxed_pixels(yolo_set):
    x, _ = eval_arrays(yolo_set, input_shape=MODEL, resize="letterbox")
    batch, target = next(iter(make_pipeline(yolo_set, input_shape=MODEL, batch_size=1, training=False,
                                            resize="letterbox")))
    np.testing.assert_allclose(batch.numpy()[0], (x[0].astype(np.float32) - 127.5) / 127.5, atol=1e-6)
    np.testing.assert_allclose(target["boxes"].numpy()[0][0], LETTERBOXED_BOX, atol=1e-6)
    calibration = next(representative_dataset(yolo_set, input_shape=MODEL, samples=1, resize="letterbox")())
    np.testing.assert_allclose(calibration[0][0], batch.numpy()[0], atol=1e-6)


def test_letterboxed_masks_are_padded_with_void(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    cv2.imwrite(str(tmp_path / "images" / "wide.png"), _picture())
    mask = np.zeros((IMAGE_H, IMAGE_W), np.uint8)
    x1, y1, x2, y2 = BOX_PX
    mask[y1:y2, x1:x2] = 1
    cv2.imwrite(str(tmp_path / "masks" / "wide.png"), mask)
    ds = load_dataset({"format": "masks", "images": str(tmp_path / "images"), "masks": str(tmp_path / "masks"),
                       "classes": ["background", "block"]}, task="segmentation")
    _, masks = eval_arrays(ds, input_shape=MODEL, resize="letterbox")
    expected = np.full((32, 32), VOID, np.uint8)
    expected[8:24] = 0
    expected[12:20, 8:24] = 1                  # nearest resize of an exact 0.8 scaling
    np.testing.assert_array_equal(masks[0], expected)


def test_unknown_resize_mode_is_refused(yolo_set):
    with pytest.raises(DataError, match="resize: expected one of stretch, letterbox, got 'squash'"):
        eval_arrays(yolo_set, input_shape=MODEL, resize="squash")


def test_auto_anchor_box_sizes_follow_the_resize_mode(yolo_set):
    from edgecv.tasks.detection import training_box_sizes

    # The 20x10 px box: letterbox scales it by 0.8; stretch maps its normalised 0.5 x 0.5 to 32 px.
    np.testing.assert_allclose(training_box_sizes(yolo_set, MODEL, resize="letterbox"), [[16.0, 8.0]])
    np.testing.assert_allclose(training_box_sizes(yolo_set, MODEL, resize="stretch"), [[16.0, 16.0]])


def test_tall_image_into_a_wide_model_pads_the_sides_and_keeps_padding_rows(tmp_path):
    """40x20 (HxW) into 32x48: scale 0.8 -> 32x16, 16 columns of padding each side.
    The square image has two boxes, so the tall one carries a padding row (class -1)."""
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    tall = np.zeros((40, 20, 3), np.uint8)
    tall[10:30, 5:15] = 255                                   # box (5,10)-(15,30)
    cv2.imwrite(str(tmp_path / "images" / "a_tall.png"), tall)
    (tmp_path / "labels" / "a_tall.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    cv2.imwrite(str(tmp_path / "images" / "b_square.png"), np.zeros((20, 20, 3), np.uint8))
    (tmp_path / "labels" / "b_square.txt").write_text("0 0.25 0.25 0.5 0.5\n0 0.75 0.75 0.5 0.5\n")
    (tmp_path / "classes.txt").write_text("block\n")
    ds = load_dataset({"format": "yolo", "path": str(tmp_path)}, task="detection")
    x, target = next(iter(make_pipeline(ds, input_shape=(32, 48, 3), batch_size=2, training=False,
                                        resize="letterbox")))
    image = np.round(x.numpy()[0] * 127.5 + 127.5)
    assert (image[:, :16] == LETTERBOX_FILL).all() and (image[:, 32:] == LETTERBOX_FILL).all()
    assert (image[9:23, 21:27] == 255).all()
    boxes, classes = target["boxes"].numpy(), target["classes"].numpy()
    np.testing.assert_allclose(boxes[0, 0], (20 / 48, 8 / 32, 28 / 48, 24 / 32), atol=1e-6)
    assert classes.tolist() == [[0, -1], [0, 0]]
    np.testing.assert_array_equal(boxes[0, 1], 0.0)          # the padding row is left alone
    # The 20x20 square: scale 1.6 -> 32x32, 8 columns of padding each side.
    np.testing.assert_allclose(boxes[1, 0], (8 / 48, 0.0, 24 / 48, 0.5), atol=1e-6)
