"""In-graph YOLO post-processing (detection.export.postprocess: nms): builtin TFLite ops
only, MediaPipe's four named outputs, the same detections as the numpy twin the bench
scores the float reference with."""
from __future__ import annotations

import numpy as np
import pytest

import edgecv
from edgecv.errors import ExportError

ANCHORS = (((10, 14), (23, 27), (37, 58)), ((81, 82), (135, 169), (344, 319)))  # finest first
LABELS = ["a", "b", "c"]


@pytest.fixture(scope="module")
def detector():
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    model = edgecv.create_model("tiny_yolo_v3", backbone="mobilenet_v2", input_shape=(64, 64, 3),
                                num_classes=3, activation="relu6", alpha=0.35)
    # Untrained heads start at zero (every score 0.25: NMS order is then a tie); random
    # head weights give distinct scores, so both NMS implementations must agree row by row.
    rng = np.random.default_rng(0)
    for name in model.output_names:
        layer = model.get_layer(name.split("/")[0])
        layer.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32) for w in layer.get_weights()])
    return model


@pytest.fixture(scope="module")
def nms_task():
    from edgecv.tasks.detection.config import DetectionSpec
    from edgecv.tasks.detection.task import DetectionTask

    spec = DetectionSpec(export={"postprocess": "nms", "score_threshold": 0.05, "iou_threshold": 0.45,
                                 "max_detections": 20})
    return DetectionTask(spec=spec, input_shape=(64, 64, 3), anchor_groups=ANCHORS)


@pytest.fixture(scope="module")
def nms_file(detector, nms_task, tmp_path_factory):
    from edgecv.export import export_model
    from edgecv.export.metadata import build_metadata

    meta = build_metadata(task="detection", labels=LABELS, input_shape=[64, 64, 3],
                          **nms_task.export_metadata(detector))
    out = tmp_path_factory.mktemp("nms") / "det_nms.tflite"
    return export_model(nms_task.exported_model(detector), "float32", out, metadata=meta).path


def run_file(path, x):
    from edgecv.bench.runner import make_interpreter

    interp = make_interpreter(str(path), delegate="none")
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    return [interp.get_tensor(d["index"]) for d in interp.get_output_details()]


def canonical(boxes, scores, classes):
    """Detections as rows (score, class, box) sorted best first; equal scores (a tie the
    two NMS implementations may order either way) by class and box."""
    rows = np.c_[np.round(scores, 4), classes, np.round(boxes, 3)]
    return rows[np.lexsort([*rows[:, 2:].T[::-1], rows[:, 1], -rows[:, 0]])]


@pytest.mark.slow   # shares one float32 export of tiny_yolo_v3 (~40 s CPU, 2 min on loaded cores)
def test_nms_file_has_builtin_ops_and_the_named_float_outputs(nms_file):
    from edgecv.export import inspect_tflite
    from edgecv.export.flatbuffer import load_model_object, output_keys

    info = inspect_tflite(nms_file)
    ops = {row["op"] for row in info["op_table"]}
    assert "NON_MAX_SUPPRESSION_V5" in ops
    assert not any(op.startswith("CUSTOM") or "Flex" in op for op in ops)
    model, _, _ = load_model_object(nms_file.read_bytes())
    assert output_keys(model) == ["location", "category", "score", "number_of_detections"]
    assert [o["shape"] for o in info["outputs"]] == [[1, 20, 4], [1, 20], [1, 20], [1]]
    assert {o["dtype"] for o in info["outputs"]} == {"float32"}


@pytest.mark.slow   # shares one float32 export of tiny_yolo_v3 (~40 s CPU, 2 min on loaded cores)
def test_nms_file_equals_the_numpy_single_label_decoding(detector, nms_task, nms_file):
    from edgecv.tasks.detection.postprocess import detect, nms_rows

    x = np.random.default_rng(1).uniform(-1, 1, (1, 64, 64, 3)).astype(np.float32)
    boxes, scores, classes = nms_rows(run_file(nms_file, x))[0]
    assert 0 < len(scores) <= 20
    assert np.all(np.diff(scores) <= 1e-6) and np.all(scores >= 0.05)

    heads = detector.predict(x, verbose=0)
    ref_boxes, ref_scores, ref_classes = detect(heads, ANCHORS, (64, 64), 3, score_threshold=0.05,
                                                iou_threshold=0.45, max_detections=20,
                                                multilabel=False)[0]
    assert len(scores) == len(ref_scores)
    found, wanted = canonical(boxes, scores, classes), canonical(ref_boxes, ref_scores, ref_classes)
    np.testing.assert_allclose(found[:, 2:], wanted[:, 2:], atol=1e-4)     # boxes
    np.testing.assert_allclose(found[:, 0], wanted[:, 0], atol=1e-4)       # scores
    np.testing.assert_array_equal(found[:, 1], wanted[:, 1])               # classes
    # The task scores the float reference's raw heads exactly so (same thresholds, one class).
    ours = nms_task.detect(heads, 3)[0]
    np.testing.assert_allclose(ours[1], ref_scores, atol=1e-6)


@pytest.mark.slow   # shares one float32 export of tiny_yolo_v3 (~40 s CPU, 2 min on loaded cores)
def test_nms_file_metadata_reconfigures_the_scorer(nms_file):
    from edgecv.bench.compat import check_outputs
    from edgecv.export.metadata import read_metadata
    from edgecv.tasks import get_task

    meta = read_metadata(nms_file)
    task = get_task("detection", meta)
    assert task.in_graph_nms()
    assert task.spec.export.max_detections == 20 and task.spec.export.score_threshold == 0.05
    assert meta["detection"]["postprocess"]["outputs"] == ["location", "category", "score",
                                                           "number_of_detections"]

    class EvalSet:   # the eval set facts the compat check reads
        task, class_names, x, targets = "detection", LABELS, np.zeros((2, 64, 64, 3), np.uint8), []

    check_outputs("det_nms.tflite", input_shape=[1, 64, 64, 3],
                  output_shapes=[[1, 20, 4], [1, 20], [1, 20], [1]], evalset=EvalSet, eval_path="eval.npz")
    with pytest.raises(Exception, match="nor in-graph NMS detections"):
        check_outputs("det.tflite", input_shape=[1, 64, 64, 3], output_shapes=[[1, 20, 4], [1, 20]],
                      evalset=EvalSet, eval_path="eval.npz")


@pytest.mark.slow   # shares one float32 export of tiny_yolo_v3 (~40 s CPU, 2 min on loaded cores)
def test_nms_file_standard_metadata_is_what_mediapipe_object_detector_reads(nms_file):
    from edgecv.export.standard.embed import read_standard
    from edgecv.export.standard.schema import AssociatedFileType, BoundingBoxType

    standard = read_standard(nms_file.read_bytes())
    subgraph = standard["metadata"]["subgraph_metadata"][0]
    outputs = subgraph["output_tensor_metadata"]
    assert [o["name"] for o in outputs] == ["location", "category", "score", "number of detections"]
    kind, box = outputs[0]["content"]["content_properties"]
    assert kind == "BoundingBoxProperties"
    assert box["index"] == [0, 1, 2, 3] and box["type"] == BoundingBoxType.BOUNDARIES
    assert box.get("coordinate_type", 0) == 0          # RATIO
    assert outputs[1]["associated_files"][0]["type"] == AssociatedFileType.TENSOR_VALUE_LABELS
    threshold = outputs[2]["process_units"][0]["options"]
    assert threshold[0] == "ScoreThresholdingOptions"
    assert threshold[1]["global_score_threshold"] == pytest.approx(0.05)
    assert subgraph["output_tensor_groups"] == [{"name": "detection_result",
                                                 "tensor_names": ["location", "category", "score"]}]
    assert standard["files"]["labels.txt"] == b"a\nb\nc\n"


def test_in_graph_postprocess_checks_anchor_groups(detector):
    from edgecv.tasks.detection.graph import with_postprocess

    with pytest.raises(ExportError, match="2 output heads but 1 anchor groups"):
        with_postprocess(detector, ANCHORS[:1], num_classes=3)
    with pytest.raises(ExportError, match="expected 3 anchors x \\(5 \\+ 4\\)"):
        with_postprocess(detector, ANCHORS, num_classes=4)


def nms_recipe(formats, **options):
    from edgecv.recipe import validate_recipe

    return validate_recipe({
        "name": "det", "task": "detection",
        "model": {"arch": "tiny_yolo_v3", "input_shape": [64, 64, 3], "backbone": "mobilenet_v2",
                  "alpha": 0.35, "activation": "relu6"},
        "data": {"train": {"format": "synthetic_shapes", "samples": 16}},
        "train": {"epochs": 1}, "export": {"formats": formats},
        "detection": {"export": {"postprocess": "nms", **options}}})


def test_recipe_switch_configures_the_task():
    from edgecv.tasks import get_task
    from tests.unit.tasks.test_detection import _recipe

    task = get_task("detection", nms_recipe(["float32", "float16"], max_detections=7, score_threshold=0.3))
    assert task.in_graph_nms() and task.spec.export.max_detections == 7
    assert task.spec.export.score_threshold == 0.3
    assert not get_task("detection", _recipe()).in_graph_nms()      # raw heads by default


def test_recipe_refuses_in_graph_nms_for_integer_formats_before_training():
    from edgecv.errors import RecipeError

    with pytest.raises(RecipeError, match=r"^detection.export.postprocess: nms with export.formats "
                                          r"int8, edgetpu: puts NON_MAX_SUPPRESSION_V5 .* no integer kernel"):
        nms_recipe(["float32", "int8", "edgetpu"])
    with pytest.raises(RecipeError, match="detection.export.postprocess"):
        nms_recipe(["float32"], postprocess="yes")


def test_integer_export_of_in_graph_nms_is_refused(detector, nms_task):
    with pytest.raises(ExportError, match="postprocess: nms puts NON_MAX_SUPPRESSION_V5"):
        nms_task.exported_model(detector, integer=True)


def test_restore_puts_recorded_auto_anchors_back_for_a_re_export():
    from edgecv.tasks.detection.config import DetectionSpec
    from edgecv.tasks.detection.task import DetectionTask

    task = DetectionTask(spec=DetectionSpec(export={"postprocess": "nms"}), input_shape=(64, 64, 3))
    recorded = {"anchors": [[[1, 2]]], "detection": {"anchors": [list(map(list, g)) for g in ANCHORS]}}
    assert task.restore(recorded).anchor_groups == ANCHORS
    known = DetectionTask(anchor_groups=ANCHORS[:1])
    assert known.restore(recorded) is known           # anchors from the recipe stay
    assert task.restore({}).anchor_groups is None
