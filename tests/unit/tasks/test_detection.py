"""Detection math on hand-made arrays: IoU, NMS, anchors, targets <-> decoding, mAP, loss."""
from __future__ import annotations

import math

import numpy as np
import pytest

import edgecv  # noqa: F401
from edgecv.errors import RecipeError
from edgecv.tasks.detection import DetectionTask, make_task
from edgecv.tasks.detection.anchors import group_anchors, kmeans_anchors, mean_best_iou, wh_iou
from edgecv.tasks.detection.evaluate import coco_map
from edgecv.tasks.detection.postprocess import box_iou, detect, nms, per_class_nms
from edgecv.tasks.detection.targets import HeadLayout, encode_targets, split_target, targets_to_logits

INPUT_HW = (64, 64)
# Two heads like tiny_yolo_v3 at 64 px: stride 32 (2x2) and stride 16 (4x4).
SMALL = ((8.0, 8.0), (12.0, 18.0), (18.0, 12.0))
LARGE = ((24.0, 24.0), (30.0, 44.0), (44.0, 30.0))
HEADS = [HeadLayout(2, 2, LARGE), HeadLayout(4, 4, SMALL)]    # model order: coarse head first


# ---------------------------------------------------------------- IoU
@pytest.mark.parametrize("a, b, expected", [
    ([0, 0, 2, 2], [1, 1, 3, 3], 1 / 7),           # 1 px^2 shared, 4 + 4 - 1 union
    ([0, 0, 1, 1], [2, 2, 3, 3], 0.0),             # apart
    ([0, 0, 1, 1], [1, 0, 2, 1], 0.0),             # touching edges only
    ([0, 0, 4, 4], [1, 1, 3, 3], 4 / 16),          # containment: inner area / outer area
    ([0.1, 0.2, 0.5, 0.6], [0.1, 0.2, 0.5, 0.6], 1.0),
    ([0, 0, 0, 0], [0, 0, 0, 0], 0.0),             # empty boxes give 0, not NaN
])
def test_box_iou_hand_values(a, b, expected):
    assert box_iou(np.array([a]), np.array([b]))[0, 0] == pytest.approx(expected)
    assert box_iou(np.array([b]), np.array([a]))[0, 0] == pytest.approx(expected)


def test_box_iou_is_pairwise():
    a = np.array([[0, 0, 2, 2], [0, 0, 4, 4]])
    b = np.array([[1, 1, 3, 3], [1, 1, 3, 3], [10, 10, 11, 11]])
    np.testing.assert_allclose(box_iou(a, b), [[1 / 7, 1 / 7, 0], [4 / 16, 4 / 16, 0]])


# ---------------------------------------------------------------- NMS
CRAFTED = np.array([
    [0, 0, 10, 10],     # 0 class 0 .90  best: kept
    [1, 0, 11, 10],     # 1 class 0 .80  IoU 90/110 = .82 with 0: suppressed
    [5, 0, 15, 10],     # 2 class 0 .70  IoU 50/150 = .33 with 0: kept
    [0, 0, 10, 10],     # 3 class 1 .85  same place as 0 but another class: kept
    [20, 20, 30, 30],   # 4 class 0 .04  below the score threshold: dropped
    [0, 0, 10, 5],      # 5 class 0 .60  IoU exactly 0.5 with 0: suppressed (>=)
], dtype=np.float32)
CRAFTED_SCORES = np.array([0.9, 0.8, 0.7, 0.85, 0.04, 0.6], dtype=np.float32)
CRAFTED_CLASSES = np.array([0, 0, 0, 1, 0, 0])


def test_per_class_nms_on_crafted_boxes():
    keep = per_class_nms(CRAFTED, CRAFTED_SCORES, CRAFTED_CLASSES, score_threshold=0.05,
                         iou_threshold=0.5, max_detections=100)
    assert keep.tolist() == [0, 3, 2]
    capped = per_class_nms(CRAFTED, CRAFTED_SCORES, CRAFTED_CLASSES, score_threshold=0.05,
                           iou_threshold=0.5, max_detections=2)
    assert capped.tolist() == [0, 3]
    # A looser IoU threshold keeps box 5 (IoU 0.5 < 0.55) and box 1 is still suppressed.
    loose = per_class_nms(CRAFTED, CRAFTED_SCORES, CRAFTED_CLASSES, score_threshold=0.05,
                          iou_threshold=0.55, max_detections=100)
    assert loose.tolist() == [0, 3, 2, 5]


def test_nms_single_class_and_empty():
    assert nms(CRAFTED[:3], CRAFTED_SCORES[:3], 0.5).tolist() == [0, 2]
    assert per_class_nms(CRAFTED, CRAFTED_SCORES, CRAFTED_CLASSES, score_threshold=0.95,
                         iou_threshold=0.5, max_detections=10).tolist() == []


# ---------------------------------------------------------------- anchors
def test_kmeans_recovers_known_clusters():
    rng = np.random.default_rng(0)
    centres = np.array([[10.0, 10.0], [30.0, 15.0], [15.0, 40.0]])
    wh = np.concatenate([c * rng.uniform(0.95, 1.05, size=(200, 2)) for c in centres])
    anchors = kmeans_anchors(wh, 3, seed=1)
    # Sorted by area: 100, 450, 600.
    np.testing.assert_allclose(anchors, centres, rtol=0.02)
    assert mean_best_iou(wh, anchors) > 0.9


def test_kmeans_rejects_too_few_sizes_and_groups_by_area():
    with pytest.raises(ValueError, match="only 2 distinct sizes"):
        kmeans_anchors(np.array([[1, 1], [2, 2], [1, 1]]), 3)
    groups = group_anchors(np.array([[40, 40], [5, 5], [20, 20], [10, 10]]), 2)
    assert groups == [[[5.0, 5.0], [10.0, 10.0]], [[20.0, 20.0], [40.0, 40.0]]]
    assert wh_iou(np.array([[2, 4]]), np.array([[4, 2]]))[0, 0] == pytest.approx(4 / 12)


# ---------------------------------------------------------------- targets <-> decoding
BOXES = np.array([
    [[0.10, 0.10, 0.22, 0.22], [0.55, 0.20, 0.95, 0.85], [0.30, 0.60, 0.48, 0.90], [0, 0, 0, 0]],
    [[0.60, 0.60, 0.78, 0.72], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]],
], dtype=np.float32)
CLASSES = np.array([[0, 2, 1, -1], [1, -1, -1, -1]], dtype=np.int32)


def test_encoding_puts_each_box_in_its_cell_and_best_anchor():
    targets = encode_targets(BOXES, CLASSES, HEADS, INPUT_HW)
    assert [t.shape for t in targets] == [(2, 2 * 2 * 3 * 6 + 16), (2, 4 * 4 * 3 * 6 + 16)]
    coarse, coarse_boxes = split_target(targets[0], HEADS[0])
    fine, _ = split_target(targets[1], HEADS[1])
    # Box 0: 7.68 px square, centre (0.16, 0.16) -> fine head, cell (0, 0), anchor 8x8.
    np.testing.assert_allclose(fine[0, 0, 0, 0], [0.16, 0.16, 0.12, 0.12, 1, 0], atol=1e-6)
    # Box 1: 25.6 x 41.6 px, centre (0.75, 0.525) -> coarse head, cell (row 1, col 1), anchor 30x44.
    np.testing.assert_allclose(coarse[0, 1, 1, 1], [0.75, 0.525, 0.4, 0.65, 1, 2], atol=1e-6)
    # Box 2: 11.52 x 19.2 px, centre (0.39, 0.75) -> fine head, cell (row 3, col 1), anchor 12x18.
    np.testing.assert_allclose(fine[0, 3, 1, 1], [0.39, 0.75, 0.18, 0.3, 1, 1], atol=1e-6)
    assert coarse[..., 4].sum() + fine[..., 4].sum() == 4
    np.testing.assert_allclose(coarse_boxes[0, :3], BOXES[0, :3])
    assert not coarse_boxes[0, 3].any() and not coarse_boxes[1, 1:].any()


def test_encode_then_decode_recovers_the_boxes():
    targets = encode_targets(BOXES, CLASSES, HEADS, INPUT_HW)
    outputs = [targets_to_logits(t, h, INPUT_HW, num_classes=3) for t, h in zip(targets, HEADS)]
    groups = [SMALL, LARGE]       # finest head first; the outputs come coarse first
    found = detect(outputs, groups, INPUT_HW, 3, score_threshold=0.5, iou_threshold=0.45)
    for image in range(2):
        boxes, scores, classes = found[image]
        valid = CLASSES[image] >= 0
        order = np.lexsort((boxes[:, 0], classes))
        truth = np.lexsort((BOXES[image][valid][:, 0], CLASSES[image][valid]))
        np.testing.assert_allclose(boxes[order], BOXES[image][valid][truth], atol=1e-4)
        assert classes[order].tolist() == CLASSES[image][valid][truth].tolist()
        assert np.all(scores > 0.99)


# ---------------------------------------------------------------- mAP
def _truth():
    return [
        (np.array([[0.1, 0.1, 0.3, 0.3], [0.5, 0.5, 0.9, 0.9]]), np.array([0, 1])),
        (np.array([[0.2, 0.2, 0.6, 0.6], [0.6, 0.1, 0.9, 0.4]]), np.array([1, 1])),
    ]


def test_map_of_perfect_predictions_is_one():
    truth = _truth()
    perfect = [(b, np.ones(len(c)), c) for b, c in truth]
    result = coco_map(perfect, truth, ["a", "b", "c"])
    assert result["map50"] == pytest.approx(1.0)
    assert result["map50_95"] == pytest.approx(1.0)
    assert result["per_class"] == {"a": pytest.approx(1.0), "b": pytest.approx(1.0), "c": None}


def test_map_of_a_known_partial_case():
    truth = _truth()
    # Class a: perfect. Class b (3 objects): one exact hit at 0.9, a false positive at 0.8,
    # the other two missed -> precision 1 up to recall 1/3, then 0.5 at the same recall.
    # COCO interpolates precision at 101 recall points 0, .01, ..., 1: the 34 points
    # r <= 1/3 have precision 1, the rest 0 -> AP = 34 / 101 at every IoU threshold.
    detections = [
        (np.array([[0.1, 0.1, 0.3, 0.3], [0.5, 0.5, 0.9, 0.9]]), np.array([0.95, 0.9]), np.array([0, 1])),
        (np.array([[0.0, 0.7, 0.1, 0.8]]), np.array([0.8]), np.array([1])),
    ]
    result = coco_map(detections, truth, ["a", "b"])
    assert result["per_class"]["a"] == pytest.approx(1.0)
    assert result["per_class"]["b"] == pytest.approx(34 / 101)
    assert result["map50"] == pytest.approx((1 + 34 / 101) / 2)
    assert result["map50_95"] == pytest.approx((1 + 34 / 101) / 2)


def test_map_without_detections_is_zero():
    result = coco_map([(np.zeros((0, 4)), np.zeros(0), np.zeros(0))] * 2, _truth(), ["a", "b"])
    assert result["map50"] == 0.0 and result["per_class"] == {"a": 0.0, "b": 0.0}


# ---------------------------------------------------------------- the task
def _metadata_task():
    return make_task({"task": "detection", "detection": {
        "input_shape": [64, 64, 3], "anchors": [list(map(list, SMALL)), list(map(list, LARGE))],
        "score_threshold": 0.001, "iou_threshold": 0.45, "max_detections": 100}})


def test_task_from_metadata_scores_perfect_heads_as_one(tmp_path):
    task = _metadata_task()
    assert task.anchor_groups == (SMALL, LARGE) and task.spec.anchors_per_scale == 3
    targets = encode_targets(BOXES, CLASSES, HEADS, INPUT_HW)
    outputs = [targets_to_logits(t, h, INPUT_HW, num_classes=3) for t, h in zip(targets, HEADS)]
    truth = [(b[c >= 0], c[c >= 0]) for b, c in zip(BOXES, CLASSES)]
    result = task.score(outputs, truth, ["circle", "square", "star"])
    assert result["metric"] == "mAP50"
    assert result["value"] == pytest.approx(1.0) and result["map50_95"] == pytest.approx(1.0)
    assert set(result["per_class"]) == {"circle", "square", "star"}

    x = np.zeros((2, 64, 64, 3), np.uint8)
    paths = task.write_examples(tmp_path, x, outputs, truth, ["circle", "square", "star"])
    import cv2

    assert [p.name for p in paths] == ["detection_00.png", "detection_01.png"]
    picture = cv2.imread(str(paths[0]))
    assert picture.shape == (320, 320, 3) and picture.any()   # upscaled, boxes drawn on black


def test_task_without_anchors_says_what_is_missing():
    with pytest.raises(RecipeError, match="anchors"):
        DetectionTask().score([np.zeros((1, 2, 2, 24))], [(np.zeros((0, 4)), np.zeros(0))], ["a"])


# ---------------------------------------------------------------- loss (TensorFlow)
def _one_box_loss(anchors, spec=None):
    import tensorflow as tf

    from edgecv.tasks.detection.config import DetectionSpec
    from edgecv.tasks.detection.loss import make_loss

    head = HeadLayout(1, 1, anchors)
    target = encode_targets(np.array([[[0.25, 0.25, 0.75, 0.75]]]), np.array([[0]]), [head], INPUT_HW)[0]
    # lambda_coord 5 (the YOLO paper's value) explicitly: the hand values below use it.
    spec = spec or DetectionSpec(lambda_coord=5.0, lambda_noobj=0.5)
    loss = make_loss([head], INPUT_HW, 1, spec)
    return float(loss(tf.constant(target), tf.zeros((1, 1, 1, len(anchors) * 6)))[0])


def test_loss_hand_value_with_default_weights():
    from edgecv.tasks.detection.config import DetectionSpec

    # Defaults: lambda_coord 1 -> coordinates 1.75 * 2 ln 2, + objectness ln 2 + class ln 2
    # + lambda_noobj 0.5 * ln 2 for the (8, 8) anchor = 6 ln 2.
    assert _one_box_loss(((8.0, 8.0), (32.0, 32.0)), DetectionSpec()) == pytest.approx(6 * math.log(2), rel=1e-5)


def test_loss_hand_values_with_and_without_ignore():
    # One 32 px box in a 64 px image, all-zero logits, anchors (8, 8) and (32, 32):
    # responsible (32, 32): xy BCE(0.5, 0) = ln 2 each, wh 0, scale 2 - 0.25 -> 5 * 1.75 * 2 ln 2;
    # objectness ln 2; class ln 2. The (8, 8) anchor's box overlaps the truth by 1/16 < 0.5,
    # so it pays lambda_noobj * ln 2.
    assert _one_box_loss(((8.0, 8.0), (32.0, 32.0))) == pytest.approx(20 * math.log(2), rel=1e-5)
    # A (30, 30) anchor's box overlaps it by 0.88 > ignore_threshold: no no-object loss.
    assert _one_box_loss(((30.0, 30.0), (32.0, 32.0))) == pytest.approx(19.5 * math.log(2), rel=1e-5)


# ---------------------------------------------------------------- recipe, pipeline, command
def _recipe(**detection):
    from edgecv.recipe import validate_recipe

    return validate_recipe({
        "name": "det", "task": "detection",
        "model": {"arch": "tiny_yolo_v3", "input_shape": [64, 64, 3], "backbone": "mobilenet_v2",
                  "alpha": 0.35, "activation": "relu6"},
        "data": {"train": {"format": "synthetic_shapes", "samples": 16}},
        "train": {"epochs": 1}, "detection": detection})


def test_recipe_anchors_are_grouped_finest_head_first():
    task = make_task(_recipe(anchors=[[40, 40], [8, 8], [20, 20], [10, 12], [30, 30], [14, 14]]))
    assert task.anchor_groups == (((8.0, 8.0), (10.0, 12.0), (14.0, 14.0)),
                                  ((20.0, 20.0), (30.0, 30.0), (40.0, 40.0)))
    with pytest.raises(RecipeError, match="do not split into heads of anchors_per_scale=3"):
        make_task(_recipe(anchors=[[8, 8], [20, 20]]))
    with pytest.raises(RecipeError, match="predicts 3 anchors per scale"):
        make_task(_recipe(anchors_per_scale=2))


def test_prepare_feeds_keras_fit_with_one_target_per_head():
    import tf_keras as keras

    from edgecv.data import load_dataset, make_pipeline

    data = load_dataset({"format": "synthetic_shapes", "samples": 16}, task="detection")
    inputs = keras.Input((64, 64, 3))
    features = keras.layers.Conv2D(8, 3, strides=16, padding="same")(inputs)
    fine = keras.layers.Conv2D(3 * 10, 1, name="fine")(features)
    coarse = keras.layers.Conv2D(3 * 10, 1, name="coarse")(keras.layers.MaxPooling2D()(features))
    model = keras.Model(inputs, [coarse, fine])
    task = DetectionTask(input_shape=(64, 64, 3)).adapt_to_data(data, model)
    assert [len(g) for g in task.anchor_groups] == [3, 3] and task.anchor_fit > 0.8
    pipeline = task.prepare(make_pipeline(data, input_shape=(64, 64, 3), batch_size=8, training=False), model)
    _, targets = pipeline.element_spec
    # cells, then detection.max_boxes (20) image boxes: the length tells the loss which head it is
    assert [t.shape.as_list() for t in targets] == [[None, 2 * 2 * 3 * 6 + 80], [None, 4 * 4 * 3 * 6 + 80]]
    model.compile("adam", loss=task.loss(None))
    history = model.fit(pipeline, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0]) and history.history["loss"][0] > 0
    meta = task.export_metadata()
    assert meta["strides"] == [16, 32] and meta["detection"]["input_shape"] == [64, 64, 3]
    assert make_task(meta).anchor_groups == task.anchor_groups


def test_anchors_command_prints_kmeans_anchors(tmp_path):
    from click.testing import CliRunner

    from edgecv.cli.anchors import anchors_command

    spec = tmp_path / "shapes.yaml"
    spec.write_text("format: synthetic_shapes\nsamples: 60\n")
    result = CliRunner().invoke(anchors_command, [str(spec), "-k", "2", "--input-size", "128"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].endswith("input 128x128, 2 anchors (w x h pixels, smallest first):")
    small, large = (tuple(float(v) for v in line.split(" x ")) for line in lines[1:3])
    # synthetic shapes span 18-45 % of the side: 23-58 px at 128
    assert 15 < small[0] < large[0] < 60
    assert lines[-1].startswith("recipe: detection: {anchors: [[")
    bad = CliRunner().invoke(anchors_command, [str(spec), "--input-size", "12x"])
    assert bad.exit_code != 0 and "--input-size" in str(bad.exception)


def test_loss_finds_the_head_when_the_grid_is_unknown():
    """Augmented images can reach the model without a static height and width."""
    import tensorflow as tf

    from edgecv.tasks.detection.config import DetectionSpec
    from edgecv.tasks.detection.loss import make_loss

    spec = DetectionSpec(max_boxes=4)
    targets = encode_targets(BOXES, CLASSES, HEADS, INPUT_HW, max_boxes=spec.max_boxes)
    outputs = [targets_to_logits(t, h, INPUT_HW, num_classes=3) for t, h in zip(targets, HEADS)]
    loss = make_loss(HEADS, INPUT_HW, 3, spec)

    for target, output in zip(targets, outputs):
        unknown_grid = tf.function(loss, input_signature=[
            tf.TensorSpec([None, target.shape[1]], tf.float32),
            tf.TensorSpec([None, None, None, output.shape[-1]], tf.float32)])
        static = loss(tf.constant(target), tf.constant(output)).numpy()
        np.testing.assert_allclose(unknown_grid(tf.constant(target), tf.constant(output)).numpy(),
                                   static, rtol=1e-5)
        assert np.all(static > 0)
