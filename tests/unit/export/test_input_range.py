"""Integer inputs map raw pixels as the float model's normalisation does, whatever the
calibration images hold: a dark calibration set, a QAT model with an odd learnt input
range, and a file with a wrong input quantization refused by message."""
from __future__ import annotations

import numpy as np
import pytest

import edgecv  # noqa: F401  (sets TF_USE_LEGACY_KERAS first)
from edgecv.errors import ExportError
from edgecv.export.input_range import check_pixel_input
from tests.unit.export.test_export import normalize, pixels, run_tflite, tiny_model

PIXELS = np.arange(256, dtype=np.float64)


def dark_calibration(n: int = 16) -> np.ndarray:
    """Night-time frames: pixels 0..20 only (the case that gave zero point 254 before)."""
    return normalize((pixels(n, seed=5) / 255.0 * 20).astype(np.uint8))


def input_quantization(path):
    from ai_edge_litert.interpreter import Interpreter

    detail = Interpreter(model_path=str(path)).get_input_details()[0]
    return detail["dtype"], detail["quantization"]


@pytest.fixture(scope="module")
def model():
    return tiny_model(seed=4)


@pytest.fixture(scope="module")
def dark_exports(model, tmp_path_factory):
    """The int8 file calibrated on dark frames, per input type (made once per module)."""
    from edgecv.export import export_model

    out = tmp_path_factory.mktemp("dark")
    return {io: export_model(model, "int8", out / f"dark_{io}.tflite", representative=dark_calibration(),
                             io_type=io) for io in ("uint8", "int8")}


@pytest.mark.parametrize("io_type, zero_point", [("uint8", 128), ("int8", 0)])
def test_dark_calibration_still_maps_every_pixel_like_the_float_model(model, dark_exports, io_type, zero_point):
    result = dark_exports[io_type]
    dtype, (scale, zero) = input_quantization(result.path)
    assert dtype == np.dtype(io_type) and zero == zero_point
    assert scale == pytest.approx(1 / 127.5, rel=1e-6)
    # what the int8 model sees for raw pixel p (uint8 input; int8 input is p - 128)
    stored = PIXELS - (128 if io_type == "int8" else 0)
    seen = (stored - zero) * scale
    float_sees = PIXELS / 127.5 - 1.0
    # within half a quantization step (1/255) for every pixel, the best an integer zero point
    # can do; a calibrated range of [-1, -0.84] would clip all pixels above 20 instead
    assert np.max(np.abs(seen - float_sees)) <= 0.5 * scale + 1e-7
    # bright test images still classify as the float model does
    batch = normalize(pixels(24, seed=2))
    agree = np.mean(run_tflite(result.path, batch).argmax(1) == model.predict(batch, verbose=0).argmax(1))
    assert agree >= 21 / 24


@pytest.mark.slow   # QAT wrapping + int8 conversion: ~30 s on 2 shared cores
def test_qat_input_range_is_pinned_for_the_export_and_given_back(tmp_path):
    from edgecv.export import export_model
    from edgecv.optimize.qat import quantize

    qat = quantize(tiny_model(seed=4))
    quantizer = next(layer for layer in qat.layers if type(layer).__name__ == "QuantizeLayer")
    learnt = {w.name: w for w in quantizer.weights if "min" in w.name or "max" in w.name}
    for w in learnt.values():       # a learnt range from dark training images
        w.assign(-1.0 if "min" in w.name else -0.8)
    result = export_model(qat, "int8", tmp_path / "qat.tflite")
    _, (scale, zero) = input_quantization(result.path)
    assert zero == 128 and scale == pytest.approx(1 / 127.5, rel=1e-6)
    assert sorted(float(w.numpy()) for w in learnt.values()) == [-1.0, pytest.approx(-0.8)]


def test_a_file_with_a_calibrated_input_range_is_refused(dark_exports):
    from edgecv.export.metadata import schema_module

    result = dark_exports["uint8"]
    schema = schema_module()
    parsed = schema.ModelT.InitFromPackedBuf(bytearray(result.path.read_bytes()), 0)
    sg = parsed.subgraphs[0]
    q = sg.tensors[sg.inputs[0]].quantization
    q.scale, q.zeroPoint = np.array([0.003937], np.float32), np.array([254], np.int64)
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    builder.Finish(parsed.Pack(builder), file_identifier=b"TFL3")
    with pytest.raises(ExportError, match=r"int8 export: input .* scale 0\.003937, zero point 254; "
                                          r"raw pixels need scale 0\.00784314, zero point 128"):
        check_pixel_input(bytes(builder.Output()), "uint8", "int8")


def test_qat_input_is_pinned_whatever_the_quantize_layer_is_called():
    """tfmot names the input quantizer's weights after the layer, and the layer gets a suffix
    once the process built another QAT model (quantize_layer_1_min): the pin must still apply
    (in the full suite the second QAT export was refused for an unpinned input range)."""
    import tensorflow_model_optimization as tfmot

    from edgecv.export.input_range import pinned_qat_input, pixel_bounds
    from tests.unit.export.test_export import tiny_model

    models = [tfmot.quantization.keras.quantize_model(tiny_model(seed=4)) for _ in range(2)]
    quantizer = next(layer for layer in models[1].layers if type(layer).__name__ == "QuantizeLayer")
    assert quantizer.name != "quantize_layer"                      # the suffixed case
    weights = {w.name.split("/")[-1].split(":")[0]: w for w in quantizer.weights}
    low_name, high_name = f"{quantizer.name}_min", f"{quantizer.name}_max"
    before = weights[low_name].numpy(), weights[high_name].numpy()
    with pinned_qat_input(models[1]):
        assert (float(weights[low_name].numpy()), float(weights[high_name].numpy())) == pytest.approx(pixel_bounds())
    assert (weights[low_name].numpy(), weights[high_name].numpy()) == before
