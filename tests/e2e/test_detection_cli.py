"""`edgecv train` end to end on a tiny generated COCO-format detection dataset.

Needs every package's piece: the coco reader and detection pipeline (data), tiny_yolo_v3
(models), run_stages (train), QAT (optimize), int8 export with the detection metadata
(export), the LiteRT bench scoring detection through this task (bench) and the workflow
wiring (`task.adapt_to_data`, `task.export_metadata`, `task.write_examples`).
"""
from __future__ import annotations

import json

import numpy as np
import pytest

import edgecv  # noqa: F401

from tests.detection_data import CATEGORIES, DAMAGE, IN_GRAPH_NMS  # noqa: E402


@pytest.fixture(scope="module")
def coco_run(coco_detector_run):
    """The shared training (tests/conftest.py): (click result, run dir)."""
    result, run_dir, _ = coco_detector_run
    return result, run_dir


def test_train_writes_a_report_with_map_fields(coco_run):
    result, run_dir = coco_run
    assert result.exit_code == 0, result.output
    report = json.loads((run_dir / "report.json").read_text())
    entries = report["entries"] if isinstance(report, dict) and "entries" in report else report
    by_format = {e["format"]: e for e in entries}
    assert set(by_format) == {"int8"}, result.output
    for entry in by_format.values():
        accuracy = entry["accuracy"]
        assert accuracy is not None, entry
        assert accuracy["metric"] == "mAP50"
        assert 0.0 <= accuracy["value"] <= 1.0
        assert 0.0 <= accuracy["map50_95"] <= accuracy["value"] + 1e-9
        assert set(accuracy["per_class"]) == set(CATEGORIES)
        assert accuracy["reference"] is not None


def test_train_skips_each_damaged_sample_by_name_and_counts_them(coco_run):
    result, _ = coco_run
    assert f"data: skipped {len(DAMAGE)} unreadable sample(s)" in result.output
    lines = result.output.splitlines()
    for name, problem in DAMAGE.items():
        assert any(name in line and problem in line for line in lines), (name, result.output)


def test_exported_metadata_carries_the_anchors(coco_run):
    _, run_dir = coco_run
    from edgecv.export.metadata import read_metadata
    from edgecv.tasks.detection import make_task

    int8 = next((run_dir / "export").glob("*_int8.tflite"))
    meta = read_metadata(int8)
    task = make_task(meta)
    assert len(task.anchor_groups) == 2 and all(len(g) == 3 for g in task.anchor_groups)
    assert task.input_shape == (64, 64, 3)


def test_train_draws_example_detections(coco_run):
    import cv2

    _, run_dir = coco_run
    pictures = sorted((run_dir / "samples").glob("detection_*.png"))
    assert pictures, "the workflow wrote no example drawings"
    assert cv2.imread(str(pictures[0])) is not None


@pytest.mark.slow   # the NMS re-export (shared with test_mediapipe.py) ~60 s + a bench ~30 s on 2 shared cores
def test_in_graph_nms_files_are_scored_like_the_float_model(coco_run, nms_detector_files, tmp_path):
    """`edgecv bench` scores a file with in-graph NMS (mAP from its detections) against the
    float model decoded the same way (one class per box, the file's thresholds)."""
    from tests.helpers import invoke_cli

    _, run_dir = coco_run
    files, eval_npz = nms_detector_files
    for fmt, path in [("float32", files["float32"])]:   # float16 runs the same scorer
        out = tmp_path / f"{fmt}.json"
        result = invoke_cli(["bench", path, "--data", eval_npz, "--reference", run_dir / "model.keras",
                          "--runs", 2, "--warmup", 1, "--json", out])
        assert result.exit_code == 0, result.output
        accuracy = json.loads(out.read_text())["entries"][0]["accuracy"]
        assert accuracy["metric"] == "mAP50" and 0.0 <= accuracy["value"] <= 1.0
        assert set(accuracy["per_class"]) == set(CATEGORIES)
        assert abs(accuracy["delta"]) <= 0.02, (fmt, accuracy)


@pytest.mark.slow   # needs the NMS re-export (shared fixture, ~60 s)
def test_in_graph_nms_files_carry_the_recipe_thresholds(nms_detector_files):
    from edgecv.bench.runner import benchmark
    from edgecv.export.metadata import read_metadata
    from edgecv.tasks.detection.postprocess import nms_rows

    files, eval_npz = nms_detector_files
    meta = read_metadata(files["float32"])
    assert {k: meta["detection"]["postprocess"][k] for k in IN_GRAPH_NMS if k != "postprocess"} == \
        {k: v for k, v in IN_GRAPH_NMS.items() if k != "postprocess"}
    outputs = benchmark(str(files["float32"]), data=str(eval_npz), runs=1, warmup=0, threads=1,
                        delegate="none")["outputs"]
    assert [o.shape[1:] for o in outputs] == [(10, 4), (10,), (10,), ()]
    rows = nms_rows(outputs)
    assert any(len(scores) for _, scores, _ in rows)
    for boxes, scores, classes in rows:
        assert np.all(scores >= IN_GRAPH_NMS["score_threshold"]) and np.all(np.diff(scores) <= 1e-6)
        assert np.all((boxes >= 0) & (boxes <= 1)) and set(classes.tolist()) <= {0, 1}
