"""`edgecv info`'s lines about the standard metadata (what MediaPipe will read)."""
from __future__ import annotations

from edgecv.export.standard.schema import (AssociatedFileType, BoundingBoxType,
                                           ColorSpaceType, enum_name)


def summary_lines(standard: "dict | None") -> list[str]:
    if standard is None:
        return ["standard metadata: none (MediaPipe Tasks will not load this file as a task model)"]
    meta = standard["metadata"]
    lines = [f"standard metadata (TFLITE_METADATA): {meta.get('name')!r} version "
             f"{meta.get('version')}, author {meta.get('author')}, parser >= "
             f"{meta.get('min_parser_version')}"]
    for sub in meta.get("subgraph_metadata", [])[:1]:
        for label, key in (("input", "input_tensor_metadata"), ("output", "output_tensor_metadata")):
            for tensor in sub.get(key, []):
                lines.append(f"  {label} {tensor.get('name')!r}: {_tensor_text(tensor)}")
        for group in sub.get("output_tensor_groups", []):
            lines.append(f"  output group {group.get('name')!r}: {', '.join(group.get('tensor_names', []))}")
    for name, content in sorted(standard["files"].items()):
        lines.append(f"  packed file {name}: {len(content.splitlines())} lines")
    return lines


def _tensor_text(tensor: dict) -> str:
    parts = []
    kind, props = tensor.get("content", {}).get("content_properties", ("none", {}))
    if kind == "ImageProperties":
        parts.append(f"image {enum_name(ColorSpaceType, props.get('color_space', 0))}")
    elif kind == "BoundingBoxProperties":
        parts.append(f"boxes {enum_name(BoundingBoxType, props.get('type', 0))} "
                     f"index {props.get('index', [0, 1, 2, 3])} "
                     f"{'PIXEL' if props.get('coordinate_type') else 'RATIO'}")
    elif kind == "FeatureProperties":
        parts.append("features")
    for unit in tensor.get("process_units", []):
        option, values = unit.get("options", ("", {}))
        if option == "NormalizationOptions":
            parts.append(f"normalization mean {values.get('mean')} std {values.get('std')}")
        elif option == "ScoreThresholdingOptions":
            parts.append(f"score threshold {values.get('global_score_threshold'):.3g}")
    stats = tensor.get("stats")
    if stats:
        parts.append(f"range [{stats.get('min', ['?'])[0]:g}, {stats.get('max', ['?'])[0]:g}]")
    for f in tensor.get("associated_files", []):
        parts.append(f"labels {f.get('name')} ({enum_name(AssociatedFileType, f.get('type', 0))})")
    return ", ".join(parts)
