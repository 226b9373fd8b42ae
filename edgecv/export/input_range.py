"""Integer inputs an app can feed raw pixels to: the int8/uint8 input's scale and zero
point come from the pixel range, not from whatever the calibration images happened to
hold (dark images gave scale 0.003937, zero point 254, and every bright pixel clipped).

edgecv's models see x = (pixel - MEAN) / STD (edgecv.data.normalize), MEAN = STD = 127.5.
An integer zero point cannot be 127.5, so the best an int8/uint8 input can do is zero
point Z = 128 and scale 1 / STD: pixel p reaches the model as (p - 128) / 127.5, the float
model's value minus half a quantization step (1/255), for every p. The input range is
pinned to exactly what that quantization covers, [(0 - Z) / STD, (255 - Z) / STD]:
calibration gets one frame at each end after its samples, a QAT model's input quantizer
its min/max set to them for the conversion (the converter then needs no rounding of the
zero point: a range of [-1, 1] would leave it to round 127.5 either way).
`check_pixel_input` verifies the converted file and refuses it otherwise.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterable, Iterator

from edgecv.errors import ExportError


def pixel_bounds() -> tuple[float, float]:
    """The input range the integer input covers: pixels 0 and 255 at zero point Z."""
    from edgecv.data import normalize

    zero, _ = _zero_and_scale()
    return ((0.0 - zero) / normalize.STD, (255.0 - zero) / normalize.STD)


def _zero_and_scale() -> tuple[int, float]:
    import math

    from edgecv.data import normalize

    return int(math.floor(normalize.MEAN + 0.5)), 1.0 / normalize.STD   # 127.5 -> 128


def expected_input_quantization(io_type: str) -> tuple[float, int]:
    """(scale, zero point) that maps raw pixels onto the normalised range."""
    zero, scale = _zero_and_scale()
    return scale, zero - (128 if io_type == "int8" else 0)


def pinned_representative(representative: Callable[[], Iterable[list]]) -> Callable[[], Iterable[list]]:
    """The calibration samples clipped to the integer input's range, then a frame at each
    end of it (so the range is exactly that, whatever the samples hold)."""
    import numpy as np

    low, high = pixel_bounds()

    def generator():
        shape = None
        for sample in representative():
            shape = np.shape(sample[0])
            # pixel 255 is 1.0 for the float model, 127/127.5 for the integer input
            yield [np.clip(sample[0], low, high).astype(np.float32)] + list(sample[1:])
        if shape is not None:
            yield [np.full(shape, low, np.float32)]
            yield [np.full(shape, high, np.float32)]

    return generator


@contextlib.contextmanager
def pinned_qat_input(model: Any) -> Iterator[None]:
    """Set the QAT input quantizer's learnt min/max to the pixel range while converting,
    and give the model its own values back afterwards."""
    low, high = pixel_bounds()
    # tfmot names the weights after the layer ("quantize_layer_min", or "quantize_layer_3_min"
    # once a process has built other QAT models), so match the suffix, not the whole name.
    def short(w) -> str:
        return w.name.split("/")[-1].split(":")[0]

    variables = [w for layer in getattr(model, "layers", []) if type(layer).__name__ == "QuantizeLayer"
                 for w in layer.weights if short(w).endswith(("_min", "_max"))]
    saved = [v.numpy() for v in variables]
    try:
        for v in variables:
            v.assign(low if short(v).endswith("_min") else high)
        yield
    finally:
        for v, value in zip(variables, saved):
            v.assign(value)


def check_pixel_input(data: bytes, io_type: str, fmt: str) -> None:
    """Refuse an integer file whose input does not map pixels like the float model."""
    from edgecv.export.flatbuffer import describe, load_model_object

    model, buf, _ = load_model_object(data)
    for tensor in describe(model, buf)["inputs"]:
        q = tensor["quantization"]
        if tensor["dtype"] not in ("uint8", "int8") or not q or isinstance(q["scale"], list):
            continue
        scale, zero = expected_input_quantization(tensor["dtype"])
        if abs(q["scale"] - scale) > 1e-6 * scale or q["zero_point"] != zero:
            raise ExportError(
                f"{fmt} export: input {tensor['name']!r} has scale {q['scale']:.6g}, zero point "
                f"{q['zero_point']}; raw pixels need scale {scale:.6g}, zero point {zero} "
                f"(the normalised pixel range); the calibration or QAT input range is off")
