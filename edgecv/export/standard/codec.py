"""Write and read the metadata schema's tables (schema.TABLES) as plain dicts.

Why by hand: the generated Python bindings live in tflite-support (archived, pins
protobuf < 4) and MediaPipe (its writers are broken in current releases); the schema is
small and stable, so one generic walk over `schema.TABLES` writes and reads every table
with the `flatbuffers` Builder and edgecv's bounds-checked reader. A table is a dict of
its fields (absent = not written); a union field is `(member table name, dict)`.
"""
from __future__ import annotations

from typing import Any

from edgecv.errors import ExportError
from edgecv.export.metadata import FlatReader
from edgecv.export.standard.schema import FILE_IDENTIFIER, TABLES, UNIONS, slots

# kind -> (Builder.Prepend<X>Slot suffix, struct format, size in bytes)
_SCALARS = {"int8": ("Int8", "<b", 1), "uint8": ("Uint8", "<B", 1),
            "uint32": ("Uint32", "<I", 4), "int32": ("Int32", "<i", 4),
            "float32": ("Float32", "<f", 4)}


def encode(table: str, values: dict) -> bytes:
    """One root table as a finished flatbuffer with the schema's file identifier."""
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    builder.Finish(_write_table(builder, table, values), file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())


def decode(buf: bytes, table: str = "ModelMetadata", where: str = "TFLITE_METADATA") -> dict:
    """The root table of a finished flatbuffer as a dict (ExportError when it is corrupt)."""
    if len(buf) < 8 or bytes(buf[4:8]) != FILE_IDENTIFIER:
        raise ExportError(f"{where}: not a TFLite metadata flatbuffer (identifier "
                          f"{bytes(buf[4:8])!r}, expected {FILE_IDENTIFIER!r})")
    reader = FlatReader(bytes(buf), where)
    return _read_table(reader, reader.unpack("<I", 0), table)


# ---------------------------------------------------------------- writing
def _write_table(builder, table: str, values: dict) -> int:
    unknown = set(values) - {name for name, _ in TABLES[table]}
    if unknown:
        raise ExportError(f"metadata table {table} has no field {sorted(unknown)[0]!r}")
    fields = []   # (slot, kind, value): children are written before the table starts
    for name, kind, slot in slots(table):
        value = values.get(name)
        if value is None:
            continue
        if isinstance(kind, tuple):                     # union: type slot, then value slot
            member, member_values = value
            type_id = next(t for t, n in UNIONS[kind[1]].items() if n == member)
            fields.append((slot, "uint8", type_id))
            fields.append((slot + 1, "offset", _write_table(builder, member, member_values)))
        elif isinstance(kind, list):
            fields.append((slot, "offset", _write_vector(builder, kind[0], value)))
        elif kind == "string":
            fields.append((slot, "offset", builder.CreateString(str(value))))
        elif kind in TABLES:
            fields.append((slot, "offset", _write_table(builder, kind, value)))
        else:
            fields.append((slot, kind, value))
    builder.StartObject(sum(2 if isinstance(k, tuple) else 1 for _, k in TABLES[table]))
    for slot, kind, value in fields:
        if kind == "offset":
            builder.PrependUOffsetTRelativeSlot(slot, value, 0)
        else:
            getattr(builder, f"Prepend{_SCALARS[kind][0]}Slot")(slot, value, 0)
    return builder.EndObject()


def _write_vector(builder, kind: str, items: list) -> int:
    if kind in _SCALARS:
        size = _SCALARS[kind][2]
        builder.StartVector(size, len(items), size)
        for item in reversed(items):
            getattr(builder, f"Prepend{_SCALARS[kind][0]}")(item)
        return builder.EndVector()
    offsets = [builder.CreateString(str(i)) if kind == "string" else
               _write_table(builder, kind, i) for i in items]
    builder.StartVector(4, len(offsets), 4)
    for offset in reversed(offsets):
        builder.PrependUOffsetTRelative(offset)
    return builder.EndVector()


# ---------------------------------------------------------------- reading
def _read_table(r: FlatReader, pos: int, table: str) -> dict:
    out: dict[str, Any] = {}
    for name, kind, slot in slots(table):
        if isinstance(kind, tuple):
            type_id = r.scalar(pos, slot, "<B")
            target = r.indirect(pos, slot + 1)
            if type_id and target is not None:
                member = UNIONS[kind[1]].get(type_id, f"type {type_id}")
                out[name] = (member, _read_table(r, target, member) if member in TABLES else {})
        elif isinstance(kind, list):
            start, length = r.vector(pos, slot)
            if start:
                out[name] = [_read_item(r, start, i, kind[0]) for i in range(length)]
        elif kind == "string":
            text = r.string(pos, slot)
            if text is not None:
                out[name] = text
        elif kind in TABLES:
            target = r.indirect(pos, slot)
            if target is not None:
                out[name] = _read_table(r, target, kind)
        elif r.field_pos(pos, slot) is not None:
            out[name] = r.scalar(pos, slot, _SCALARS[kind][1])
    return out


def _read_item(r: FlatReader, start: int, index: int, kind: str) -> Any:
    if kind in _SCALARS:
        _, fmt, size = _SCALARS[kind]
        return r.unpack(fmt, start + index * size)
    target = r.table_at(start + 4 * index)
    if kind == "string":
        length = r.unpack("<I", target)
        return r.bytes_at(target + 4, length).decode("utf-8", "replace")
    return _read_table(r, target, kind)
