"""The export formats table: `edgecv export --format`, recipe checks, docs and the
benchmark loop all read it."""
from __future__ import annotations

from dataclasses import dataclass

from edgecv.errors import ExportError
from edgecv.registry import suggest


@dataclass(frozen=True)
class Format:
    name: str
    suffix: str  # appended to "<name>_<format>"; "" = a directory (SavedModel)
    needs_calibration: bool  # needs representative data unless the model is QAT-trained
    description: str
    integer: bool = False  # full-integer activations (int8/uint8 I/O)
    tflite: bool = True


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("float32", ".tflite", False, "float32 TFLite, no quantization"),
        Format("float16", ".tflite", False,
               "float16 weights, float32 compute and I/O (half the size, GPU-friendly)"),
        Format("dynamic", ".tflite", False,
               "dynamic-range: int8 weights, float activations and I/O"),
        Format("int8", ".tflite", True,
               "full integer: int8 weights and activations, uint8/int8 I/O", integer=True),
        Format("edgetpu", ".tflite", True,
               "full-integer int8 checked against the Edge TPU rules "
               "(compiled when edgetpu_compiler is on PATH)", integer=True),
        Format("saved_model", "", False,
               "TensorFlow SavedModel directory for serving (one serving_default signature)",
               tflite=False),
    )
}


def get_format(name: "str | Format") -> Format:
    """Look a format up by name; unknown names get a "did you mean" error."""
    if isinstance(name, Format):
        return name
    try:
        return FORMATS[name]
    except (KeyError, TypeError):
        raise ExportError(
            f"unknown export format {name!r}{suggest(str(name), list(FORMATS))} "
            f"(choose from {', '.join(FORMATS)})"
        ) from None


def output_name(stem: str, fmt: "str | Format") -> str:
    """File (or directory) name for `stem` exported as `fmt`: `quickstart_int8.tflite`."""
    f = get_format(fmt)
    return f"{stem}_{f.name}{f.suffix}"
