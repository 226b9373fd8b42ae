"""The one export pipeline: `edgecv export RUN_DIR` re-exports a run as `edgecv train`
exported it (detection anchors and strides included) and `edgecv bench RUN_DIR` scores
the result; every format in FORMATS goes through the same pipeline; a new format is one
table row."""
from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest

import edgecv  # noqa: F401  (sets TF_USE_LEGACY_KERAS first)
from edgecv.export import FORMATS
from edgecv.export.formats import Format, configure_parameters, output_name
from edgecv.export.metadata import FILE_KEYS, RUN_KEYS, read_metadata, sidecar_path

from tests.helpers import REPO, invoke_cli, latest_bench_report

# recipes/tiny_yolo_shapes.yaml shrunk to seconds, QAT stage kept: the integer file comes
# from model_qat.h5 and the float one from model.keras, on both paths.
TINY_DETECTION = [
    "--set", "model.input_shape=[64, 64, 3]",
    "--set", "data.train.samples=40",
    "--set", "data.val.samples=12",
    "--set", "data.batch_size=8",
    "--set", "train.epochs=1",
    "--set", "train.steps_per_epoch=2",
    "--set", "qat.steps_per_epoch=1",
    "--set", "export.calibration_samples=8",
    "--set", "bench.runs=2",
    "--set", "bench.warmup=1",
    "--set", "bench.gates={}",
]


def _invoke(args):
    result = invoke_cli(args)
    assert result.exit_code == 0, result.output
    return result.output


def _exported_metadata(run_dir) -> dict:
    return {p.name: json.loads(sidecar_path(p).read_text())
            for p in sorted((run_dir / "export").glob("*.tflite"))}


def _entries(run_dir) -> dict:
    report = json.loads((run_dir / "report.json").read_text())
    return {e["format"]: e for e in report["entries"]}


@pytest.fixture(scope="module")
def detection_run(tmp_path_factory):
    """A tiny auto-anchor detection run through `edgecv train`, and what it wrote."""
    run_dir = tmp_path_factory.mktemp("det_pipeline") / "run"
    _invoke(["train", str(REPO / "recipes" / "tiny_yolo_shapes.yaml"), "--out", str(run_dir),
             *TINY_DETECTION])
    assert (run_dir / "model_qat.h5").is_file()
    return run_dir, _exported_metadata(run_dir), _entries(run_dir)


def _copy_run(run_dir, to):
    shutil.copytree(run_dir, to)
    return to


def test_train_metadata_carries_anchors_and_strides(detection_run):
    _, metadata, _ = detection_run
    assert set(metadata) == {"tiny_yolo_shapes_float32.tflite", "tiny_yolo_shapes_int8.tflite"}
    for meta in metadata.values():
        assert len(meta["anchors"]) == 2 and all(len(g) == 3 for g in meta["anchors"])
        assert meta["strides"] == [16, 32]
        assert meta["detection"]["anchors"] == meta["anchors"]
    assert metadata["tiny_yolo_shapes_int8.tflite"]["quantized_from"] == "qat"


@pytest.fixture(scope="module")
def reexported(detection_run, tmp_path_factory):
    """A copy of the run without its exports and report, then `edgecv export RUN_DIR`:
    the anchors must be recomputed on the training split (seeded k-means) as training did."""
    run_dir, _, _ = detection_run
    run = _copy_run(run_dir, tmp_path_factory.mktemp("reexported") / "run")
    shutil.rmtree(run / "export")
    (run / "report.json").unlink()
    return run, _invoke(["export", str(run)])


# Every field of every file equals what `edgecv train` wrote: none is ignored. (Fields that
# could legitimately differ: `edgecv_version` if edgecv were upgraded in between, and the
# int8 tensors' `quantization` if calibration used other images; neither happens here:
# both paths calibrate on the same training split with the same seed.)
def test_export_run_dir_recomputes_the_metadata_train_wrote(detection_run, reexported):
    _, train_metadata, _ = detection_run
    run, output = reexported
    assert "calibrating on 8 training images" in output
    assert _exported_metadata(run) == train_metadata
    for name, meta in train_metadata.items():  # embedded == sidecar
        assert read_metadata(run / "export" / name) == meta


def test_export_run_dir_reads_the_anchors_back_from_an_earlier_export(detection_run, tmp_path,
                                                                      monkeypatch):
    from edgecv.tasks.detection import DetectionTask

    run_dir, train_metadata, _ = detection_run
    run = _copy_run(run_dir, tmp_path / "run")

    def no_recompute(self, train_set):
        raise AssertionError("anchors recomputed although the run's export records them")

    monkeypatch.setattr(DetectionTask, "adapt_to_data", no_recompute)
    _invoke(["export", str(run)])
    assert _exported_metadata(run) == train_metadata


def test_bench_run_dir_scores_the_reexported_run(detection_run, reexported):
    """`edgecv bench RUN_DIR` decodes the re-exported files with their own metadata and
    gets the train-time report's mAP for each file."""
    _, _, train_entries = detection_run
    run, _ = reexported
    _invoke(["bench", str(run)])
    entries = _entries(latest_bench_report(run).parent)
    assert set(entries) == set(train_entries) == {"float32", "int8"}
    for fmt, entry in entries.items():
        accuracy, trained = entry["accuracy"], train_entries[fmt]["accuracy"]
        assert accuracy is not None and accuracy["metric"] == "mAP50"
        assert accuracy["value"] == pytest.approx(trained["value"], abs=1e-9), fmt
        assert accuracy["reference"] == pytest.approx(trained["reference"], abs=1e-9)


# ---------------------------------------------------------------- every format, one row
def test_every_row_declares_what_its_behaviour_takes():
    """A row's `options` are exactly its configure function's options, and only TFLite
    rows have converter behaviour."""
    for name, f in FORMATS.items():
        assert configure_parameters(f) == f.options, name
        if not f.tflite:
            assert f.configure is None and f.post is None and not f.static_batch, name
        assert f.weights in ("float32", "float16", "int8"), name


def test_formats_table_imports_without_tensorflow():
    import subprocess
    import sys

    code = ("import sys; sys.modules['tensorflow'] = None\n"
            "from edgecv.export.formats import FORMATS; import edgecv.recipe\n"
            "print(len(FORMATS))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout) == len(FORMATS)


LABELS = ["circle", "square", "triangle", "star"]


@pytest.fixture(scope="module")
def tiny():
    from tests.unit.export.test_export import normalize, pixels, tiny_model

    return tiny_model(), normalize(pixels(16, seed=1))


class TrainingSet:
    """The face of a training Dataset that export_run reads."""
    class_names = LABELS

    def __len__(self):
        return 16


def _pipeline_export(tmp_path, monkeypatch, calib, model, names):
    from tests.unit.export.test_export import tiny_recipe

    from edgecv.export.pipeline import export_run

    # Calibration samples fixed to the given array: export_run's per-format choices are
    # under test here, edgecv.data's representative_dataset has its own tests.
    monkeypatch.setattr("edgecv.data.representative_dataset", lambda ds, **kw: calib)
    recipe = tiny_recipe(calibration_samples=8)
    return recipe, export_run(model, recipe=recipe, dataset=TrainingSet(), out_dir=tmp_path,
                              stem="tiny", formats=names, echo=lambda line: None)


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_format_exports_through_the_pipeline(tiny, tmp_path, monkeypatch, fmt):
    model, calib = tiny
    recipe, exports = _pipeline_export(tmp_path, monkeypatch, calib, model, [fmt])
    path = tmp_path / output_name("tiny", fmt)
    assert exports == [{"format": fmt, "path": str(path), "status": "ok"}]
    if not FORMATS[fmt].tflite:
        assert (path / "saved_model.pb").is_file()
        return
    meta = read_metadata(path)
    # classification: no task part; no export.author/version/license in the recipe: no "about"
    assert set(meta) == (set(RUN_KEYS) - {"about"}) | set(FILE_KEYS) | {"schema"}
    assert meta["format"] == fmt and meta["recipe_hash"] == recipe.digest()
    assert meta["labels"] == LABELS
    assert (meta["quantized_from"] == "calibration") == FORMATS[fmt].integer


def test_a_failed_format_is_reported_not_fatal(tiny, tmp_path):
    model, _ = tiny
    from edgecv.export.pipeline import export_run

    exports = export_run(model, out_dir=tmp_path, stem="tiny", formats=["int8", "float32"],
                         echo=lambda line: None)  # no recipe, no data: int8 cannot calibrate
    assert [e["status"] for e in exports] == ["export failed", "ok"]
    assert "needs calibration data" in exports[0]["error"]
    assert (tmp_path / "tiny_float32.tflite").is_file() and not (tmp_path / "tiny_int8.tflite").exists()


def _int16x8(converter, *, qat, representative):
    import tensorflow as tf

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]


def test_a_new_tflite_format_is_one_table_row(tiny, tmp_path, monkeypatch):
    """16-bit activations / 8-bit weights: one Format row (with its configure function),
    and export_run, output names, metadata and the interpreter take it as is."""
    from tests.unit.export.test_export import run_tflite

    model, calib = tiny
    row = Format("int16x8", ".tflite", True, "int16 activations, int8 weights, float I/O",
                 weights="int8", configure=_int16x8, options=("representative",))
    monkeypatch.setitem(FORMATS, row.name, row)
    assert configure_parameters(row) == row.options
    _, exports = _pipeline_export(tmp_path, monkeypatch, calib, model, ["int16x8"])
    assert exports[0]["status"] == "ok", exports
    path = tmp_path / "tiny_int16x8.tflite"
    assert read_metadata(path)["format"] == "int16x8"
    from edgecv.export.info import inspect_tflite

    dtypes = {t["dtype"] for op in inspect_tflite(path)["operators"] for t in op["outputs"]}
    assert "int16" in dtypes
    np.testing.assert_allclose(run_tflite(path, calib[:4]), model.predict(calib[:4], verbose=0),
                               atol=0.02)


def test_format_rows_stay_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        FORMATS["edgetpu"].static_batch = False
