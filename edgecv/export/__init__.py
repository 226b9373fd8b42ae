"""Export: FORMATS table, the export pipeline, Keras -> TFLite conversion, metadata,
inspection, Edge TPU check.

Importing this package is cheap; TensorFlow loads only when a conversion runs.
See docs/ARCHITECTURE.md (edgecv.export)."""
from edgecv.export.formats import FORMATS, Format, get_format, output_name
from edgecv.export.pipeline import export_run


def export_model(model, fmt, out_path, *, representative=None, io_type="uint8", metadata=None):
    """See edgecv.export.tflite.export_model."""
    from edgecv.export.tflite import export_model as _export

    return _export(model, fmt, out_path, representative=representative, io_type=io_type,
                   metadata=metadata)


def read_metadata(path_or_bytes):
    from edgecv.export.metadata import read_metadata as _read

    return _read(path_or_bytes)


def inspect_tflite(path):
    from edgecv.export.info import inspect_tflite as _inspect

    return _inspect(path)


__all__ = ["FORMATS", "Format", "get_format", "output_name", "export_run", "export_model",
           "read_metadata", "inspect_tflite"]
