"""`edgecv info`'s facts about one .tflite file: the flatbuffer's tensors and ops, its
edgecv metadata, the standard TFLite metadata and the static Edge TPU verdict (kept apart from flatbuffer.py, which the
Edge TPU check itself reads, so neither imports the other both ways)."""
from __future__ import annotations

import os

from edgecv.export.edgetpu import check_operators
from edgecv.export.flatbuffer import describe, load_model_object, text_of
from edgecv.export.metadata import read_metadata
from edgecv.export.standard.embed import read_standard


def inspect_tflite(path: "str | os.PathLike | bytes", *, edgetpu: bool = True) -> dict:
    """Verify a .tflite file, then report size, I/O, op table, float ops, metadata
    and (by default) the static Edge TPU verdict."""
    model, buf, where = load_model_object(path)
    info = {"path": where, "size_bytes": len(buf),
            "description": text_of(model.description)}
    info.update(describe(model, buf))
    info["metadata"] = read_metadata(buf)
    info["standard_metadata"] = read_standard(buf, where=where)
    if edgetpu:
        info["edgetpu"] = check_operators(info)
    return info
