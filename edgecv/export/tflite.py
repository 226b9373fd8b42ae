"""Keras model -> TFLite (or SavedModel) in one of the FORMATS, written atomically
with edgecv metadata embedded and beside it."""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from edgecv import fileio
from edgecv.errors import ExportError
from edgecv.export.formats import IO_TYPES, Format, PostResult, get_format
from edgecv.export.input_range import check_pixel_input, pinned_qat_input, pinned_representative
from edgecv.signals import raise_if_terminated


@dataclass(frozen=True)
class ExportResult:
    format: str
    path: Path
    size_bytes: int
    seconds: float
    notes: tuple[str, ...] = ()  # e.g. "edgetpu_compiler not on PATH: compile skipped"
    report: dict = field(default_factory=dict)  # format-specific (the Edge TPU check)


def is_qat_model(model) -> bool:
    """True when tfmot quantize wrappers are in the graph: their learnt ranges
    replace calibration."""
    return any(type(layer).__module__.startswith("tensorflow_model_optimization")
               for layer in getattr(model, "layers", []))


def as_representative(data: Any) -> Callable[[], Iterable[list]]:
    """Accept a converter-style callable, or an array [N,H,W,C] float32 of
    preprocessed samples, and return a callable yielding `[x (1,H,W,C)]`."""
    if data is None or callable(data):
        return data
    import numpy as np

    array = np.asarray(data, dtype=np.float32)
    if array.ndim < 2:
        raise ExportError(f"representative data must be [N, ...] samples, got shape {array.shape}")

    def generator():
        for sample in array:
            yield [sample[None, ...]]

    return generator


def convert(model, fmt: "str | Format", *, representative=None, io_type: str = "uint8") -> bytes:
    """Convert a tf_keras model to TFLite bytes in `fmt` (not written anywhere)."""
    f = get_format(fmt)
    if not f.tflite:
        raise ExportError(f"format {f.name!r} is not a TFLite format")
    if io_type not in IO_TYPES:
        raise ExportError(f"io_type {io_type!r} is not one of {', '.join(IO_TYPES)}")
    qat = is_qat_model(model)
    representative = as_representative(representative)
    if f.needs_calibration and representative is None and not qat:
        raise ExportError(f"format {f.name!r} needs calibration data (representative samples) "
                          "unless the model was trained with QAT")

    converter = _converter(model, static_batch=f.static_batch)
    if f.integer and representative is not None:
        representative = pinned_representative(representative)
    f.configure_converter(converter, qat=qat, representative=representative, io_type=io_type)
    try:
        with pinned_qat_input(model) if f.integer and qat else contextlib.nullcontext():
            data = converter.convert()
    except Exception as exc:  # converter errors are long MLIR dumps: keep the first line
        raise_if_terminated()  # Ctrl-C inside the converter's C++ surfaces as a SystemError
        first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise ExportError(f"TFLite conversion to {f.name} failed: {first}") from exc
    if f.integer:
        _require_integer(data, f.name)
        check_pixel_input(data, io_type, f.name)
    from edgecv.export.flatbuffer import order_outputs

    return order_outputs(bytes(data), list(model.output_names))


def _converter(model, *, static_batch: bool):
    """A converter over one traced concrete function of the model.

    Why not `from_keras_model`: in TF 2.21 it first saves the Keras model as a
    SavedModel, tracing every layer separately - 60x slower (120 s vs 2 s for
    MobileNetV2 0.35) and it orders multiple outputs by name. A single trace keeps
    the model's output order. The Edge TPU compiler wants static shapes, so
    `static_batch` traces a batch of 1; otherwise the batch stays dynamic."""
    import tensorflow as tf

    specs = [tf.TensorSpec([1 if static_batch else None, *t.shape[1:]], t.dtype,
                           name=t.name.split(":")[0].split("/")[0])
             for t in model.inputs]
    if static_batch and any(d is None for s in specs for d in s.shape):
        raise ExportError(f"model input shapes {[s.shape.as_list() for s in specs]} are not "
                          "static; the Edge TPU needs a fixed input size")
    # Outputs keyed by their Keras names: the file's signature then names every output,
    # so metadata and runners match outputs by name (`flatbuffer.output_keys`).
    names = list(model.output_names)

    def call(*xs):
        outputs = model(list(xs) if len(xs) > 1 else xs[0], training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        return dict(zip(names, outputs))

    fn = tf.function(call)
    try:
        concrete = fn.get_concrete_function(*specs)
    except Exception as exc:
        first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise ExportError(f"tracing the model for TFLite conversion failed: {first}") from exc
    # A trackable_obj makes the converter write the signature (output names). Not the
    # Keras model itself: the converter saves its trackable_obj as a SavedModel first, and
    # a Keras model serialises every layer's call functions (20 of the 23 s of a 32 px
    # MobileNetV2 0.35 float32 export); a bare module that only holds the variables the
    # trace captured saves in under a second and gives the same file.
    holder = tf.Module()
    holder.captured_variables = list(model.variables)
    return tf.lite.TFLiteConverter.from_concrete_functions([concrete], holder)


def _require_integer(data: bytes, fmt: str) -> None:
    from edgecv.export.flatbuffer import describe, load_model_object

    model, buf, _ = load_model_object(data)
    floats = describe(model, buf)["float_ops"]
    if floats:
        names = ", ".join(sorted({op["op"] for op in floats}))
        raise ExportError(f"{fmt} export left {len(floats)} float op(s) in the model ({names}); "
                          "the model has layers the int8 converter cannot quantize")


def io_metadata(data: bytes) -> dict:
    """Input/output tensor facts read back from the converted flatbuffer."""
    from edgecv.export.flatbuffer import describe, load_model_object, output_keys

    model, buf, _ = load_model_object(data)
    d = describe(model, buf)
    keep = ("name", "dtype", "shape", "quantization")
    keys = output_keys(model)
    return {"inputs": [{k: t[k] for k in keep} for t in d["inputs"]],
            "outputs": [dict({k: t[k] for k in keep}, key=key)
                        for t, key in zip(d["outputs"], keys)]}


def export_model(model, fmt: "str | Format", out_path: "str | os.PathLike", *,
                 representative=None, io_type: str = "uint8",
                 metadata: "dict | None" = None) -> ExportResult:
    """Convert `model` to `fmt` and write it to `out_path` atomically.

    TFLite formats embed edgecv metadata (the caller's dict, e.g. from
    `metadata.build_metadata`, plus format and tensor facts) and write it as the
    sidecar `<stem>.json`. `saved_model` writes a directory. A failed conversion
    leaves nothing behind."""
    f = get_format(fmt)
    out_path = Path(out_path)
    start = time.perf_counter()
    if not f.tflite:
        _write_saved_model(model, out_path)
        size = sum(p.stat().st_size for p in out_path.rglob("*") if p.is_file())
        return ExportResult(f.name, out_path, size, time.perf_counter() - start)

    from edgecv.export import metadata as md

    data = convert(model, f, representative=representative, io_type=io_type)
    meta = md.complete_metadata(metadata)
    meta["format"] = f.name
    # Where the int8 ranges came from; float formats have none.
    meta["quantized_from"] = ("qat" if is_qat_model(model) else "calibration") \
        if f.integer else None
    meta.update(io_metadata(data))
    data = md.embed_metadata(data, meta)
    post = f.post(data, out_path.name) if f.post is not None else PostResult(data)
    # Last, after the format's post-step: the standard metadata describes the final file
    # (its packed labels.txt zip survives later entries: metadata.embed_entry keeps it).
    from edgecv.export.standard.write import add_standard_metadata

    data = add_standard_metadata(post.data, meta, name=out_path.stem)
    sidecar = md.sidecar_path(out_path)
    fileio.write_bytes(out_path, data)
    try:
        fileio.write_json(sidecar, meta)
    except BaseException:
        out_path.unlink(missing_ok=True)
        raise
    seconds = time.perf_counter() - start
    return ExportResult(f.name, out_path, len(data), seconds, post.notes, post.report or {})


def _serving_module(model):
    """A tf.Module holding the weights and one traced `serve` function.

    Saving the Keras model itself traces every layer for Keras-level reloading
    (~40 s for MobileNetV2); a serving SavedModel (TF Serving, TF.js, TF-TRT) needs
    only the one inference function."""
    import tensorflow as tf

    module = tf.Module()
    module.variables_ = list(model.variables)  # tracked so the checkpoint holds them
    specs = [tf.TensorSpec([None, *t.shape[1:]], t.dtype, name=t.name.split(":")[0].split("/")[0])
             for t in model.inputs]
    module.serve = tf.function(
        lambda *xs: model(list(xs) if len(xs) > 1 else xs[0], training=False),
        input_signature=specs)
    return module


def _write_saved_model(model, out_path: Path) -> None:
    """SavedModel into a temporary sibling directory, then renamed into place."""
    import tensorflow as tf

    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_path.name}.", dir=out_path.parent))
    # mkdtemp makes the folder 0700; the renamed SavedModel gets what a plain mkdir would.
    os.chmod(tmp, fileio.plain_mode(directory=True))
    try:
        try:
            module = _serving_module(model)
            tf.saved_model.save(module, str(tmp), signatures={"serving_default": module.serve})
        except Exception as exc:
            raise ExportError(f"SavedModel export to {out_path} failed: "
                              f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc
        if out_path.exists():
            old = out_path.with_name(f".{out_path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(out_path, old)
            os.replace(tmp, out_path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out_path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
