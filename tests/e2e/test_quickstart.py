"""End to end: the quickstart recipe, shrunk, through the real CLI."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

LATENCY_KEYS = {"mean", "std", "min", "p50", "p90", "p99", "max", "runs", "warmup", "threads",
                "init_ms", "first_ms"}


def test_quickstart_exits_cleanly_with_progress(quickstart_run):
    code, output, _ = quickstart_run
    assert code == 0, output
    for line in ("data: 160 train / 48 val", "export: int8", "run finished"):
        assert line in output


def test_run_directory_layout(quickstart_run):
    _, _, run_dir = quickstart_run
    for name in ("recipe.yaml", "model.keras", "report.json", "report.md", "eval.npz",
                 "train/history.csv", "export/quickstart_float32.tflite",
                 "export/quickstart_int8.tflite"):
        assert (run_dir / name).is_file(), name
    assert not list(run_dir.rglob(".tmp-*")), "temporary files left behind"
    with open(run_dir / "train" / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2  # train.epochs=2


def test_resolved_recipe_has_the_overrides(quickstart_run):
    from edgecv.recipe import load_recipe

    _, _, run_dir = quickstart_run
    recipe = load_recipe(run_dir / "recipe.yaml")
    assert recipe.name == "quickstart"
    assert recipe.model.input_shape == (32, 32, 3)
    assert recipe.train.epochs == 2
    assert recipe.bench.gates == {}


def test_report_json_fields(quickstart_run):
    _, _, run_dir = quickstart_run
    report = json.loads((run_dir / "report.json").read_text())
    entries = report["entries"] if isinstance(report, dict) else report
    assert [e["format"] for e in entries] == ["float32", "int8"]
    for entry in entries:
        assert entry["size_bytes"] == (run_dir / "export" / f"quickstart_{entry['format']}.tflite").stat().st_size
        assert LATENCY_KEYS <= set(entry["latency_ms"])
        assert entry["latency_ms"]["runs"] == 5
        assert 0 < entry["latency_ms"]["min"] <= entry["latency_ms"]["p50"] <= entry["latency_ms"]["max"]
        accuracy = entry["accuracy"]
        assert accuracy["metric"] == "top1"
        assert 0.0 <= accuracy["value"] <= 1.0
        assert accuracy["delta"] == pytest.approx(accuracy["value"] - accuracy["reference"])
        assert entry["passed"] is True and entry["gates"] == {}


def test_reference_is_the_keras_model_on_the_same_samples(quickstart_run):
    """report.json's reference must equal the saved Keras model scored on eval.npz."""
    import tf_keras as keras

    from edgecv.data.normalize import normalize
    from edgecv.optimize.qat import quantize_scope

    _, _, run_dir = quickstart_run
    data = np.load(run_dir / "eval.npz")
    with quantize_scope():
        model = keras.models.load_model(run_dir / "model.keras", compile=False)
    probs = model.predict(normalize(data["x"]), verbose=0)
    expected = float(np.mean(probs.argmax(axis=1) == data["labels"]))
    report = json.loads((run_dir / "report.json").read_text())
    entries = report["entries"] if isinstance(report, dict) else report
    for entry in entries:
        assert entry["accuracy"]["reference"] == pytest.approx(expected)
    float32 = next(e for e in entries if e["format"] == "float32")
    assert float32["accuracy"]["value"] == pytest.approx(expected, abs=1.0 / len(data["labels"]) + 1e-9)


def test_int8_file_takes_uint8_pixels(quickstart_run):
    from ai_edge_litert.interpreter import Interpreter

    _, _, run_dir = quickstart_run
    interpreter = Interpreter(model_path=str(run_dir / "export" / "quickstart_int8.tflite"))
    (detail,) = interpreter.get_input_details()
    assert detail["dtype"] == np.uint8
    assert list(detail["shape"]) == [1, 32, 32, 3]
    scale, zero_point = detail["quantization"]
    # [-1, 1] normalisation => roughly one quantization step per pixel value.
    assert scale == pytest.approx(1 / 127.5, rel=0.05)
    assert zero_point in (127, 128)


@pytest.fixture(scope="module")
def qat_run(tmp_path_factory):
    """The shrunken quickstart with a QAT stage added."""
    from click.testing import CliRunner

    from tests.helpers import REPO, TINY_QUICKSTART
    from edgecv.cli import cli

    run_dir = tmp_path_factory.mktemp("quickstart_qat") / "run"
    args = ["train", str(REPO / "recipes" / "quickstart.yaml"), "--out", str(run_dir), *TINY_QUICKSTART,
            "--set", "train.epochs=1", "--set", "qat.epochs=1",
            "--set", "data.test={format: synthetic_shapes, samples: 24, seed: 2}",
            # Generated samples are drawn at the model size (letterbox is a no-op on them);
            # it is set here to check that the mode reaches the files' metadata.
            "--set", "data.resize=letterbox"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return run_dir


def test_after_qat_float32_is_a_float_model_and_int8_uses_the_qat_model(qat_run):
    """float32 comes from the pre-QAT weights (no fake-quant ops), int8 from the QAT model."""
    from edgecv.export.info import inspect_tflite
    from edgecv.export.metadata import read_metadata

    float32 = inspect_tflite(qat_run / "export" / "quickstart_float32.tflite")
    ops = {row["op"] for row in float32["op_table"]}
    assert not ops & {"QUANTIZE", "DEQUANTIZE"}, ops
    assert read_metadata(qat_run / "export" / "quickstart_int8.tflite")["quantized_from"] == "qat"
    assert read_metadata(qat_run / "export" / "quickstart_int8.tflite")["resize"] == "letterbox"
    assert (qat_run / "model.keras").is_file() and (qat_run / "model_qat.h5").is_file()
    # data.test, when given, is what the report scores.
    assert len(np.load(qat_run / "eval.npz")["labels"]) == 24


def test_export_from_a_qat_run_dir_uses_the_qat_model_for_int8(qat_run, tmp_path):
    from edgecv.cli import main
    from edgecv.export.metadata import read_metadata

    assert main(["export", str(qat_run), "--format", "int8", "--format", "float32",
                 "--out", str(tmp_path)]) == 0
    assert read_metadata(tmp_path / "quickstart_int8.tflite")["quantized_from"] == "qat"
    assert read_metadata(tmp_path / "quickstart_float32.tflite")["quantized_from"] is None
    assert read_metadata(tmp_path / "quickstart_float32.tflite")["resize"] == "letterbox"


def test_state_json_points_only_at_files_that_exist(quickstart_run):
    """A finished stage's per-epoch checkpoints are deleted: state.json must not name them."""
    _, _, run_dir = quickstart_run
    state = json.loads((run_dir / "train" / "state.json").read_text())
    for name, stage in state["stages"].items():
        assert stage["status"] == "done"
        assert stage["last_checkpoint"] is None and stage["best_checkpoint"] is None, name
        assert list((run_dir / "train").glob(stage["output"] + ".*")), stage["output"]
