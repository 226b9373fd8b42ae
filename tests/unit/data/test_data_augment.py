"""Augmentation geometry: boxes cover the moved object, masks stay on their image."""
from __future__ import annotations

import numpy as np
import pytest

import edgecv  # noqa: F401
from edgecv.data.augment import augmenter, transform_boxes

tf = pytest.importorskip("tensorflow")
S = 48


def _rectangle_sample():
    image = np.zeros((S, S, 3), np.uint8)
    image[10:30, 6:22] = 255                      # rows 10..29, cols 6..21
    boxes = np.array([[6 / S, 10 / S, 22 / S, 30 / S], [0, 0, 0, 0]], np.float32)
    classes = np.array([2, -1], np.int32)
    return image, boxes, classes


def _run(spec, task, image, target, seed):
    """Augment a batch of one sample; returns the sample without the batch axis."""
    fn = augmenter(spec, task, (S, S, 3))
    batched = tf.nest.map_structure(lambda t: tf.convert_to_tensor(t)[None], target)
    out_image, out_target = fn(tf.constant(image)[None], batched, tf.constant([seed, 7], tf.int64))
    return out_image.numpy()[0], tf.nest.map_structure(lambda t: t[0], out_target)


def test_flip_is_exact_for_image_and_box():
    image, boxes, classes = _rectangle_sample()
    flipped = 0
    for seed in range(8):
        out, (b, c) = _run({"flip": True}, "detection", image, (tf.constant(boxes), tf.constant(classes)), seed)
        if np.array_equal(out, image[:, ::-1]):
            flipped += 1
            np.testing.assert_allclose(b.numpy()[0], [1 - 22 / S, 10 / S, 1 - 6 / S, 30 / S], atol=1e-6)
        else:
            np.testing.assert_array_equal(out, image)
            np.testing.assert_allclose(b.numpy()[0], boxes[0], atol=1e-6)
        assert c.numpy().tolist() == [2, -1]
    assert 0 < flipped < 8


@pytest.mark.parametrize("spec", [
    {"crop": 0.5}, {"rotate": 30.0}, {"shear": 0.3}, {"flip": True, "vflip": True, "crop": 0.4, "rotate": 20.0},
])
def test_box_covers_the_transformed_rectangle(spec):
    image, boxes, classes = _rectangle_sample()
    for seed in range(6):
        out, (b, c) = _run(spec, "detection", image, (tf.constant(boxes), tf.constant(classes)), seed)
        b, c = b.numpy(), c.numpy()
        ys, xs = np.nonzero(out[..., 0] > 191)   # fill grey is 128
        if c[0] < 0:   # dropped: the rectangle must be (mostly) gone from the frame
            assert len(xs) < 0.25 * 20 * 16 * 4
            continue
        assert c.tolist() == [2, -1]
        x1, y1, x2, y2 = b[0] * S
        assert xs.min() >= np.floor(x1) - 1 and xs.max() + 1 <= np.ceil(x2) + 1, (spec, seed, b[0] * S)
        assert ys.min() >= np.floor(y1) - 1 and ys.max() + 1 <= np.ceil(y2) + 1, (spec, seed, b[0] * S)
        assert 0.0 <= b[0].min() and b[0].max() <= 1.0


def test_crop_zoom_box_is_tight_without_rotation():
    image, boxes, classes = _rectangle_sample()
    out, (b, _) = _run({"crop": 0.3}, "detection", image, (tf.constant(boxes), tf.constant(classes)), 1)
    ys, xs = np.nonzero(out[..., 0] > 191)   # fill grey is 128
    x1, y1, x2, y2 = b.numpy()[0] * S
    # An axis-aligned zoom moves the rectangle's edges exactly with the box edges.
    assert abs(xs.min() - x1) <= 1.0 and abs(xs.max() + 1 - x2) <= 1.0
    assert abs(ys.min() - y1) <= 1.0 and abs(ys.max() + 1 - y2) <= 1.0


def test_boxes_leaving_the_frame_are_dropped_and_compacted():
    boxes = tf.constant([[0.0, 0.0, 0.2, 0.2], [0.5, 0.5, 0.9, 0.9], [0, 0, 0, 0]], tf.float32)
    classes = tf.constant([1, 3, -1], tf.int32)
    shift_left = tf.constant([[1.0, 0.0, -0.3 * S], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    new_boxes, new_classes = transform_boxes(boxes[None], classes[None], shift_left[None], S, S)
    assert new_classes.numpy().tolist() == [[3, -1, -1]]
    np.testing.assert_allclose(new_boxes.numpy()[0, 0], [0.2, 0.5, 0.6, 0.9], atol=1e-6)
    np.testing.assert_array_equal(new_boxes.numpy()[0, 1:], 0.0)
    # Partly outside: clipped to the frame, kept while >= 25% stays visible.
    partly = tf.constant([[1.0, 0.0, 0.15 * S], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    new_boxes, new_classes = transform_boxes(boxes[None, 1:2], classes[None, 1:2], partly[None], S, S)
    np.testing.assert_allclose(new_boxes.numpy()[0, 0], [0.65, 0.5, 1.0, 0.9], atol=1e-6)
    assert new_classes.numpy().tolist() == [[3]]


def test_mask_stays_aligned_with_its_image():
    rng = np.random.default_rng(0)
    mask = np.zeros((S, S), np.uint8)
    mask[5:25, 8:30] = 1
    mask[28:44, 20:40] = 2
    image = np.repeat((mask * 100)[..., None], 3, axis=-1).astype(np.uint8)
    spec = {"flip": True, "crop": 0.4, "rotate": 25.0, "shear": 0.2}
    for seed in rng.integers(0, 1000, 5):
        out, out_mask = _run(spec, "segmentation", image, tf.constant(mask), int(seed))
        out_mask = out_mask.numpy()
        assert out_mask.dtype == np.uint8 and set(np.unique(out_mask)) <= {0, 1, 2, 255}   # nearest: no blends
        # The same seed warps a white frame identically: its grey part is the fill, not data.
        frame, _ = _run(spec, "segmentation", np.full_like(image, 255), tf.constant(mask), int(seed))
        inside = frame[..., 0] == 255
        agree = np.mean(np.abs(out[..., 0].astype(int) - out_mask.astype(int) * 100)[inside] <= 50)
        assert agree > 0.95
        assert (out_mask[frame[..., 0] < 128] == 255).all()    # outside the frame: VOID, not background
        assert out_mask.any()


def test_colour_ops_keep_geometry_and_are_seeded():
    image, boxes, classes = _rectangle_sample()
    image = image // 2 + 60
    spec = {"color": 0.4, "pca_color": 0.5}
    a, (b1, _) = _run(spec, "detection", image, (tf.constant(boxes), tf.constant(classes)), 3)
    again, _ = _run(spec, "detection", image, (tf.constant(boxes), tf.constant(classes)), 3)
    other, _ = _run(spec, "detection", image, (tf.constant(boxes), tf.constant(classes)), 4)
    np.testing.assert_array_equal(a, again)
    assert not np.array_equal(a, other) and not np.array_equal(a, image)
    np.testing.assert_allclose(b1.numpy(), boxes)


def test_no_augmentation_means_no_function():
    assert augmenter({}, "classification", (S, S, 3)) is None
    assert augmenter({"flip": False, "crop": 0.0}, "classification", (S, S, 3)) is None


def test_batch_samples_get_their_own_transforms():
    image, boxes, classes = _rectangle_sample()
    fn = augmenter({"flip": True}, "detection", (S, S, 3))
    images = tf.constant(np.stack([image] * 16))
    targets = (tf.constant(np.stack([boxes] * 16)), tf.constant(np.stack([classes] * 16)))
    out, (b, _) = fn(images, targets, tf.constant([0, 1], tf.int64))
    flipped = np.array([np.array_equal(o, image[:, ::-1]) for o in out.numpy()])
    assert 0 < flipped.sum() < 16
    np.testing.assert_allclose(b.numpy()[flipped, 0, 0], 1 - 22 / S, atol=1e-6)
    np.testing.assert_allclose(b.numpy()[~flipped, 0, 0], 6 / S, atol=1e-6)
