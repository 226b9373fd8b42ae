"""In-graph YOLO post-processing: builtin TFLite ops only, same decoding as the numpy
post-processing the bench runner uses."""
from __future__ import annotations

import numpy as np
import pytest

import edgecv
from edgecv.errors import ExportError

ANCHORS = [[[10, 14], [23, 27], [37, 58]], [[81, 82], [135, 169], [344, 319]]]  # finest first


@pytest.fixture(scope="module")
def detector():
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    return edgecv.create_model("tiny_yolo_v3", input_shape=(64, 64, 3), num_classes=3,
                               activation="relu6", alpha=0.25)


def test_in_graph_postprocess_matches_numpy_decoding(detector, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    from edgecv.export import export_model, inspect_tflite
    from edgecv.export.detection_graph import with_postprocess
    from edgecv.tasks.detection.postprocess import detect

    wrapped = with_postprocess(detector, ANCHORS, num_classes=3, score_threshold=0.05,
                               iou_threshold=0.45, max_detections=20)
    result = export_model(wrapped, "float32", tmp_path / "det_pp.tflite")
    ops = {row["op"] for row in inspect_tflite(result.path)["op_table"]}
    assert "NON_MAX_SUPPRESSION_V5" in ops
    assert not any(op.startswith("CUSTOM") or "Flex" in op for op in ops)

    x = np.random.default_rng(1).uniform(-1, 1, (1, 64, 64, 3)).astype(np.float32)
    interp = Interpreter(model_path=str(result.path))
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    out = [interp.get_tensor(d["index"]) for d in interp.get_output_details()]
    by_shape = {tuple(o.shape): o for o in out}
    boxes, count = by_shape[(1, 20, 4)][0], int(by_shape[(1,)][0])
    scores, classes = [o[0] for o in out if o.shape == (1, 20)]
    if np.all(scores == np.round(scores)):  # of the two (1, 20) outputs, classes are integral
        scores, classes = classes, scores
    assert 0 < count <= 20
    assert np.all(np.diff(scores[:count]) <= 1e-6) and np.all(scores[:count] >= 0.05)
    assert np.all(scores[count:] == 0)

    heads = detector.predict(x, verbose=0)
    ref_boxes, ref_scores, ref_classes = detect(heads, ANCHORS, (64, 64), 3, score_threshold=0.05,
                                                iou_threshold=0.45, max_detections=20)[0]
    # The best box/class pair is the same whatever the NMS flavour.
    np.testing.assert_allclose(boxes[0], ref_boxes[0], atol=1e-4)
    assert scores[0] == pytest.approx(ref_scores[0], abs=1e-4)
    assert int(classes[0]) == int(ref_classes[0])


def test_in_graph_postprocess_checks_anchor_groups(detector):
    from edgecv.export.detection_graph import with_postprocess

    with pytest.raises(ExportError, match="2 output heads but 1 anchor groups"):
        with_postprocess(detector, ANCHORS[:1], num_classes=3)
    with pytest.raises(ExportError, match="expected 3 anchors x \\(5 \\+ 4\\)"):
        with_postprocess(detector, ANCHORS, num_classes=4)
