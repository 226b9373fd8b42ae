"""Export: every format converted from one small model and checked with the
interpreter; int8 verified op by op from the flatbuffer; metadata round trip; the
Edge TPU check; corrupt files rejected with exit code 2."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

import edgecv  # noqa: F401  (sets TF_USE_LEGACY_KERAS first)
from edgecv.cli import main
from edgecv.errors import ExportError
from edgecv.export import FORMATS, get_format, output_name
from edgecv.export.info import inspect_tflite
from edgecv.export.metadata import (METADATA_NAME, build_metadata, embed_metadata,
                                    read_metadata, sidecar_path)

SIZE = 32
CLASSES = 4
LABELS = ["circle", "square", "triangle", "star"]


def tiny_model(seed: int = 0, input_shape=(SIZE, SIZE, 3), classes: int = CLASSES):
    """Conv/BN/ReLU6/GlobalPool/Dense/softmax with peaked outputs, so top-1 is stable."""
    import tf_keras as keras

    keras.utils.set_random_seed(seed)
    inp = keras.Input(input_shape)
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", use_bias=False)(inp)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU(6.0)(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same")(x)
    x = keras.layers.ReLU(6.0)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(classes, kernel_initializer=keras.initializers.RandomNormal(0, 2.0))(x)
    out = keras.layers.Softmax()(x)
    model = keras.Model(inp, out)
    bn = model.layers[2]
    rng = np.random.default_rng(seed)
    # Non-trivial BN statistics so folding them into the conv is really exercised.
    bn.set_weights([rng.uniform(0.5, 1.5, 16), rng.uniform(-0.2, 0.2, 16),
                    rng.uniform(-0.1, 0.1, 16), rng.uniform(0.5, 2.0, 16)])
    return model


def pixels(n: int, seed: int) -> np.ndarray:
    """Smooth random images (uint8) rather than white noise: closer to real inputs."""
    rng = np.random.default_rng(seed)
    low = rng.uniform(0, 255, (n, 4, 4, 3))
    img = np.kron(low, np.ones((1, SIZE // 4, SIZE // 4, 1)))
    return np.clip(img + rng.normal(0, 20, img.shape), 0, 255).astype(np.uint8)


def normalize(px: np.ndarray) -> np.ndarray:
    return (px.astype(np.float32) - 127.5) / 127.5


def run_tflite(path, x_float: np.ndarray) -> np.ndarray:
    """Run a .tflite on float inputs one by one, (de)quantizing I/O as the file says."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    results = []
    for sample in x_float:
        x = sample[None]
        if inp["dtype"] != np.float32:
            scale, zero = inp["quantization"]
            info = np.iinfo(inp["dtype"])
            x = np.clip(np.round(x / scale + zero), info.min, info.max).astype(inp["dtype"])
        interp.set_tensor(inp["index"], x)
        interp.invoke()
        y = interp.get_tensor(out["index"])
        if out["dtype"] != np.float32:
            scale, zero = out["quantization"]
            y = (y.astype(np.float32) - zero) * scale
        results.append(y[0])
    return np.stack(results)


def tiny_recipe(**export):
    """A real Recipe (its digest() is the metadata's recipe_hash)."""
    from edgecv.recipe import validate_recipe

    return validate_recipe({
        "name": "tiny", "task": "classification",
        "model": {"arch": "mobilenet_v2", "alpha": 0.35, "input_shape": [SIZE, SIZE, 3]},
        "data": {"train": {"format": "synthetic_shapes", "samples": 24, "seed": 0}},
        "train": {"epochs": 1}, "export": export or {}})


@pytest.fixture(scope="module")
def model():
    return tiny_model()


@pytest.fixture(scope="module")
def calib():
    return normalize(pixels(32, seed=1))


@pytest.fixture(scope="module")
def batch():
    return normalize(pixels(24, seed=2))


@pytest.fixture(scope="module")
def exported(model, calib, tmp_path_factory):
    """The tiny model exported once to every format."""
    from edgecv.export import export_model

    out = tmp_path_factory.mktemp("export")
    meta = build_metadata(task="classification", labels=LABELS, recipe=tiny_recipe(),
                          input_shape=[SIZE, SIZE, 3])
    results = {}
    for name in FORMATS:
        results[name] = export_model(model, name, out / output_name("tiny", name),
                                     representative=calib, metadata=meta)
    return results


# ---------------------------------------------------------------- formats table
def test_formats_table_is_frozen_and_complete():
    assert list(FORMATS) == ["float32", "float16", "dynamic", "int8", "edgetpu", "saved_model"]
    assert [n for n, f in FORMATS.items() if f.needs_calibration] == ["int8", "edgetpu"]
    assert FORMATS["saved_model"].suffix == "" and FORMATS["int8"].suffix == ".tflite"
    with pytest.raises(dataclasses.FrozenInstanceError):
        FORMATS["int8"].suffix = ".bin"
    assert output_name("quickstart", "int8") == "quickstart_int8.tflite"
    with pytest.raises(ExportError, match=r"unknown export format 'int9'; did you mean int8\?"):
        get_format("int9")


# ---------------------------------------------------------------- conversion
def test_every_format_written_with_size_and_time(exported):
    for name, result in exported.items():
        assert result.format == name
        assert result.path.exists() and result.seconds > 0
        if not FORMATS[name].tflite:
            assert (result.path / "saved_model.pb").is_file()
            # the folder gets what mkdir gives under the umask, not mkdtemp's 0700
            from edgecv.fileio import plain_mode

            assert result.path.stat().st_mode & 0o777 == plain_mode(directory=True)
        else:
            assert result.size_bytes == result.path.stat().st_size
            assert sidecar_path(result.path).is_file()


def test_registered_mobilenet_v2_int8_is_integer_and_small(calib, tmp_path):
    """A real registered architecture (depthwise, residual ADD, PAD, RELU6) end to end."""
    from edgecv.export import export_model

    model = edgecv.create_model("mobilenet_v2", alpha=0.35, input_shape=(SIZE, SIZE, 3),
                                num_classes=CLASSES)
    i8 = export_model(model, "int8", tmp_path / "mnv2_int8.tflite", representative=calib)
    # int8 weights: about one byte per parameter (float32 would be four).
    assert i8.size_bytes < 1.6 * model.count_params()
    info = inspect_tflite(i8.path)
    assert info["integer"] and info["float_ops"] == []
    assert {"ADD", "DEPTHWISE_CONV_2D", "CONV_2D"} <= {r["op"] for r in info["op_table"]}
    assert run_tflite(i8.path, calib[:4]).shape == (4, CLASSES)


FLOAT_WEIGHTS = [n for n, f in FORMATS.items() if f.tflite and f.weights != "int8"]
INT8_WEIGHTS = [n for n, f in FORMATS.items() if f.tflite and f.weights == "int8"]


def test_format_groups_are_the_known_ones():
    assert FLOAT_WEIGHTS == ["float32", "float16"]
    assert INT8_WEIGHTS == ["dynamic", "int8", "edgetpu"]


@pytest.mark.parametrize("fmt", FLOAT_WEIGHTS)
def test_float_formats_match_keras(exported, model, batch, fmt):
    expected = model.predict(batch, verbose=0)
    got = run_tflite(exported[fmt].path, batch)
    assert got.shape == (len(batch), CLASSES)
    np.testing.assert_allclose(got, expected, atol=1e-3)


@pytest.mark.parametrize("fmt", INT8_WEIGHTS)
def test_quantized_formats_agree_with_keras_top1(exported, model, batch, fmt):
    expected = model.predict(batch, verbose=0)
    got = run_tflite(exported[fmt].path, batch)
    agreement = np.mean(got.argmax(1) == expected.argmax(1))
    assert agreement >= 22 / 24, (fmt, agreement)
    assert np.abs(got - expected).max() < 0.1


def test_int8_file_is_integer_op_by_op(exported):
    info = inspect_tflite(exported["int8"].path)
    assert info["integer"] and info["float_ops"] == []
    assert [t["dtype"] for t in info["inputs"] + info["outputs"]] == ["uint8", "uint8"]
    for op in info["operators"]:
        for t in op["inputs"] + op["outputs"]:
            allowed = {"int8", "uint8", "int32"} if t.get("constant") else {"int8", "uint8"}
            assert t["dtype"] in allowed, (op["op"], t)
    ops = [row["op"] for row in info["op_table"]]
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "SOFTMAX"} <= set(ops)
    assert "DEQUANTIZE" not in ops  # uint8 I/O: no float boundary ops
    q = info["inputs"][0]["quantization"]
    # Calibrated on [-1, 1] inputs: uint8 input takes raw pixels (scale ~1/127.5).
    assert q["scale"] == pytest.approx(1 / 127.5, rel=0.02) and 126 <= q["zero_point"] <= 129


def test_float_files_are_not_integer(exported):
    for fmt in [n for n, f in FORMATS.items() if f.tflite and not f.integer]:
        info = inspect_tflite(exported[fmt].path)
        assert not info["integer"] and info["inputs"][0]["dtype"] == "float32"


def test_int8_io_type_int8(model, calib, tmp_path):
    from edgecv.export import export_model

    result = export_model(model, "int8", tmp_path / "m.tflite", representative=calib,
                          io_type="int8")
    info = inspect_tflite(result.path)
    assert info["inputs"][0]["dtype"] == "int8" and info["outputs"][0]["dtype"] == "int8"
    assert info["float_ops"] == []


def test_int8_needs_calibration_unless_qat(model, tmp_path):
    from edgecv.export import export_model

    with pytest.raises(ExportError, match="needs calibration data"):
        export_model(model, "int8", tmp_path / "m.tflite")
    with pytest.raises(ExportError, match="io_type 'float'"):
        export_model(model, "int8", tmp_path / "m.tflite", representative=np.zeros((1, 32, 32, 3)),
                     io_type="float")
    assert list(tmp_path.iterdir()) == []


def test_qat_model_exports_int8_with_learnt_ranges(batch, tmp_path):
    import tensorflow_model_optimization as tfmot

    from edgecv.export import export_model

    float_model = tiny_model(seed=3)
    qat = tfmot.quantization.keras.quantize_model(float_model)
    result = export_model(qat, "int8", tmp_path / "qat_int8.tflite")  # no calibration data
    info = inspect_tflite(result.path)
    assert info["integer"] and info["float_ops"] == []
    assert info["metadata"]["quantized_from"] == "qat"
    from edgecv.export.input_range import pinned_qat_input

    with pinned_qat_input(qat):   # the file's input takes raw pixels (test_input_range.py)
        expected = qat.predict(batch, verbose=0)
    got = run_tflite(result.path, batch)
    assert np.mean(got.argmax(1) == expected.argmax(1)) >= 22 / 24


def test_failed_conversion_leaves_nothing_behind(model, tmp_path):
    from edgecv.export import export_model

    def wrong_shape():  # calibration samples of the wrong size make the converter fail
        for _ in range(2):
            yield [np.zeros((1, 8, 8, 3), np.float32)]

    out = tmp_path / "out"
    with pytest.raises(ExportError, match="TFLite conversion to int8 failed"):
        export_model(model, "int8", out / "m_int8.tflite", representative=wrong_shape)
    assert not out.exists() or list(out.iterdir()) == []


def test_saved_model_reloads_and_matches(exported, model, batch):
    import tensorflow as tf

    loaded = tf.saved_model.load(str(exported["saved_model"].path))
    got = loaded.signatures["serving_default"](tf.constant(batch))
    got = next(iter(got.values())).numpy()
    np.testing.assert_allclose(got, model.predict(batch, verbose=0), atol=1e-5)


# ---------------------------------------------------------------- Edge TPU
def test_edgetpu_format_is_static_int8_and_says_compile_skipped(exported):
    result = exported["edgetpu"]
    assert any("edgetpu_compiler not on PATH: compile skipped" in n for n in result.notes)
    assert result.report["ready"] and result.report["compiler"]["ran"] is False
    info = inspect_tflite(result.path)
    assert info["inputs"][0]["shape_signature"] == [1, SIZE, SIZE, 3]
    n = len(info["operators"])
    assert info["edgetpu"]["verdict"] == f"{n} of {n} ops mappable to the Edge TPU"
    # The plain int8 file keeps Keras' dynamic batch: the compiler would refuse it.
    verdict = inspect_tflite(exported["int8"].path)["edgetpu"]
    assert not verdict["ready"] and "dynamic batch" in verdict["model_problems"][0]


def _mixed_model_bytes(calib) -> bytes:
    """An int8-calibrated model whose SIN op has no int8 kernel: the converter leaves it
    in float between DEQUANTIZE/QUANTIZE (what quietly happens without INT8-only)."""
    import tensorflow as tf
    import tf_keras as keras

    inp = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(inp)
    x = keras.layers.Lambda(tf.math.sin)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(CLASSES, activation="softmax")(x)
    model = keras.Model(inp, out)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([s[None]] for s in calib[:8])
    converter.inference_input_type = tf.uint8
    return converter.convert(), model


def test_info_flags_float_op_and_unmappable_op(calib, tmp_path, capsys):
    from edgecv.export import export_model

    data, model = _mixed_model_bytes(calib)
    path = tmp_path / "mixed.tflite"
    path.write_bytes(data)
    info = inspect_tflite(path)
    assert info["integer"]
    assert "SIN" in {op["op"] for op in info["float_ops"]}
    unmappable = {op["op"]: op["reasons"] for op in info["edgetpu"]["unmappable"]}
    assert "SIN is not in the Edge TPU's supported operations" in unmappable["SIN"]
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "float ops in an integer model" in out
    assert "SIN: SIN is not in the Edge TPU's supported operations" in out
    assert "metadata: none" in out
    # Even with TFLITE_BUILTINS_INT8 the converter keeps SIN in float; edgecv's
    # flatbuffer check refuses to write such an "int8" file.
    with pytest.raises(ExportError, match=r"int8 export left 3 float op\(s\) .*SIN"):
        export_model(model, "int8", tmp_path / "x.tflite", representative=calib[:4])
    assert not (tmp_path / "x.tflite").exists()


def test_dynamic_input_size_is_flagged(calib, tmp_path, capsys):
    from edgecv.export import export_model

    model = tiny_model(input_shape=(None, None, 3))
    result = export_model(model, "int8", tmp_path / "dyn.tflite", representative=calib[:4])
    info = inspect_tflite(result.path)
    reasons = [r for op in info["edgetpu"]["unmappable"] for r in op["reasons"]]
    assert info["edgetpu"]["unmappable"][0]["index"] == 0
    assert any("dynamic shape [-1, -1, -1, 3]" in r for r in reasons)
    with pytest.raises(ExportError, match="not static; the Edge TPU needs a fixed input size"):
        export_model(model, "edgetpu", tmp_path / "dyn_edgetpu.tflite", representative=calib[:4])
    assert main(["info", str(result.path)]) == 0
    assert "has a dynamic shape" in capsys.readouterr().out


def test_parse_compiler_log():
    from edgecv.export.edgetpu import parse_compiler_log

    log = """Edge TPU Compiler version 16.0.384591198
Model compiled successfully in 312 ms.

Input model: m.tflite
Output model: m_edgetpu.tflite
On-chip memory used for caching model parameters: 3.42MiB
On-chip memory remaining for caching model parameters: 4.31MiB
Off-chip memory used for streaming uncached model parameters: 0.00B
Number of Edge TPU subgraphs: 1
Total number of operations: 66
Operation log: m_edgetpu.log

Model successfully compiled but not all operations are supported by the Edge TPU.
Number of operations that will run on Edge TPU: 64
Number of operations that will run on CPU: 2

Operator                       Count      Status

SIN                            1          Operation not supported
CONV_2D                        35         Mapped to Edge TPU
"""
    parsed = parse_compiler_log(log)
    assert parsed["compiler_version"] == "16.0.384591198"
    assert (parsed["subgraphs"], parsed["total_ops"]) == (1, 66)
    assert (parsed["ops_on_tpu"], parsed["ops_on_cpu"]) == (64, 2)
    assert parsed["on_chip_memory_used"] == "3.42MiB"
    assert parsed["operators"][0] == {"op": "SIN", "count": 1, "status": "Operation not supported"}


# ---------------------------------------------------------------- metadata
def test_metadata_round_trip(exported):
    path = exported["int8"].path
    meta = read_metadata(path)
    assert meta == json.loads(sidecar_path(path).read_text())
    assert meta["task"] == "classification" and meta["labels"] == LABELS
    assert meta["format"] == "int8" and meta["schema"] == "edgecv-metadata/1"
    assert meta["normalization"] == {"mean": 127.5, "std": 127.5}
    assert meta["input_shape"] == [SIZE, SIZE, 3]
    assert len(meta["recipe_hash"]) == 16
    assert meta["edgecv_version"] == edgecv.__version__
    info = inspect_tflite(path)
    assert meta["inputs"][0]["quantization"] == info["inputs"][0]["quantization"]
    assert meta["outputs"][0]["shape"] == [1, CLASSES]
    # The same bytes read from memory; float formats carry float I/O.
    assert read_metadata(path.read_bytes()) == meta
    assert read_metadata(exported["float32"].path)["inputs"][0]["quantization"] is None


def test_metadata_reader_needs_no_tensorflow(exported):
    """The bench runner's view: a fresh interpreter with only the stdlib reader."""
    import subprocess
    import sys

    code = ("import sys, json; sys.modules['tensorflow'] = None; sys.modules['numpy'] = None\n"
            "from edgecv.export.metadata import read_metadata\n"
            f"print(json.dumps(read_metadata({str(exported['int8'].path)!r})['labels']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == LABELS


def test_embedding_twice_replaces_the_entry(exported):
    data = exported["float32"].path.read_bytes()
    again = embed_metadata(embed_metadata(data, {"a": 1}), {"a": 2})
    assert read_metadata(again) == {"a": 2}
    assert again.count(METADATA_NAME.encode()) == 1
    assert len(again) < len(data) + 200


def test_metadata_module_works_copied_beside_a_standalone_runner(exported, tmp_path):
    """`python -S`: no site-packages, so neither edgecv nor numpy nor TF is importable."""
    import shutil
    import subprocess
    import sys

    from edgecv.export import metadata

    shutil.copy(metadata.__file__, tmp_path / "edgecv_metadata.py")
    code = (f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import edgecv_metadata as m\n"
            f"print(m.read_metadata({str(exported['int8'].path)!r})['format'])\n"
            "try:\n    m.read_metadata(b'x' * 64)\nexcept m.ExportError as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out == ["int8", "<bytes>: not a TFLite file (identifier b'xxxx', expected b'TFL3')"]


def test_compiled_edgetpu_file_is_recognised():
    from edgecv.export.edgetpu import check_operators

    op = lambda name: {"index": 0, "op": name, "inputs": [], "outputs": [], "options": {}}  # noqa: E731
    report = check_operators({"operators": [op("QUANTIZE"), op("CUSTOM:edgetpu-custom-op"),
                                            op("SIN")], "inputs": [], "integer": True})
    assert report["compiled"] and report["verdict"] == (
        "compiled for the Edge TPU: 1 edgetpu-custom-op(s), 2 op(s) left on the CPU "
        "(QUANTIZE, SIN)")


def test_metadata_none_for_foreign_files(calib):
    data, _ = _mixed_model_bytes(calib)
    assert read_metadata(data) is None


# ---------------------------------------------------------------- corrupt files
def _corrupt_variants(good: bytes) -> dict[str, bytes]:
    flipped = bytearray(good)
    flipped[8:40] = b"\xff" * 32  # smash the root table's vtable offsets
    return {
        "empty": b"",
        "text": b"this is not a model\n" * 10,
        "png": b"\x89PNG\r\n\x1a\n" + bytes(200),
        "truncated_head": good[:12],
        "truncated_half": good[: len(good) // 2],
        "truncated_tail": good[:-9],
        "smashed": bytes(flipped),
    }


@pytest.mark.parametrize("variant", ["empty", "text", "png", "truncated_head",
                                     "truncated_half", "truncated_tail", "smashed"])
def test_corrupt_files_exit_2_with_one_line(exported, tmp_path, capsys, variant):
    bad = _corrupt_variants(exported["int8"].path.read_bytes())[variant]
    path = tmp_path / f"{variant}.tflite"
    path.write_bytes(bad)
    assert main(["info", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"error: {path}: ")
    assert ("not a TFLite file" in err) or ("corrupt" in err)


def test_random_byte_damage_never_escapes_as_another_error(exported):
    """Flip bytes all over a good file: inspection either succeeds or raises ExportError."""
    good = exported["int8"].path.read_bytes()
    rng = np.random.default_rng(0)
    for _ in range(40):
        bad = bytearray(good)
        for pos in rng.integers(8, len(good), 4):
            bad[pos] = int(rng.integers(0, 256))
        try:
            inspect_tflite(bytes(bad))
        except ExportError:
            pass


def test_missing_file_exit_2(tmp_path, capsys):
    assert main(["info", str(tmp_path / "nope.tflite")]) == 2
    assert "no such file" in capsys.readouterr().err
