"""synthetic_shapes: deterministic per (seed, index), labels/boxes/masks consistent with pixels."""
from __future__ import annotations

import numpy as np

import edgecv  # noqa: F401
from edgecv.data import eval_arrays, load_dataset, make_pipeline
from edgecv.data.synthetic import MAX_OBJECTS, SHAPE_NAMES, ShapesGenerator


def test_same_seed_and_index_give_the_same_sample_in_any_order():
    gen = ShapesGenerator("classification", seed=5)
    first = [gen.sample(i, 40, 40)[0] for i in (3, 1, 2)]
    again = [ShapesGenerator("classification", seed=5).sample(i, 40, 40)[0] for i in (3, 1, 2)]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    other_seed = ShapesGenerator("classification", seed=6).sample(3, 40, 40)[0]
    assert not np.array_equal(first[0], other_seed)
    assert not np.array_equal(first[0], first[1])


def test_classification_is_balanced_and_sized_to_the_model():
    ds = load_dataset({"format": "synthetic_shapes", "samples": 50}, task="classification")
    assert ds.class_names == SHAPE_NAMES and len(SHAPE_NAMES) >= 5
    assert np.bincount(ds.labels).tolist() == [10] * 5
    x, y = eval_arrays(ds, input_shape=(40, 48, 1))
    assert x.shape == (50, 40, 48, 1) and y.tolist() == ds.labels.tolist()
    assert x.std() > 20          # shapes and texture, not a flat image


def test_detection_boxes_match_the_drawn_pixels():
    gen = ShapesGenerator("detection", seed=0)
    seg = ShapesGenerator("segmentation", seed=0)
    for index in range(10):
        image, (boxes, classes) = gen.sample(index, 64, 64)
        assert boxes.shape == (MAX_OBJECTS, 4) and classes.shape == (MAX_OBJECTS,)
        valid = classes >= 0
        assert valid[0] and (valid[: valid.sum()]).all()          # kept boxes come first
        assert (boxes[valid, 2] > boxes[valid, 0]).all() and (boxes[valid, 3] > boxes[valid, 1]).all()
        assert ((boxes >= 0) & (boxes <= 1)).all()
        # Every box lies over a region that differs from the background around it.
        for box in boxes[valid]:
            x1, y1, x2, y2 = np.round(box * 64).astype(int)
            assert image[y1:y2, x1:x2].std() > 0
    _, mask = seg.sample(0, 64, 64)
    assert mask.dtype == np.uint8 and 0 < mask.max() <= len(SHAPE_NAMES) and (mask == 0).any()


def test_detection_and_segmentation_pipelines():
    det = load_dataset({"format": "synthetic_shapes", "samples": 8, "seed": 2}, task="detection")
    x, y = next(iter(make_pipeline(det, input_shape=(32, 32, 3), batch_size=8, training=True,
                                   augment={"flip": True, "crop": 0.2})))
    assert x.shape == (8, 32, 32, 3) and y["boxes"].shape == (8, MAX_OBJECTS, 4)
    assert (y["classes"].numpy() >= -1).all() and (y["classes"].numpy()[:, 0] >= 0).any()
    seg = load_dataset({"format": "synthetic_shapes", "samples": 4}, task="segmentation")
    assert seg.class_names[0] == "background"
    _, masks = eval_arrays(seg, input_shape=(32, 32, 3))
    assert masks.shape == (4, 32, 32) and masks.max() < len(seg.class_names)


def test_training_pipeline_is_seeded_and_reshuffles_each_epoch():
    ds = load_dataset({"format": "synthetic_shapes", "samples": 40}, task="classification")

    def labels(pipeline):
        return np.concatenate([y.numpy() for _, y in pipeline])

    a = make_pipeline(ds, input_shape=(16, 16, 3), batch_size=8, training=True, seed=1)
    b = make_pipeline(ds, input_shape=(16, 16, 3), batch_size=8, training=True, seed=1)
    epoch1, epoch2 = labels(a), labels(a)
    np.testing.assert_array_equal(epoch1, labels(b))
    assert not np.array_equal(epoch1, epoch2)
    assert sorted(epoch1) == sorted(ds.labels)
    val = make_pipeline(ds, input_shape=(16, 16, 3), batch_size=8, training=False)
    np.testing.assert_array_equal(labels(val), ds.labels)


def test_representative_dataset_uses_the_inference_preprocessing():
    from edgecv.data import representative_dataset
    from edgecv.data.normalize import normalize

    ds = load_dataset({"format": "synthetic_shapes", "samples": 6, "seed": 4}, task="classification")
    x, _ = eval_arrays(ds, input_shape=(24, 24, 3))
    rep = list(representative_dataset(ds, input_shape=(24, 24, 3), samples=6)())
    assert len(rep) == 6 and all(len(item) == 1 and item[0].shape == (1, 24, 24, 3) for item in rep)
    np.testing.assert_array_equal(np.concatenate([item[0] for item in rep]), normalize(x))
    batch_x, _ = next(iter(make_pipeline(ds, input_shape=(24, 24, 3), batch_size=6, training=False)))
    np.testing.assert_array_equal(batch_x.numpy(), normalize(x))
    assert len(list(representative_dataset(ds, input_shape=(24, 24, 3), samples=3)())) == 3
