"""Benchmark harness: runner (standalone, quantized I/O), latency, scoring, gates, report, CLI."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import edgecv  # noqa: F401  (TF_USE_LEGACY_KERAS before TF loads)
from edgecv.bench import bench_file, failed_entry, format_from_path, runner
from edgecv.bench.evalset import read_eval_set, write_eval_set
from edgecv.bench.gates import check_gate_names, evaluate_gates, gates_for, merge_gates, parse_gate_args
from edgecv.bench.report import render_table, write_report
from edgecv.errors import BenchError
from tests.helpers import bench_folders, latest_bench_report

RUNNER = Path(runner.__file__)
NUM_CLASSES = 4


def quadrant_images(n, seed):
    """Noise images with one bright square; the class is the square's quadrant."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, NUM_CLASSES, n).astype(np.int32)
    x = rng.integers(0, 90, (n, 32, 32, 3)).astype(np.uint8)
    for i, c in enumerate(labels):
        row, col = divmod(int(c), 2)
        x[i, row * 16 + 3:row * 16 + 13, col * 16 + 3:col * 16 + 13] = 230
    return x, labels


def normalize(x):
    return (x.astype(np.float32) - 127.5) / 127.5


def build_models(out_dir: Path) -> dict:
    """A tiny trained conv net, its float32 / uint8-I/O / int8-I/O TFLite files and an eval npz."""
    import tensorflow as tf
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    x, y = quadrant_images(384, seed=0)
    model = keras.Sequential([
        keras.Input((32, 32, 3)),
        keras.layers.Conv2D(8, 3, strides=2, activation="relu"),
        keras.layers.Conv2D(16, 3, strides=2, activation="relu"),
        keras.layers.Flatten(),  # keeps position: the class is a quadrant
        keras.layers.Dense(NUM_CLASSES, activation="softmax"),
    ])
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    model.fit(normalize(x), y, epochs=6, batch_size=32, verbose=0)

    def convert(io_type):
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        if io_type is not None:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = lambda: ([normalize(x[i:i + 1])] for i in range(64))
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = io_type
            converter.inference_output_type = io_type
        return converter.convert()

    paths = {"model": model, "dir": out_dir}
    for name, io_type in (("float32", None), ("uint8", tf.uint8), ("int8", tf.int8)):
        paths[name] = out_dir / f"tiny_{name}.tflite"
        paths[name].write_bytes(convert(io_type))
    xv, yv = quadrant_images(48, seed=1)
    paths["eval"] = write_eval_set(out_dir / "eval.npz", x_uint8=xv, task="classification",
                                   targets=yv, class_names=["tl", "tr", "bl", "br"])
    paths["keras_path"] = out_dir / "model.keras"
    model.save(paths["keras_path"])
    return paths


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return build_models(tmp_path_factory.mktemp("bench_models"))


def top1_with_tf_interpreter(model_path, evalset):
    """Accuracy computed independently with TensorFlow's own tf.lite.Interpreter."""
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_path=str(model_path))
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    in_scale, in_zp = inp["quantization"]
    out_scale, out_zp = out["quantization"]
    correct, probs = 0, []
    for image, label in zip(evalset.x, evalset.targets):
        value = normalize(image[None])
        if inp["dtype"] != np.float32:
            info = np.iinfo(inp["dtype"])
            value = np.clip(np.round(value / in_scale + in_zp), info.min, info.max).astype(inp["dtype"])
        interpreter.set_tensor(inp["index"], value)
        interpreter.invoke()
        raw = interpreter.get_tensor(out["index"])
        p = raw.astype(np.float32) if out["dtype"] == np.float32 else (raw.astype(np.float32) - out_zp) * out_scale
        probs.append(p[0])
        correct += int(np.argmax(p) == label)
    return correct / len(evalset), np.stack(probs), (in_scale, in_zp)


# ------------------------------------------------------------------ runner standalone
def test_runner_never_imports_tensorflow_or_cv2(models, tmp_path):
    """Run the runner CLI where importing tensorflow or cv2 fails (and leaves a marker)."""
    shim = tmp_path / "shim"
    shim.mkdir()
    for name in ("tensorflow", "cv2", "tf_keras", "edgecv"):
        (shim / f"{name}.py").write_text(
            f"open({str(tmp_path / (name + '.imported'))!r}, 'w').close()\n"
            f"raise ImportError('{name} must not be imported by the runner')\n")
    copied = tmp_path / "device" / "runner.py"  # alone, as on a Raspberry Pi
    copied.parent.mkdir()
    shutil.copy(RUNNER, copied)
    env = dict(os.environ, PYTHONPATH=str(shim))
    out_json = tmp_path / "result.json"
    out_npz = tmp_path / "outputs.npz"
    proc = subprocess.run(
        [sys.executable, str(copied), str(models["uint8"]), "--data", str(models["eval"]),
         "--runs", "5", "--warmup", "1", "--threads", "1", "--json", str(out_json),
         "--outputs", str(out_npz)], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert not list(tmp_path.glob("*.imported")), "runner imported a forbidden module"
    result = json.loads(out_json.read_text())
    assert result["latency_ms"]["runs"] == 5 and result["latency_ms"]["threads"] == 1
    assert result["samples"] == 48 and result["input_details"][0]["dtype"] == "uint8"
    # The runner scores top-1 itself (no host needed) and says so on stdout.
    expected, _, _ = top1_with_tf_interpreter(models["uint8"], read_eval_set(models["eval"]))
    assert result["accuracy"]["value"] == pytest.approx(expected, abs=1 / 48 + 1e-9)
    assert "top-1" in proc.stdout
    with np.load(out_npz) as saved:
        assert saved["output_0"].shape == (48, NUM_CLASSES)
        assert saved["output_0"].dtype == np.float32


@pytest.mark.parametrize("io", ["uint8", "int8"])
def test_quantized_io_accuracy_equals_tf_interpreter(models, io):
    evalset = read_eval_set(models["eval"])
    result = runner.benchmark(models[io], data=models["eval"], runs=3, warmup=1, threads=1)
    detail = result["input_details"][0]
    assert detail["dtype"] == io and result["output_details"][0]["dtype"] == io
    expected_top1, expected_probs, (scale, zp) = top1_with_tf_interpreter(models[io], evalset)
    assert (detail["scale"], detail["zero_point"]) == pytest.approx((scale, zp))
    assert result["accuracy"]["value"] == expected_top1
    # Same dequantized probabilities up to one output quantization step (rounding of .5 ties).
    out_scale = result["output_details"][0]["scale"]
    np.testing.assert_allclose(result["outputs"][0], expected_probs, atol=out_scale + 1e-6)
    assert expected_top1 >= 0.75, "the tiny model should have learned the quadrant task"


def test_float_model_outputs_match_keras(models):
    evalset = read_eval_set(models["eval"])
    result = runner.benchmark(models["float32"], data=models["eval"], runs=2, warmup=0)
    keras_probs = models["model"].predict(normalize(evalset.x), verbose=0)
    np.testing.assert_allclose(result["outputs"][0], keras_probs, atol=1e-5)


def test_quantize_input_rounds_half_away_from_zero_and_clips():
    detail = {"name": "x", "dtype": np.int8, "quantization": (0.5, -1)}
    q = runner.quantize_input(np.array([-0.25, 0.25, 0.75, 100.0, -100.0], np.float32), detail)
    # -0.25/0.5 - 1 = -1.5 -> -2 ; 0.5 - 1 = -0.5 -> -1 ; 1.5 - 1 = 0.5 -> 1 ; clipped to 127 / -128
    assert q.tolist() == [-2, -1, 1, 127, -128] and q.dtype == np.int8
    out = runner.dequantize_output(np.array([-1, 9], np.int8), detail)
    assert out.tolist() == [0.0, 5.0]


def test_latency_fields_and_min_seconds(models):
    result = runner.benchmark(models["int8"], runs=7, warmup=2, threads=2)
    lat = result["latency_ms"]
    assert set(lat) == {"mean", "std", "min", "p50", "p90", "p99", "max", "runs", "warmup",
                        "threads", "init_ms", "first_ms"}
    assert (lat["runs"], lat["warmup"], lat["threads"]) == (7, 2, 2)
    samples = np.array(result["latency_samples_ms"])
    assert len(samples) == 7
    assert lat["p50"] == pytest.approx(np.percentile(samples, 50), abs=1e-3)
    assert lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
    assert lat["init_ms"] > 0 and lat["first_ms"] > 0 and result["peak_rss_mb"] > 10
    timed = runner.benchmark(models["int8"], runs=1, warmup=0, min_seconds=0.2)
    assert timed["latency_ms"]["runs"] > 1  # kept going until 0.2 s had passed


def test_runner_cli_errors_are_one_line_exit_2(models, tmp_path):
    def run(*args):
        return subprocess.run([sys.executable, str(RUNNER), *map(str, args)],
                              capture_output=True, text=True, timeout=120)

    missing = run(tmp_path / "nope.tflite")
    assert missing.returncode == 2 and "nope.tflite: model file not found" in missing.stderr
    wrong = tmp_path / "wrong.npz"
    write_eval_set(wrong, x_uint8=np.zeros((2, 16, 16, 3), np.uint8), task="classification",
                   targets=[0, 1], class_names=["a", "b"])
    shape = run(models["int8"], "--data", wrong)
    assert shape.returncode == 2 and "model input is [32, 32, 3] but eval samples are [16, 16, 3]" in shape.stderr
    if not any(Path(d, "libedgetpu.so.1").exists() for d in ("/usr/lib", "/usr/lib/x86_64-linux-gnu")):
        tpu = run(models["int8"], "--delegate", "edgetpu")
        assert tpu.returncode == 2
        assert tpu.stderr.strip().splitlines() == [tpu.stderr.strip()]  # exactly one line
        assert "cannot load libedgetpu.so.1" in tpu.stderr and "Traceback" not in tpu.stderr


# ------------------------------------------------------------------ eval set + scoring
def test_eval_set_round_trip_for_every_task(tmp_path):
    x = np.arange(2 * 4 * 4 * 3, dtype=np.uint8).reshape(2, 4, 4, 3)
    write_eval_set(tmp_path / "c.npz", x_uint8=x, task="classification", targets=[1, 0], class_names=["a", "b"])
    c = read_eval_set(tmp_path / "c.npz")
    assert c.targets.tolist() == [1, 0] and c.class_names == ["a", "b"] and np.array_equal(c.x, x)
    assert (c.mean, c.std) == (127.5, 127.5)
    masks = np.array([np.eye(4), np.ones((4, 4))], dtype=np.uint8)
    write_eval_set(tmp_path / "s.npz", x_uint8=x, task="segmentation", targets=masks, class_names=["bg", "fg"])
    assert np.array_equal(read_eval_set(tmp_path / "s.npz").targets, masks)
    boxes = [(np.array([[0.1, 0.1, 0.5, 0.5], [0.2, 0.2, 0.9, 0.9]]), np.array([0, 1])),
             (np.zeros((0, 4)), np.zeros(0))]
    write_eval_set(tmp_path / "d.npz", x_uint8=x, task="detection", targets=boxes, class_names=["a", "b"])
    d = read_eval_set(tmp_path / "d.npz").targets
    assert d[0][1].tolist() == [0, 1] and d[0][0].shape == (2, 4) and len(d[1][0]) == 0
    with np.load(tmp_path / "d.npz", allow_pickle=False) as npz:  # no pickled objects inside
        assert npz["det_image"].tolist() == [0, 0]
    with pytest.raises(BenchError, match="uint8"):
        write_eval_set(tmp_path / "bad.npz", x_uint8=x.astype(np.float32), task="classification",
                       targets=[0, 1], class_names=["a", "b"])
    with pytest.raises(BenchError, match="3 labels for 2 images"):
        write_eval_set(tmp_path / "bad.npz", x_uint8=x, task="classification",
                       targets=[0, 1, 1], class_names=["a", "b"])


def test_host_scoring_uses_the_task_scorers_hand_computed():
    from edgecv.bench.accuracy import score

    masks = np.array([[[0, 0], [1, 1]]])
    pred = np.array([[[0, 1], [1, 1]]])
    probs = np.eye(2, dtype=np.float32)[pred]          # one-hot per pixel
    result = score("segmentation", [probs], masks, ["background", "a"])
    # class 0: inter 1, union 2 -> 0.5 ; class 1: inter 2, union 3 -> 2/3
    assert result["metric"] == "mIoU" and result["value"] == pytest.approx(7 / 12)
    assert list(result["per_class_iou"].values()) == pytest.approx([0.5, 2 / 3])
    probs = np.array([[0.1, 0.5, 0.4], [0.6, 0.3, 0.1]], dtype=np.float32)
    result = score("classification", [probs], np.array([2, 0]), ["a", "b", "c"])
    assert result["value"] == 0.5 and result["top5"] == 1.0
    assert result["confusion"] == [[1, 0, 0], [0, 0, 0], [0, 1, 0]]


# ------------------------------------------------------------------ gates
def test_gates_values_and_errors():
    entry = {"path": "m.tflite", "size_bytes": 3 * 2 ** 20,
             "latency_ms": {"p50": 4.0, "p90": 6.0},
             "accuracy": {"metric": "top1", "value": 0.90, "reference": 0.93}}
    result = evaluate_gates(entry, {"max_accuracy_drop": 0.02, "min_metric": 0.9, "max_p50_ms": 5,
                                    "max_p90_ms": 5, "max_size_mb": 3})
    assert result["max_accuracy_drop"]["value"] == pytest.approx(0.03)
    assert {k: v["passed"] for k, v in result.items()} == {
        "max_accuracy_drop": False, "min_metric": True, "max_p50_ms": True,
        "max_p90_ms": False, "max_size_mb": True}
    assert result["max_size_mb"] == {"limit": 3.0, "value": 3.0, "passed": True}
    with pytest.raises(BenchError, match="did you mean max_p90_ms"):
        evaluate_gates(entry, {"max_p90ms": 1})
    with pytest.raises(BenchError, match="needs eval data"):
        evaluate_gates({"path": "m.tflite", "accuracy": None}, {"min_metric": 0.5})
    assert parse_gate_args(["max_p90_ms=50", "min_metric=0.8"]) == {"max_p90_ms": 50.0, "min_metric": 0.8}
    with pytest.raises(BenchError, match="expected NAME=VALUE"):
        parse_gate_args(["max_p90_ms"])
    with pytest.raises(BenchError, match="'fast' is not a number"):
        parse_gate_args(["max_p90_ms=fast"])


def test_per_format_gates_resolve_and_merge():
    gates = {"max_accuracy_drop": 0.01, "int8": {"max_size_mb": 1.0, "max_accuracy_drop": 0.02}}
    assert gates_for(gates, "int8") == {"max_accuracy_drop": 0.02, "max_size_mb": 1.0}
    assert gates_for(gates, "float32") == {"max_accuracy_drop": 0.01}
    merged = merge_gates(gates, {"int8": {"max_size_mb": 2.0}, "min_metric": 0.5})
    assert merged == {"max_accuracy_drop": 0.01, "min_metric": 0.5,
                      "int8": {"max_size_mb": 2.0, "max_accuracy_drop": 0.02}}
    assert gates["int8"]["max_size_mb"] == 1.0            # the recipe's dict is not modified
    # A shared command-line gate wins over the recipe's per-format limit of the same name.
    assert merge_gates(gates, {"max_accuracy_drop": 0.05}) == {"max_accuracy_drop": 0.05,
                                                               "int8": {"max_size_mb": 1.0}}
    assert merge_gates({"int8": {"max_size_mb": 1.0}}, {"max_size_mb": 5}) == {"max_size_mb": 5}
    assert parse_gate_args(["int8.max_size_mb=2", "max_p90_ms=9"]) == {"int8": {"max_size_mb": 2.0},
                                                                       "max_p90_ms": 9.0}
    with pytest.raises(BenchError, match="gates.int9: per-format gates need an export format name"):
        parse_gate_args(["int9.max_size_mb=2"])
    with pytest.raises(BenchError, match="gates.int9: per-format gates need an export format name; did you mean int8"):
        check_gate_names({"int9": {"max_size_mb": 1}})
    with pytest.raises(BenchError, match="unknown gate 'max_sise_mb'; did you mean max_size_mb"):
        check_gate_names({"int8": {"max_sise_mb": 1}})


def test_per_format_gate_applies_to_its_format_only(models, tmp_path):
    from edgecv.workflow import bench_run_dir

    run_dir = make_run_dir(models, tmp_path)
    int8_mb = models["int8"].stat().st_size / 2 ** 20
    float_mb = models["float32"].stat().st_size / 2 ** 20
    assert float_mb > 1.5 * int8_mb
    limit = (int8_mb + float_mb) / 2        # the int8 file fits, the float32 one would not
    report, _ = bench_run_dir(run_dir, runs=2, warmup=0, gates={"int8": {"max_size_mb": limit}},
                              echo=lambda line: None)
    by_format = {e["format"]: e for e in report["entries"]}
    assert by_format["int8"]["gates"] == {"max_size_mb": {"limit": limit, "value": pytest.approx(int8_mb),
                                                          "passed": True}}
    assert by_format["float32"]["gates"] == {}
    assert report["passed"] is True


# ------------------------------------------------------------------ entries, report, CLI
def test_bench_file_entry_matches_report_contract(models):
    entry = bench_file(models["int8"], models["eval"], reference=models["model"], runs=4, warmup=1,
                       gates={"max_accuracy_drop": 0.5}).to_dict()
    assert entry["format"] == "int8" and entry["path"] == str(models["int8"])
    assert entry["size_bytes"] == models["int8"].stat().st_size
    acc = entry["accuracy"]
    keras_top1 = float(np.mean(models["model"].predict(normalize(read_eval_set(models["eval"]).x),
                                                       verbose=0).argmax(1) == read_eval_set(models["eval"]).targets))
    assert acc["metric"] == "top1" and acc["reference"] == pytest.approx(keras_top1)
    assert acc["delta"] == pytest.approx(acc["value"] - acc["reference"])
    assert entry["gates"]["max_accuracy_drop"]["value"] == pytest.approx(-acc["delta"])
    assert entry["passed"] is True and entry["status"] == "ok"
    assert entry["fps"] == pytest.approx(1000 / entry["latency_ms"]["p50"])
    json.dumps(entry)  # the entry is plain JSON
    # The runner ran in its own process: its peak RSS is LiteRT's, not this TF-laden process'.
    assert 10 < entry["peak_rss_mb"] < runner.peak_rss_mb()
    assert format_from_path("runs/q/export/quickstart_float16.tflite") == "float16"


def test_write_report_table_and_plots(models, tmp_path):
    ok = bench_file(models["uint8"], models["eval"], reference=0.5, runs=5, warmup=1, fmt="int8").to_dict()
    slow = dict(ok, format="float32", status="gate failed", passed=False,
                gates={"max_p90_ms": {"limit": 0.0, "value": 1.0, "passed": False}})
    broken = failed_entry("edgetpu", "edgetpu_compiler not found").to_dict()
    json_path, md_path = write_report(tmp_path, [ok, slow, broken])
    report = json.loads(json_path.read_text())
    assert report["passed"] is False and [e["format"] for e in report["entries"]] == ["int8", "float32", "edgetpu"]
    md = md_path.read_text()
    assert "| int8 | ok |" in md and "| float32 | gate failed |" in md and "| edgetpu | export failed |" in md
    assert "| float32 | max_p90_ms | 0 | 1.0000 | **FAIL** |" in md
    assert f"{ok['accuracy']['value']:.4f}" in render_table([ok])
    for png in ("latency_hist.png", "metric_vs_size_latency.png", "confusion_int8.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({png})" in md
    assert not list(tmp_path.glob("*.tmp"))


def make_run_dir(models, root: Path) -> Path:
    run_dir = root / "run"
    (run_dir / "export").mkdir(parents=True)
    shutil.copy(models["float32"], run_dir / "export" / "tiny_float32.tflite")
    shutil.copy(models["int8"], run_dir / "export" / "tiny_int8.tflite")
    shutil.copy(models["eval"], run_dir / "eval.npz")
    shutil.copy(models["keras_path"], run_dir / "model.keras")
    return run_dir


def test_cli_failing_gate_exits_1_and_marks_report(models, tmp_path, capsys):
    from edgecv.cli import main

    run_dir = make_run_dir(models, tmp_path)
    code = main(["bench", str(run_dir), "--runs", "3", "--warmup", "0",
                 "--gate", "max_p90_ms=0.000001", "--gate", "min_metric=0.1",
                 "--json", str(tmp_path / "copy.json")])
    assert code == 1
    report_path = latest_bench_report(run_dir)
    report = json.loads(report_path.read_text())
    assert report["passed"] is False
    for entry in report["entries"]:
        assert entry["status"] == "gate failed"
        assert entry["gates"]["max_p90_ms"]["passed"] is False
        assert entry["gates"]["min_metric"]["passed"] is True
        assert entry["accuracy"]["reference"] is not None
    assert json.loads((tmp_path / "copy.json").read_text())["entries"][0]["format"] == "float32"
    assert "**FAIL**" in (report_path.parent / "report.md").read_text()
    assert "gate failed: float32:max_p90_ms, int8:max_p90_ms" in capsys.readouterr().err

    # The same run with generous gates passes: exit code 0, in a second folder.
    assert main(["bench", str(run_dir), "--runs", "3", "--gate", "max_size_mb=10"]) == 0
    assert json.loads(latest_bench_report(run_dir).read_text())["passed"] is True
    assert len(bench_folders(run_dir)) == 2
    assert json.loads(report_path.read_text())["passed"] is False   # the first one untouched


def test_cli_user_errors_exit_2(models, tmp_path, capsys):
    from edgecv.cli import main

    assert main(["bench", str(models["int8"]), "--gate", "max_p90=3"]) == 2
    assert "unknown gate 'max_p90'; did you mean max_p90_ms?" in capsys.readouterr().err
    assert main(["bench", str(tmp_path / "missing.tflite")]) == 2
    assert "no such .tflite file or run directory" in capsys.readouterr().err
    (tmp_path / "empty" / "export").mkdir(parents=True)
    assert main(["bench", str(tmp_path / "empty")]) == 2
    assert "no .tflite files" in capsys.readouterr().err
    assert main(["bench", str(models["int8"]), "--gate", "min_metric=0.5"]) == 2
    assert "needs eval data" in capsys.readouterr().err


def test_bench_run_workflow_stage(tmp_path):
    """The workflow's bench stage: eval.npz from the val data, float reference, report rows."""
    import tensorflow as tf
    import tf_keras as keras

    from edgecv.bench import bench_run
    from edgecv.data import load_dataset
    from edgecv.recipe import validate_recipe

    recipe = validate_recipe({
        "name": "tiny", "task": "classification",
        "model": {"arch": "mobilenet_v2", "alpha": 0.35, "input_shape": [32, 32, 3]},
        "data": {"train": {"format": "synthetic_shapes", "samples": 20},
                 "val": {"format": "synthetic_shapes", "samples": 20, "seed": 1}},
        "train": {"epochs": 1},
        "bench": {"runs": 3, "warmup": 0, "samples": 10, "gates": {"max_accuracy_drop": 0.0}},
    })
    val_set = load_dataset(recipe.data.val, task="classification")
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(4, 3, strides=4),
                              keras.layers.Flatten(),
                              keras.layers.Dense(len(val_set.class_names), activation="softmax")])
    float_path = tmp_path / "export" / "tiny_float32.tflite"
    float_path.parent.mkdir()
    float_path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    exports = [{"format": "float32", "path": str(float_path), "status": "ok"},
               {"format": "int8", "path": str(tmp_path / "export" / "tiny_int8.tflite"),
                "status": "export failed", "error": "calibration failed"}]
    messages = []
    entries = [e.to_dict() for e in bench_run(recipe=recipe, model=model, dataset=val_set,
                                              exports=exports, run_dir=tmp_path, echo=messages.append)]
    evalset = read_eval_set(tmp_path / "eval.npz")
    assert len(evalset) == 10 and evalset.class_names == val_set.class_names
    keras_top1 = float(np.mean(model.predict(normalize(evalset.x), verbose=0).argmax(1) == evalset.targets))
    ok, failed = entries
    assert ok["accuracy"]["reference"] == pytest.approx(keras_top1)
    assert ok["accuracy"]["delta"] == pytest.approx(0.0, abs=1e-9)  # float32 file == Keras model
    assert ok["gates"]["max_accuracy_drop"]["passed"] is True and ok["latency_ms"]["runs"] == 3
    assert failed["status"] == "export failed" and failed["error"] == "calibration failed"
    report = json.loads((tmp_path / "report.json").read_text())
    assert [e["status"] for e in report["entries"]] == ["ok", "export failed"]
    assert "| int8 | export failed |" in (tmp_path / "report.md").read_text()
    assert any("reference top1" in m for m in messages)
    # `edgecv bench FILE --data SPEC.yaml`: the spec is read and scored like the run's eval set.
    from edgecv.cli import main

    spec = tmp_path / "val.yaml"
    spec.write_text("format: synthetic_shapes\nsamples: 10\nseed: 1\n")
    out = tmp_path / "single.json"
    assert main(["bench", str(float_path), "--data", str(spec), "--task", "classification",
                 "--runs", "2", "--json", str(out)]) == 0
    single = json.loads(out.read_text())["entries"][0]
    assert single["accuracy"]["value"] == pytest.approx(ok["accuracy"]["value"])
    assert main(["bench", str(float_path), "--data", str(spec)]) == 2  # no metadata, no --task


def test_cli_bench_run_dir_out_folder_rules(models, tmp_path, capsys):
    """--out: a new or empty folder gets the report; a folder holding anything is refused
    (edgecv never writes over files it did not make); --out for a single file is refused;
    a bench that fails leaves no folder behind."""
    from edgecv.cli import main

    run_dir = make_run_dir(models, tmp_path)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    assert main(["bench", str(run_dir), "--out", str(busy), "--runs", "2"]) == 2
    assert "exists and is not an empty folder" in capsys.readouterr().err
    assert sorted(p.name for p in busy.iterdir()) == ["notes.txt"]
    assert main(["bench", str(models["int8"]), "--out", str(tmp_path / "x")]) == 2
    assert "--out" in capsys.readouterr().err and not (tmp_path / "x").exists()
    out = tmp_path / "mine"
    assert main(["bench", str(run_dir), "--out", str(out), "--runs", "2", "--warmup", "0"]) == 0
    assert {"report.json", "report.md"} <= {p.name for p in out.iterdir()}
    assert bench_folders(run_dir) == []
    (run_dir / "eval.npz").write_bytes(b"not an npz")       # the bench fails: exit 2
    assert main(["bench", str(run_dir), "--runs", "2"]) == 2
    assert bench_folders(run_dir) == []
