"""The export formats table: `edgecv export --format`, recipe checks, docs and the
benchmark loop all read it, and each row carries its own behaviour (how it sets up the
TFLite converter, whether it traces a static batch, its post-step), so a new TFLite
variant is one row here and nothing else (Ultralytics' `export_formats()` idea).

Importable without TensorFlow (the recipe schema imports it): the behaviour functions
import TensorFlow inside, and run only when a conversion does.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Optional

from edgecv.errors import ExportError
from edgecv.registry import suggest

IO_TYPES = ("uint8", "int8")


@dataclass(frozen=True)
class PostResult:
    """What a format's post-step makes of the converted bytes (metadata already embedded)."""
    data: bytes
    notes: tuple[str, ...] = ()   # e.g. "edgetpu_compiler not on PATH: compile skipped"
    report: Optional[dict] = None  # format-specific, e.g. the Edge TPU check


# configure(converter, *, qat, **options): set the converter up for this format. It
# receives exactly the options the row lists (see `Format.options`).
Configure = Callable[..., None]
PostStep = Callable[[bytes, str], PostResult]


@dataclass(frozen=True)
class Format:
    name: str
    suffix: str  # appended to "<name>_<format>"; "" = a directory (SavedModel)
    needs_calibration: bool  # needs representative data unless the model is QAT-trained
    description: str
    integer: bool = False  # full-integer activations (int8/uint8 I/O): checked op by op
    tflite: bool = True    # False: a SavedModel directory, no converter
    weights: str = "float32"  # stored weight type: float32 | float16 | int8
    configure: Optional[Configure] = None  # None: the converter's defaults (float32)
    static_batch: bool = False  # trace with batch 1 (compilers that need static shapes)
    post: Optional[PostStep] = None  # run on the final bytes before they are written
    # Export options the format honours, beside the model: "representative" (calibration
    # samples) and "io_type" (uint8 | int8 input/output). Others ignore them.
    options: tuple[str, ...] = ()

    def configure_converter(self, converter: Any, *, qat: bool, **options: Any) -> None:
        """Apply this format's converter settings, passing only the options it takes."""
        if self.configure is not None:
            self.configure(converter, qat=qat, **{k: options.get(k) for k in self.options})


# ---------------------------------------------------------------- behaviour
def _float16(converter, *, qat: bool) -> None:
    import tensorflow as tf

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]


def _dynamic_range(converter, *, qat: bool) -> None:
    import tensorflow as tf

    converter.optimizations = [tf.lite.Optimize.DEFAULT]


def _full_integer(converter, *, qat: bool, representative, io_type: str) -> None:
    import tensorflow as tf

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if representative is not None:
        converter.representative_dataset = representative
    if not qat or representative is not None:
        # Refuse float fallbacks at conversion time. (For QAT models without
        # calibration data the converter insists on a representative set when
        # this is set, so there the flatbuffer check after conversion does the refusing.)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = getattr(tf, io_type)
    converter.inference_output_type = getattr(tf, io_type)


def _edgetpu_post(data: bytes, name: str) -> PostResult:
    """The static Edge TPU check, then edgetpu_compiler when it is on PATH."""
    from edgecv.export.edgetpu import compile_edgetpu, edgetpu_report

    report = edgetpu_report(data)
    compiled = compile_edgetpu(data, name)
    report["compiler"] = compiled
    if compiled.get("model") is not None:
        data = compiled.pop("model")
    return PostResult(data, (compiled["summary"],), report)


_INT8_OPTIONS = ("representative", "io_type")

FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("float32", ".tflite", False, "float32 TFLite, no quantization"),
        Format("float16", ".tflite", False,
               "float16 weights, float32 compute and I/O (half the size, GPU-friendly)",
               weights="float16", configure=_float16),
        Format("dynamic", ".tflite", False,
               "dynamic-range: int8 weights, float activations and I/O",
               weights="int8", configure=_dynamic_range),
        Format("int8", ".tflite", True,
               "full integer: int8 weights and activations, uint8/int8 I/O", integer=True,
               weights="int8", configure=_full_integer, options=_INT8_OPTIONS),
        Format("edgetpu", ".tflite", True,
               "full-integer int8 checked against the Edge TPU rules "
               "(compiled when edgetpu_compiler is on PATH)", integer=True, weights="int8",
               configure=_full_integer, options=_INT8_OPTIONS,
               static_batch=True,  # the Edge TPU compiler refuses a dynamic batch
               post=_edgetpu_post),
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


def configure_parameters(fmt: "str | Format") -> tuple[str, ...]:
    """The option names a row's `configure` function takes (a table self-check)."""
    f = get_format(fmt)
    if f.configure is None:
        return ()
    params = inspect.signature(f.configure).parameters
    return tuple(p for p in params if p not in ("converter", "qat"))
