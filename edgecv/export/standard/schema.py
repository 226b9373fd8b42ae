"""The tables of the published TFLite metadata schema (metadata_schema.fbs, version
1.5.0, file identifier "M001"), transcribed field by field: a field's slot is its
position in the table's list, exactly as flatc numbers them (flatbuffers only append
fields, so these slots never change). A union takes two slots, its type then its value.

Field kinds: "string", "int8" (enums), "uint32", "int32", "float32", a table name, or a
one-element list of one of those for a vector. Unions name their member tables by type
number.
"""
from __future__ import annotations

FILE_IDENTIFIER = b"M001"
ENTRY_NAME = "TFLITE_METADATA"      # the Model.metadata entry MediaPipe looks for

UNIONS: dict[str, dict[int, str]] = {
    "ContentProperties": {1: "FeatureProperties", 2: "ImageProperties",
                          3: "BoundingBoxProperties", 4: "AudioProperties"},
    "ProcessUnitOptions": {1: "NormalizationOptions", 2: "ScoreCalibrationOptions",
                           3: "ScoreThresholdingOptions", 4: "BertTokenizerOptions",
                           5: "SentencePieceTokenizerOptions", 6: "RegexTokenizerOptions"},
}

TABLES: dict[str, list[tuple[str, object]]] = {
    "AssociatedFile": [("name", "string"), ("description", "string"), ("type", "int8"),
                       ("locale", "string"), ("version", "string")],
    "FeatureProperties": [],
    "ImageSize": [("width", "uint32"), ("height", "uint32")],
    "ImageProperties": [("color_space", "int8"), ("default_size", "ImageSize")],
    "BoundingBoxProperties": [("index", ["uint32"]), ("type", "int8"),
                              ("coordinate_type", "int8")],
    "AudioProperties": [("sample_rate", "uint32"), ("channels", "uint32")],
    "ValueRange": [("min", "int32"), ("max", "int32")],
    "Content": [("content_properties", ("union", "ContentProperties")),
                ("range", "ValueRange")],
    "NormalizationOptions": [("mean", ["float32"]), ("std", ["float32"])],
    "ScoreCalibrationOptions": [("score_transformation", "int8"),
                                ("default_score", "float32")],
    "ScoreThresholdingOptions": [("global_score_threshold", "float32")],
    "ProcessUnit": [("options", ("union", "ProcessUnitOptions"))],
    "Stats": [("max", ["float32"]), ("min", ["float32"])],
    "TensorGroup": [("name", "string"), ("tensor_names", ["string"])],
    "TensorMetadata": [("name", "string"), ("description", "string"),
                       ("dimension_names", ["string"]), ("content", "Content"),
                       ("process_units", ["ProcessUnit"]), ("stats", "Stats"),
                       ("associated_files", ["AssociatedFile"])],
    "SubGraphMetadata": [("name", "string"), ("description", "string"),
                         ("input_tensor_metadata", ["TensorMetadata"]),
                         ("output_tensor_metadata", ["TensorMetadata"]),
                         ("associated_files", ["AssociatedFile"]),
                         ("input_process_units", ["ProcessUnit"]),
                         ("output_process_units", ["ProcessUnit"]),
                         ("input_tensor_groups", ["TensorGroup"]),
                         ("output_tensor_groups", ["TensorGroup"])],
    "ModelMetadata": [("name", "string"), ("description", "string"), ("version", "string"),
                      ("subgraph_metadata", ["SubGraphMetadata"]), ("author", "string"),
                      ("license", "string"), ("associated_files", ["AssociatedFile"]),
                      ("min_parser_version", "string")],
}
# Tables the union members and not-yet-needed tokenizer options point at are left out:
# edgecv never writes them, and the reader shows an unknown member by its type number.

# Enums (byte-sized in the schema).
class AssociatedFileType:
    UNKNOWN, DESCRIPTIONS, TENSOR_AXIS_LABELS, TENSOR_VALUE_LABELS = 0, 1, 2, 3


class ColorSpaceType:
    UNKNOWN, RGB, GRAYSCALE = 0, 1, 2


class BoundingBoxType:
    UNKNOWN, BOUNDARIES, UPPER_LEFT, CENTER = 0, 1, 2, 3


class CoordinateType:
    RATIO, PIXEL = 0, 1


def slots(table: str) -> list[tuple[str, object, int]]:
    """(field, kind, first slot) of a table; a union's value slot is first slot + 1."""
    out, slot = [], 0
    for name, kind in TABLES[table]:
        out.append((name, kind, slot))
        slot += 2 if isinstance(kind, tuple) else 1
    return out


def enum_name(enum: type, value: int) -> str:
    names = {v: k for k, v in vars(enum).items() if k.isupper() and isinstance(v, int)}
    return names.get(value, str(value))
