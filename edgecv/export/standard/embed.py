"""Put the standard metadata into a .tflite file and read it back.

The ModelMetadata flatbuffer goes into the `Model.metadata` entry "TFLITE_METADATA";
its associated files are appended as an uncompressed zip whose offsets count from the
start of the file (`metadata.pack_files`), as the TFLite metadata populator writes it and
MediaPipe's ModelMetadataExtractor reads it. Writing any entry later keeps that zip.
"""
from __future__ import annotations

import os
from pathlib import Path

from edgecv.errors import ExportError
from edgecv.export.metadata import embed_entry, packed_files, read_entry
from edgecv.export.standard import codec
from edgecv.export.standard.schema import ENTRY_NAME


def embed_standard(model_bytes: bytes, model_metadata: dict, files: dict[str, bytes]) -> bytes:
    """`model_bytes` with the metadata entry and exactly `files` packed (replacing both)."""
    return embed_entry(model_bytes, ENTRY_NAME, codec.encode("ModelMetadata", model_metadata),
                       files=files)


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
    files = packed_files(data)   # none packed, or a damaged zip: the check below names what is missing
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
