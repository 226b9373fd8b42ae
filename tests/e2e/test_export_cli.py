"""`edgecv export` from a model file and from a run directory."""
from __future__ import annotations

import json

import pytest

import edgecv  # noqa: F401
from edgecv.cli import main
from edgecv.export.info import inspect_tflite
from edgecv.data.synthetic import SHAPE_NAMES
from edgecv.export.metadata import read_metadata

RECIPE = """\
name: tinyrun
task: classification
model: {arch: mobilenet_v2, alpha: 0.35, input_shape: [32, 32, 3]}
data:
  train: {format: synthetic_shapes, samples: 24, seed: 0}
  val: {format: synthetic_shapes, samples: 8, seed: 1}
train: {epochs: 1}
export: {formats: [float32, int8], calibration_samples: 8, io_type: int8}
"""

# tiny_model's 4 outputs, named: a bare model file's export needs its task and labels.
LABELLED = ["--task", "classification", "--labels", "cat,dog,fox,owl"]


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    from tests.unit.export.test_export import tiny_model

    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    tiny_model().save(path)
    return path


def test_export_model_file_float_formats(model_file, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["export", str(model_file), "--format", "float32", "--format", "dynamic",
                 "--out", str(out), *LABELLED]) == 0
    printed = capsys.readouterr().out
    assert f"export: dynamic -> {out / 'tiny_dynamic.tflite'}" in printed
    assert sorted(p.name for p in out.iterdir()) == [
        "tiny_dynamic.json", "tiny_dynamic.tflite", "tiny_float32.json", "tiny_float32.tflite"]
    meta = read_metadata(out / "tiny_float32.tflite")
    assert meta["format"] == "float32" and meta["input_shape"] == [32, 32, 3]
    assert meta["task"] == "classification" and meta["labels"] == ["cat", "dog", "fox", "owl"]


def test_export_model_file_needs_its_task_and_labels(model_file, tmp_path, capsys):
    """A bare model file has no recipe: without --task/--labels its metadata would say "task
    unknown, 0 labels", so the export refuses (exit 2, one line, nothing written); a label
    count that does not match the model's outputs is refused too; a file of names works."""
    out = tmp_path / "out"
    assert main(["export", str(model_file), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--task TASK --labels" in err and str(model_file) in err
    assert main(["export", str(model_file), "--out", str(out), "--task", "classification",
                 "--labels", "cat,dog"]) == 2
    assert "model outputs 4 classes but --labels names 2" in capsys.readouterr().err
    assert not out.exists()
    names = tmp_path / "labels.txt"
    names.write_text("cat\ndog\n\nfox\nowl\n")
    assert main(["export", str(model_file), "--out", str(out), "--task", "classification",
                 "--labels", str(names)]) == 0
    assert read_metadata(out / "tiny_float32.tflite")["labels"] == ["cat", "dog", "fox", "owl"]


def test_export_model_file_of_a_run_reads_the_runs_recipe(tmp_path, capsys):
    """runs/<name>/model.keras exported on its own takes task and labels from the run's
    recipe.yaml (an edgecv run folder: marker), not "task unknown"."""
    from edgecv.rundir import write_marker
    from test_export import tiny_model

    run = tmp_path / "run"
    run.mkdir()
    (run / "recipe.yaml").write_text(RECIPE)
    tiny_model(classes=5).save(run / "model.keras")
    out = tmp_path / "out"
    assert main(["export", str(run / "model.keras"), "--format", "float32", "--out", str(out)]) == 2
    assert "--task TASK --labels" in capsys.readouterr().err     # no marker: not a run folder
    write_marker(run, "tinyrun")
    assert main(["export", str(run / "model.keras"), "--format", "float32", "--out", str(out)]) == 0
    assert f"task and labels from {run / 'recipe.yaml'}" in capsys.readouterr().out
    meta = read_metadata(out / "model_float32.tflite")
    assert meta["task"] == "classification" and meta["labels"] == list(SHAPE_NAMES)


def test_export_model_file_int8_needs_a_recipe(model_file, tmp_path, capsys):
    assert main(["export", str(model_file), "--format", "int8", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "need calibration images" in err and "--recipe" in err and str(model_file) in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, message", [
    (["export", "nope_dir"], "nope_dir: no such run directory or model file"),
    (["export", "{model}", "--format", "int9"], "unknown export format 'int9'; did you mean int8?"),
])
def test_export_user_errors(model_file, args, message, capsys):
    args = [a.format(model=model_file) for a in args]
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_export_run_dir_uses_recipe_formats_and_calibration(tmp_path, capsys):
    from tests.unit.export.test_export import tiny_model

    run = tmp_path / "run"
    run.mkdir()
    (run / "recipe.yaml").write_text(RECIPE)
    tiny_model(classes=5).save(run / "model.keras")  # synthetic_shapes has 5 classes
    assert main(["export", str(run)]) == 0
    printed = capsys.readouterr().out
    assert "calibrating on 8 training images" in printed
    int8 = run / "export" / "tinyrun_int8.tflite"
    info = inspect_tflite(int8)
    assert info["integer"] and info["float_ops"] == []
    assert info["inputs"][0]["dtype"] == "int8"  # the recipe's io_type
    meta = info["metadata"]
    assert meta["task"] == "classification" and meta["model"] == "mobilenet_v2"
    assert len(meta["labels"]) == 5 and len(meta["recipe_hash"]) == 16
    assert json.loads((run / "export" / "tinyrun_int8.json").read_text()) == meta
    assert (run / "export" / "tinyrun_float32.tflite").is_file()


def test_info_json(model_file, tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["export", str(model_file), "--out", str(out), *LABELLED]) == 0
    capsys.readouterr()
    assert main(["info", "--json", str(out / "tiny_float32.tflite")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["integer"] is False and report["metadata"]["format"] == "float32"
    assert {r["op"] for r in report["op_table"]} >= {"CONV_2D", "SOFTMAX"}


def test_export_run_dir_refuses_label_count_mismatch(model_file, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "recipe.yaml").write_text(RECIPE)
    (run / "model.keras").write_bytes(model_file.read_bytes())  # 4 outputs, 5 labels
    assert main(["export", str(run), "--format", "float32"]) == 2
    assert "model outputs 4 classes but the recipe's data has 5 labels" in capsys.readouterr().err
    assert not (run / "export").exists()


def test_export_saved_qat_model_to_int8_without_recipe(tmp_path, capsys):
    """A QAT model saved by the training stage reloads (quantize_scope) and exports to
    int8 from its learnt ranges, no calibration data needed."""
    import tensorflow_model_optimization as tfmot

    from tests.unit.export.test_export import tiny_model

    qat = tfmot.quantization.keras.quantize_model(tiny_model(seed=4))
    path = tmp_path / "qat.h5"
    qat.save(path)
    assert main(["export", str(path), "--format", "int8", "--out", str(tmp_path / "o"), *LABELLED]) == 0
    # The .keras format loses tfmot's quantize-layer variables: a clear error, exit 2.
    qat.save(tmp_path / "qat.keras")
    capsys.readouterr()
    assert main(["export", str(tmp_path / "qat.keras"), "--out", str(tmp_path / "k"), *LABELLED]) == 2
    assert "QAT models saved as .keras do not reload, save them as .h5" in capsys.readouterr().err
    info = inspect_tflite(tmp_path / "o" / "qat_int8.tflite")
    assert info["integer"] and info["float_ops"] == []
    assert info["metadata"]["quantized_from"] == "qat"


def test_a_failed_format_fails_the_command_after_the_others_are_written(tmp_path, capsys):
    """The pipeline reports a failed format and goes on; `edgecv export` then exits 2
    with that format's one-line error."""
    from tests.unit.export.test_export import tiny_model

    model = tmp_path / "dyn.keras"
    tiny_model(input_shape=(None, None, 3), classes=5).save(model)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE)
    out = tmp_path / "out"
    assert main(["export", str(model), "--recipe", str(recipe), "--format", "edgetpu",
                 "--format", "float32", "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert "export: edgetpu failed:" in captured.out
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and "the Edge TPU needs a fixed input size" in err
    assert sorted(p.name for p in out.iterdir()) == ["dyn_float32.json", "dyn_float32.tflite"]
