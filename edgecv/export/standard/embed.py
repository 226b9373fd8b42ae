"""Put the standard metadata into a .tflite file and read it back.

The ModelMetadata flatbuffer goes into the `Model.metadata` entry "TFLITE_METADATA"
(after edgecv's own entry: writing an entry rebuilds the flatbuffer, which would drop
the zip); the associated files are then appended as an uncompressed zip whose offsets
count from the start of the file, as the TFLite metadata populator writes it and
MediaPipe's ModelMetadataExtractor reads it.
"""
from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

from edgecv.errors import ExportError
from edgecv.export.metadata import embed_entry, read_entry
from edgecv.export.standard import codec
from edgecv.export.standard.schema import ENTRY_NAME


def embed_standard(model_bytes: bytes, model_metadata: dict, files: dict[str, bytes]) -> bytes:
    """`model_bytes` (without a packed zip) with the metadata entry and the files."""
    data = embed_entry(model_bytes, ENTRY_NAME, codec.encode("ModelMetadata", model_metadata))
    if not files:
        return data
    stream = io.BytesIO(data)
    stream.seek(0, io.SEEK_END)
    # Mode "a" on bytes that are not a zip appends one after them, offsets from byte 0.
    with zipfile.ZipFile(stream, "a", compression=zipfile.ZIP_STORED) as archive:
        for name, content in files.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), content)
    return stream.getvalue()


def read_standard(path_or_bytes: "str | os.PathLike | bytes", *,
                  where: "str | None" = None) -> "dict | None":
    """{"metadata": ModelMetadata dict, "files": {name: bytes}} or None without the entry."""
    raw = read_entry(path_or_bytes, ENTRY_NAME, where=where)
    if raw is None:
        return None
    data = bytes(path_or_bytes) if isinstance(path_or_bytes, (bytes, bytearray)) else \
        Path(path_or_bytes).read_bytes()
    where = where or ("<bytes>" if isinstance(path_or_bytes, (bytes, bytearray)) else str(path_or_bytes))
    metadata = codec.decode(raw, where=f"{where}: {ENTRY_NAME}")
    files = {}
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            files = {info.filename: archive.read(info) for info in archive.infolist()}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        pass   # none packed, or a damaged zip: the check below names what is missing
    missing = sorted(set(associated_file_names(metadata)) - set(files))
    if missing:
        raise ExportError(f"{where}: corrupt or truncated TFLite file (packed associated "
                          f"file {', '.join(missing)} missing)")
    return {"metadata": metadata, "files": files}


def associated_file_names(table: object) -> list[str]:
    """Every AssociatedFile name the metadata refers to, at any depth."""
    names: list[str] = []
    if isinstance(table, dict):
        for key, value in table.items():
            if key == "associated_files":
                names += [f["name"] for f in value if "name" in f]
            else:
                names += associated_file_names(value)
    elif isinstance(table, (list, tuple)):
        for value in table:
            names += associated_file_names(value)
    return names
