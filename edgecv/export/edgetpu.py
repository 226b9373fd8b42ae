"""Edge TPU readiness: a static check of an int8 TFLite file against Coral's
documented rules, and the real `edgetpu_compiler` when it is installed.

Rules follow "TensorFlow models on the Edge TPU" (coral.ai/docs/edgetpu/models-intro):
tensors fully 8-bit quantized, static shapes, tensors with at most 3 innermost
dimensions larger than 1, and only the operators in its supported-operations table,
each with its listed limitation. The static check is a prediction; the compiler's
log (parsed below when it ran) is the authority.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Callable

INTEGER_TYPES = {"int8", "uint8"}
# Constant side inputs (bias, shapes, axes, paddings) may be int32.
CONSTANT_TYPES = INTEGER_TYPES | {"int32", "int64"}
SOFTMAX_MAX_ELEMENTS = 16000
EDGETPU_CUSTOM_OP = "edgetpu-custom-op"  # what edgetpu_compiler replaces mapped ops with


def _no_fused_activation(op: dict) -> str | None:
    act = op["options"].get("fusedActivationFunction", "NONE")
    return None if act == "NONE" else f"fused activation {act} is not supported on this op"


def _equal_dilation(op: dict) -> str | None:
    o = op["options"]
    h, w = o.get("dilationHFactor", 1), o.get("dilationWFactor", 1)
    return None if h == w else f"dilation must be equal in x and y (got h={h}, w={w})"


def _fc_default_weights(op: dict) -> str | None:
    fmt = op["options"].get("weightsFormat", 0)
    return None if fmt == 0 else "only the default fully-connected weights format is supported"


def _spatial_axes_only(label: str) -> Callable[[dict], "str | None"]:
    def rule(op: dict) -> str | None:
        if len(op["inputs"]) < 2 or "values" not in op["inputs"][1]:
            return f"{label} axes are not a small compile-time constant"
        rank = len(op["inputs"][0]["shape"])
        axes = {a % rank for a in _flat(op["inputs"][1]["values"])} if rank else set()
        return None if axes <= {1, 2} and rank == 4 else \
            f"{label} only along x/y (axes 1, 2 of a 4-D tensor); got axes {sorted(axes)}"
    return rule


def _pad_spatial_only(op: dict) -> str | None:
    if len(op["inputs"]) < 2 or "values" not in op["inputs"][1]:
        return "paddings are not a small compile-time constant"
    pads = op["inputs"][1]["values"]
    if len(pads) != 4 or any(pads[0]) or any(pads[3]):
        return f"padding only along x/y is supported; got paddings {pads}"
    return None


def _softmax_1d(op: dict) -> str | None:
    shape = op["inputs"][0]["shape"]
    big = [d for d in shape if d > 1]
    n = 1
    for d in big:
        n *= d
    if len(big) > 1 or n > SOFTMAX_MAX_ELEMENTS:
        return (f"softmax needs a 1-D input of at most {SOFTMAX_MAX_ELEMENTS} elements; "
                f"got shape {shape}")
    return None


def _strided_slice_unit(op: dict) -> str | None:
    o = op["options"]
    strides = op["inputs"][3].get("values") if len(op["inputs"]) > 3 else None
    if strides is None or any(s != 1 for s in _flat(strides)):
        return f"all strides must be 1 (got {strides})"
    if o.get("ellipsisMask", 0) or o.get("newAxisMask", 0):
        return "ellipsis and new-axis masks must be 0"
    return None


def _flat(values) -> list:
    if isinstance(values, list):
        return [x for v in values for x in _flat(v)]
    return [values]


# TFLite builtin op -> extra rule (None: no documented limitation beyond the generic ones).
SUPPORTED_OPS: dict[str, "Callable[[dict], str | None] | None"] = {
    "ADD": None, "SUB": None, "MUL": None, "MAXIMUM": None, "MINIMUM": None,
    "SQUARED_DIFFERENCE": None, "RSQRT": None,
    "LOGISTIC": None, "TANH": None, "RELU": None, "RELU6": None, "RELU_N1_TO_1": None,
    "PRELU": None,
    "AVERAGE_POOL_2D": _no_fused_activation, "MAX_POOL_2D": _no_fused_activation,
    "CONCATENATION": _no_fused_activation,
    "CONV_2D": _equal_dilation, "DEPTHWISE_CONV_2D": _equal_dilation,
    "TRANSPOSE_CONV": None,
    "FULLY_CONNECTED": _fc_default_weights,
    "L2_NORMALIZATION": None,
    "MEAN": _spatial_axes_only("mean"), "SUM": _spatial_axes_only("sum"),
    "REDUCE_MAX": _spatial_axes_only("reduce-max"), "REDUCE_MIN": _spatial_axes_only("reduce-min"),
    "PAD": _pad_spatial_only,
    "RESHAPE": None, "SQUEEZE": None, "EXPAND_DIMS": None, "TRANSPOSE": None,
    "PACK": None, "SPLIT": None, "SLICE": None, "STRIDED_SLICE": _strided_slice_unit,
    "SPACE_TO_DEPTH": None,
    "RESIZE_BILINEAR": None, "RESIZE_NEAREST_NEIGHBOR": None,
    "SOFTMAX": _softmax_1d,
    "QUANTIZE": None,
    "UNIDIRECTIONAL_SEQUENCE_LSTM": None,
}


# Common unsupported ops and the supported equivalent (Coral issues #165, #272, #597).
REPLACEMENT_HINTS = {
    "LEAKY_RELU": "build the model with ReLU/ReLU6 or PReLU instead",
    "HARD_SWISH": "build the model with ReLU6 instead",
    "DEQUANTIZE": "float I/O: export with io_type uint8 or int8",
}


def op_problems(op: dict) -> list[str]:
    """Every documented rule `op` (an operator dict from inspect.describe) breaks."""
    problems = []
    if op["op"] not in SUPPORTED_OPS:
        hint = REPLACEMENT_HINTS.get(op["op"], "")
        problems.append(f"{op['op']} is not in the Edge TPU's supported operations"
                        + (f" ({hint})" if hint else ""))
    bad_types: dict[str, list[str]] = {}
    for t in op["inputs"] + op["outputs"]:
        allowed = CONSTANT_TYPES if t.get("constant") else INTEGER_TYPES
        if t["dtype"] not in allowed:
            bad_types.setdefault(t["dtype"], []).append(t["name"])
    for dtype, names in bad_types.items():
        problems.append(f"{dtype} tensors ({_names(names)}); the Edge TPU needs int8 throughout")
    for t in op["inputs"] + op["outputs"]:
        # A dynamic batch is reported once for the whole model (check_operators).
        if any(d < 0 for d in t["shape_signature"][1:]):
            problems.append(f"tensor {t['name']!r} has a dynamic shape {t['shape_signature']}")
        if not t.get("constant") and len(t["shape"]) > 3 and any(d > 1 for d in t["shape"][:-3]):
            problems.append(f"tensor {t['name']!r} shape {t['shape']} has more than 3 "
                            "innermost dimensions larger than 1")
    rule = SUPPORTED_OPS.get(op["op"])
    if rule is not None and not problems:
        reason = rule(op)
        if reason:
            problems.append(reason)
    return list(dict.fromkeys(problems))


def _names(names: list[str], limit: int = 2) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def check_operators(info: dict) -> dict:
    """Static verdict from an `flatbuffer.describe` dict: which ops can map to the TPU.

    The compiler maps a single contiguous graph prefix: everything after the first
    unmappable op runs on the CPU, so `expected_on_tpu` counts ops before it."""
    ops = info["operators"]
    compiled = [op for op in ops if op["op"] == f"CUSTOM:{EDGETPU_CUSTOM_OP}"]
    if compiled:  # already the compiler's output: report its split instead of rules
        cpu = [op for op in ops if op not in compiled]
        return {"compiled": True, "mappable": None, "total": len(ops), "unmappable": [],
                "model_problems": [], "ready": True,
                "verdict": f"compiled for the Edge TPU: {len(compiled)} {EDGETPU_CUSTOM_OP}(s), "
                           f"{len(cpu)} op(s) left on the CPU"
                           + (f" ({', '.join(sorted({op['op'] for op in cpu}))})" if cpu else "")}
    unmappable = []
    for op in ops:
        problems = op_problems(op)
        if problems:
            unmappable.append({"index": op["index"], "op": op["op"], "reasons": problems})
    first = unmappable[0]["index"] if unmappable else len(ops)
    total = len(ops)
    mappable = total - len(unmappable)
    model_problems = [
        f"input {t['name']!r} has a dynamic batch {t['shape_signature']}: edgetpu_compiler "
        "refuses dynamic-sized tensors (the edgetpu format exports a static batch of 1)"
        for t in info["inputs"] if t["shape_signature"][:1] and t["shape_signature"][0] < 0]
    verdict = f"{mappable} of {total} ops mappable to the Edge TPU"
    if unmappable:
        verdict += (f"; the first unmappable op is #{first} {ops[first]['op']}, "
                    f"so about {first} op(s) would run on the TPU and the rest on the CPU")
    if model_problems:
        verdict += "; not compilable as is: dynamic batch dimension"
    if not info.get("integer", True):
        verdict = (f"0 of {total} ops mappable to the Edge TPU: a float model (the Edge TPU "
                   "runs only full-int8 models; export with --format edgetpu)")
    return {"mappable": mappable, "total": total, "expected_on_tpu": first,
            "unmappable": unmappable, "model_problems": model_problems, "verdict": verdict,
            "ready": not unmappable and not model_problems}


def edgetpu_report(model_bytes: bytes) -> dict:
    """Static check of an int8 TFLite model held in memory."""
    from edgecv.export.flatbuffer import describe, load_model_object

    model, buf, _ = load_model_object(model_bytes)
    return check_operators(describe(model, buf))


# ---------------------------------------------------------------- the real compiler
COMPILER = "edgetpu_compiler"
_LOG_FIELDS = {
    "on_chip_memory_used": r"On-chip memory used for caching model parameters:\s*(\S+)",
    "on_chip_memory_remaining": r"On-chip memory remaining for caching model parameters:\s*(\S+)",
    "off_chip_memory_used": r"Off-chip memory used for streaming uncached model parameters:\s*(\S+)",
    "subgraphs": r"Number of Edge TPU subgraphs:\s*(\d+)",
    "total_ops": r"Total number of operations:\s*(\d+)",
    "ops_on_tpu": r"Number of operations that will run on Edge TPU:\s*(\d+)",
    "ops_on_cpu": r"Number of operations that will run on CPU:\s*(\d+)",
    "compiler_version": r"Edge TPU Compiler version\s*(\S+)",
}
_OP_ROW = re.compile(r"^(\w+)\s+(\d+)\s+(\S.*?)\s*$")


def parse_compiler_log(text: str) -> dict:
    """Pull the numbers out of edgetpu_compiler's stdout (run with -s)."""
    out: dict = {}
    for key, pattern in _LOG_FIELDS.items():
        m = re.search(pattern, text)
        if m:
            value = m.group(1)
            out[key] = int(value) if value.isdigit() else value
    if "ops_on_tpu" not in out and "total_ops" in out and "successfully compiled" in text.lower() \
            and "not all operations" not in text:
        out["ops_on_tpu"], out["ops_on_cpu"] = out["total_ops"], 0
    rows = []
    in_table = False
    for line in text.splitlines():
        if re.match(r"^\s*Operator\s+Count\s+Status", line):
            in_table = True
            continue
        if in_table:
            m = _OP_ROW.match(line.strip())
            if m:
                rows.append({"op": m.group(1), "count": int(m.group(2)), "status": m.group(3)})
    if rows:
        out["operators"] = rows
    return out


def compile_edgetpu(model_bytes: bytes, name: str, *, timeout: int = 600) -> dict:
    """Run edgetpu_compiler when it is on PATH; say plainly when it is not.

    Returns a dict with `ran`, `summary` and, after a successful compile, the parsed
    log fields and `model` (the compiled bytes)."""
    exe = shutil.which(COMPILER)
    if exe is None:
        return {"ran": False,
                "summary": f"{COMPILER} not on PATH: compile skipped; the file is the Edge "
                           "TPU-ready int8 model, compile it where the Coral compiler is "
                           "installed (Debian x86-64 only)"}
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / Path(name).name
        src.write_bytes(model_bytes)
        proc = subprocess.run([exe, "-s", "-o", tmp, str(src)], capture_output=True,
                              text=True, timeout=timeout)
        log = proc.stdout + proc.stderr
        compiled = Path(tmp) / f"{src.stem}_edgetpu.tflite"
        if proc.returncode != 0 or not compiled.exists():
            last = next((l for l in reversed(log.splitlines()) if l.strip()), "no output")
            return {"ran": True, "ok": False, "log": log,
                    "summary": f"{COMPILER} failed (exit {proc.returncode}): {last}"}
        parsed = parse_compiler_log(log)
        summary = (f"{COMPILER}: {parsed.get('ops_on_tpu', '?')} of "
                   f"{parsed.get('total_ops', '?')} ops on the Edge TPU, "
                   f"{parsed.get('subgraphs', '?')} subgraph(s), "
                   f"{parsed.get('on_chip_memory_used', '?')} on-chip memory")
        return dict(parsed, ran=True, ok=True, log=log, summary=summary,
                    model=compiled.read_bytes())
