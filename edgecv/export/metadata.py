"""edgecv metadata: one JSON document embedded in the .tflite flatbuffer (a
`Model.metadata` entry named "edgecv_metadata" pointing at a buffer) and written
beside it as `<file stem>.json`, so runners and apps decode outputs without the recipe.

Reading needs only the standard library: `read_metadata` walks the few flatbuffer
tables it needs by hand, so the standalone bench runner on a Raspberry Pi (stdlib +
numpy + LiteRT, maybe without edgecv installed) can use it by importing this module
or by copying this one file next to itself. Writing uses the `flatbuffers` package
with the TFLite schema that LiteRT (or TensorFlow) ships.
"""
from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

try:
    from edgecv.errors import ExportError
except ImportError:  # copied beside a standalone runner without edgecv installed
    class ExportError(Exception):  # type: ignore[no-redef]
        pass

METADATA_NAME = "edgecv_metadata"
SCHEMA = "edgecv-metadata/1"
TFLITE_IDENTIFIER = b"TFL3"

# Field slots in tensorflow/lite/schema/schema.fbs (stable: flatbuffers only append).
_MODEL_BUFFERS = 4
_MODEL_METADATA = 6
_METADATA_NAME = 0
_METADATA_BUFFER = 1
_BUFFER_DATA = 0
_BUFFER_OFFSET = 1
_BUFFER_SIZE = 2


# ---------------------------------------------------------------- reading (stdlib)
class FlatReader:
    """Bounds-checked reads of flatbuffer tables: a corrupt file raises, never crashes."""

    def __init__(self, buf: bytes, where: str):
        self.buf = buf
        self.where = where

    def unpack(self, fmt: str, pos: int) -> int:
        if pos < 0 or pos + struct.calcsize(fmt) > len(self.buf):
            raise ExportError(f"{self.where}: corrupt or truncated TFLite file "
                              f"(offset {pos} outside {len(self.buf)} bytes)")
        return struct.unpack_from(fmt, self.buf, pos)[0]

    def field_pos(self, table: int, slot: int) -> int | None:
        vtable = table - self.unpack("<i", table)
        vt_size = self.unpack("<H", vtable)
        entry = 4 + 2 * slot
        if entry >= vt_size:
            return None
        off = self.unpack("<H", vtable + entry)
        return table + off if off else None

    def scalar(self, table: int, slot: int, fmt: str, default: int = 0) -> int:
        pos = self.field_pos(table, slot)
        return default if pos is None else self.unpack(fmt, pos)

    def indirect(self, table: int, slot: int) -> int | None:
        pos = self.field_pos(table, slot)
        return None if pos is None else pos + self.unpack("<I", pos)

    def vector(self, table: int, slot: int) -> tuple[int, int]:
        """(start of elements, length) of a vector field; (0, 0) if absent."""
        pos = self.indirect(table, slot)
        if pos is None:
            return 0, 0
        length = self.unpack("<I", pos)
        return pos + 4, length

    def table_at(self, elem_pos: int) -> int:
        return elem_pos + self.unpack("<I", elem_pos)

    def bytes_at(self, start: int, length: int) -> bytes:
        if start < 0 or start + length > len(self.buf):
            raise ExportError(f"{self.where}: corrupt or truncated TFLite file "
                              f"(data [{start}, {start + length}) outside {len(self.buf)} bytes)")
        return bytes(self.buf[start:start + length])

    def string(self, table: int, slot: int) -> str | None:
        start, length = self.vector(table, slot)
        return None if not start else self.bytes_at(start, length).decode("utf-8", "replace")


def _load(path_or_bytes: "str | os.PathLike | bytes | bytearray") -> tuple[bytes, str]:
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        return bytes(path_or_bytes), "<bytes>"
    path = Path(path_or_bytes)
    try:
        return path.read_bytes(), str(path)
    except OSError as exc:
        raise ExportError(f"{path}: cannot read ({exc.strerror or exc})") from None


def read_metadata(path_or_bytes: "str | os.PathLike | bytes | bytearray") -> dict | None:
    """The embedded edgecv metadata dict, or None when the file has none.

    Raises ExportError when the input is not a readable TFLite flatbuffer."""
    buf, where = _load(path_or_bytes)
    raw = read_entry(buf, METADATA_NAME, where=where)
    if raw is None:
        return None
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExportError(f"{where}: {METADATA_NAME} is not valid JSON ({exc})") from None


def read_entry(path_or_bytes: "str | os.PathLike | bytes | bytearray", name: str, *,
               where: "str | None" = None) -> "bytes | None":
    """The bytes of the `Model.metadata` entry called `name` (its buffer), or None."""
    buf, loaded_from = _load(path_or_bytes)
    where = where or loaded_from
    if len(buf) < 8 or buf[4:8] != TFLITE_IDENTIFIER:
        raise ExportError(f"{where}: not a TFLite file (identifier {bytes(buf[4:8])!r}, "
                          f"expected {TFLITE_IDENTIFIER!r})")
    r = FlatReader(buf, where)
    model = r.unpack("<I", 0)
    meta_start, meta_len = r.vector(model, _MODEL_METADATA)
    buffers_start, buffers_len = r.vector(model, _MODEL_BUFFERS)
    for i in range(meta_len):
        entry = r.table_at(meta_start + 4 * i)
        if r.string(entry, _METADATA_NAME) != name:
            continue
        index = r.scalar(entry, _METADATA_BUFFER, "<I")
        if index >= buffers_len:
            raise ExportError(f"{where}: corrupt TFLite file (metadata buffer {index} "
                              f"of {buffers_len})")
        buffer = r.table_at(buffers_start + 4 * index)
        data_start, data_len = r.vector(buffer, _BUFFER_DATA)
        if data_start:
            return r.bytes_at(data_start, data_len)
        # >2 GB models keep buffers after the flatbuffer, by offset/size
        return r.bytes_at(r.scalar(buffer, _BUFFER_OFFSET, "<Q"),
                          r.scalar(buffer, _BUFFER_SIZE, "<Q"))
    return None


def sidecar_path(tflite_path: "str | os.PathLike") -> Path:
    """`model_int8.tflite` -> `model_int8.json`."""
    return Path(tflite_path).with_suffix(".json")


# ---------------------------------------------------------------- building
# The keys `run_metadata` writes for every file of one export, and the per-file facts
# `tflite.export_model` adds; whatever else a file carries is the task's own part.
RUN_KEYS = ("schema", "edgecv_version", "task", "labels", "normalization", "output_layout",
            "resize", "input_shape", "model", "recipe_hash", "about")
FILE_KEYS = ("format", "quantized_from", "inputs", "outputs")


def run_metadata(*, recipe: Any = None, task: Any = None, labels: "list[str] | None" = None,
                 model: Any = None, task_metadata: "dict | None" = None) -> dict:
    """The metadata every file of one export carries: the recipe's facts plus the task's
    own part (`task.export_metadata()`: detection anchors and strides; or
    `task_metadata` when already known, e.g. read back from an earlier export of the run).
    Without a recipe: the task and labels given (`edgecv export MODEL --task --labels`), else
    task "unknown", and the Keras model's input shape."""
    if recipe is None:
        shape = list(model.input_shape[1:]) if model is not None else None
        meta = build_metadata(task=getattr(task, "name", None) or "unknown", labels=labels,
                              input_shape=shape)
        meta.update(task_part_of(task) if task_metadata is None else task_metadata)
        return meta
    meta = build_metadata(task=recipe.task, labels=labels, recipe=recipe,
                          input_shape=list(recipe.model.input_shape), model=recipe.model.arch,
                          resize=recipe.data.resize)
    meta.update(task_metadata if task_metadata is not None else task_part_of(task))
    about = recipe.export.about()
    if about:   # recipe export.author / version / license: the standard metadata's fields
        meta["about"] = about
    return meta


def task_part_of(task: Any) -> dict:
    """`task.export_metadata()` (a Task's default is {}), or {} without a task."""
    return {} if task is None else dict(task.export_metadata())


def recorded_task_part(meta: dict) -> dict:
    """The task's part of a file's metadata: everything but RUN_KEYS and FILE_KEYS."""
    return {k: v for k, v in meta.items() if k not in RUN_KEYS and k not in FILE_KEYS}


def build_metadata(*, task: str, labels: "list[str] | None" = None,
                   output_layout: "str | None" = None, anchors: Any = None,
                   strides: Any = None, recipe: Any = None,
                   mean: "float | None" = None, std: "float | None" = None,
                   resize: "str | None" = None, **extra: Any) -> dict:
    """The caller-supplied part of the metadata; export adds format and tensor facts.
    `recipe` is an edgecv Recipe (its `digest()` becomes `recipe_hash`)."""
    from edgecv.version import __version__
    from edgecv.data import normalize

    meta: dict[str, Any] = {
        "schema": SCHEMA,
        "edgecv_version": __version__,
        "task": task,
        "labels": list(labels) if labels is not None else None,
        "normalization": {"mean": normalize.MEAN if mean is None else float(mean),
                          "std": normalize.STD if std is None else float(std)},
        "output_layout": output_layout or _default_layout(task),
        # How to bring a camera frame to input_shape: "stretch" each axis, or "letterbox"
        # (one scale factor, centred, padded with grey 128); None = not known (no recipe).
        "resize": resize,
    }
    if anchors is not None:
        meta["anchors"] = anchors
    if strides is not None:
        meta["strides"] = strides
    if recipe is not None:  # one hash: the recipe's own (edgecv.recipe.Recipe.digest)
        meta["recipe_hash"] = recipe.digest()
    meta.update(extra)
    return meta


def complete_metadata(meta: "dict | None") -> dict:
    """A caller's metadata dict with the keys every edgecv file carries filled in."""
    base = build_metadata(task=(meta or {}).get("task") or "unknown")
    out = dict(meta or {})
    for key, value in base.items():
        if out.get(key) is None:
            out[key] = value
    return out


def _default_layout(task: str) -> "str | None":
    from edgecv.tasks.table import TASKS

    return TASKS.get(task).output_layout if task in TASKS else None


# ---------------------------------------------------------------- writing
def schema_module():
    """The generated TFLite flatbuffer schema: LiteRT's copy, else TensorFlow's."""
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:
        try:
            from tensorflow.lite.python import schema_py_generated as schema
        except ImportError:
            raise ExportError("writing TFLite metadata needs ai-edge-litert or tensorflow "
                              "(pip install ai-edge-litert)") from None
    return schema


def embed_metadata(model_bytes: bytes, meta: dict) -> bytes:
    """Return `model_bytes` with `meta` as JSON in the "edgecv_metadata" entry
    (replacing an earlier one)."""
    return embed_entry(model_bytes, METADATA_NAME,
                       json.dumps(meta, default=_jsonable).encode("utf-8"))


def embed_entry(model_bytes: bytes, name: str, payload: bytes, *,
                files: "dict[str, bytes] | None" = None) -> bytes:
    """Return `model_bytes` with `payload` in the `Model.metadata` entry called `name`
    (replacing an earlier one). Rebuilding the flatbuffer would drop the zip of associated
    files packed after it (labels.txt), so that zip is packed again: the same files, or
    `files` instead when given (the standard metadata owns them)."""
    import flatbuffers
    import numpy as np

    schema = schema_module()
    packed = packed_files(model_bytes) if files is None else files
    model = schema.ModelT.InitFromPackedBuf(bytearray(model_bytes), 0)
    if any(b.offset for b in (model.buffers or [])):
        raise ExportError("embedding metadata in >2 GB TFLite files (external buffers) "
                          "is not supported")
    data = np.frombuffer(payload, np.uint8)
    model.buffers = list(model.buffers or [])
    model.metadata = list(model.metadata or [])
    entry = next((m for m in model.metadata if _name(m.name) == name), None)
    if entry is None:
        model.buffers.append(schema.BufferT())
        entry = schema.MetadataT()
        entry.name = name
        entry.buffer = len(model.buffers) - 1
        model.metadata.append(entry)
    model.buffers[entry.buffer].data = data
    builder = flatbuffers.Builder(len(model_bytes) + len(data) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=TFLITE_IDENTIFIER)
    return pack_files(bytes(builder.Output()), packed)


def packed_files(model_bytes: bytes) -> "dict[str, bytes]":
    """The associated files zipped after the flatbuffer ({} when there are none)."""
    import io
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(model_bytes)) as archive:
            return {info.filename: archive.read(info) for info in archive.infolist()}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        return {}


def pack_files(model_bytes: bytes, files: "dict[str, bytes]") -> bytes:
    """`model_bytes` (a bare flatbuffer) with `files` appended as an uncompressed zip whose
    offsets count from byte 0, as the TFLite metadata populator writes it and MediaPipe's
    ModelMetadataExtractor reads it."""
    import io
    import zipfile

    if not files:
        return model_bytes
    stream = io.BytesIO(model_bytes)
    stream.seek(0, io.SEEK_END)
    # Mode "a" on bytes that are not a zip appends one after them.
    with zipfile.ZipFile(stream, "a", compression=zipfile.ZIP_STORED) as archive:
        for file_name, content in files.items():
            archive.writestr(zipfile.ZipInfo(file_name, date_time=(1980, 1, 1, 0, 0, 0)), content)
    return stream.getvalue()


def _name(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"metadata value not JSON serialisable: {type(value).__name__}")
