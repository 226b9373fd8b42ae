"""Read a .tflite file's truth from its flatbuffer: tensors, quantization, operators.

The file is verified here, in pure Python, before any interpreter sees it: a
truncated, corrupt or non-TFLite file raises ExportError with one line instead of
crashing the C++ runtime.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from edgecv.errors import ExportError
from edgecv.export.metadata import TFLITE_IDENTIFIER, schema_module

FLOAT_TYPES = {"FLOAT32", "FLOAT16", "FLOAT64", "BFLOAT16"}
INTEGER_ACTIVATION_TYPES = {"INT8", "UINT8", "INT16"}
# Bytes per element for constant-data size checks (others are not checked).
_ITEM_SIZE = {"FLOAT32": 4, "FLOAT16": 2, "INT32": 4, "UINT8": 1, "INT64": 8,
              "INT16": 2, "INT8": 1, "FLOAT64": 8, "BOOL": 1, "UINT32": 4, "UINT16": 2}
# Smallest possible flatbuffer: root offset + identifier + a vtable + a table.
_MIN_SIZE = 16


def _enum_names(enum_cls) -> dict[int, str]:
    return {v: k for k, v in vars(enum_cls).items() if not k.startswith("_") and isinstance(v, int)}


def load_model_object(path_or_bytes: "str | os.PathLike | bytes") -> tuple[Any, bytes, str]:
    """Verify and unpack a TFLite flatbuffer -> (ModelT, raw bytes, display name)."""
    if isinstance(path_or_bytes, (bytes, bytearray)):
        buf, where = bytes(path_or_bytes), "<bytes>"
    else:
        path = Path(path_or_bytes)
        where = str(path)
        if not path.is_file():
            raise ExportError(f"{path}: no such file" if not path.exists()
                              else f"{path}: not a file")
        buf = path.read_bytes()
    if len(buf) < _MIN_SIZE:
        raise ExportError(f"{where}: not a TFLite file ({len(buf)} bytes, too short)")
    if buf[4:8] != TFLITE_IDENTIFIER:
        raise ExportError(f"{where}: not a TFLite file (identifier {buf[4:8]!r}, "
                          f"expected {TFLITE_IDENTIFIER!r})")
    schema = schema_module()
    try:
        model = schema.ModelT.InitFromPackedBuf(bytearray(buf), 0)
    except Exception as exc:  # the generated reader fails with struct/numpy/index errors
        raise ExportError(f"{where}: corrupt or truncated TFLite file "
                          f"({type(exc).__name__}: {exc})") from None
    _verify(model, buf, where)
    return model, buf, where


def _verify(model, buf: bytes, where: str) -> None:
    """Check every index and constant buffer is consistent, so the runtime can trust it."""
    def bad(msg: str) -> ExportError:
        return ExportError(f"{where}: corrupt TFLite file ({msg})")

    type_names = _enum_names(schema_module().TensorType)
    if model.version != 3:
        raise bad(f"schema version {model.version}, expected 3")
    buffers = model.buffers or []
    codes = model.operatorCodes or []
    if not model.subgraphs:
        raise bad("no subgraphs")
    for b in buffers:
        if b.offset and (b.offset + b.size > len(buf)):
            raise bad(f"buffer data [{b.offset}, {b.offset + b.size}) outside {len(buf)} bytes")
    for si, sg in enumerate(model.subgraphs):
        tensors = sg.tensors or []
        n = len(tensors)
        for ti, t in enumerate(tensors):
            if not 0 <= t.buffer < max(len(buffers), 1):
                raise bad(f"subgraph {si} tensor {ti} uses buffer {t.buffer} of {len(buffers)}")
            data = _buffer_data(buffers, t.buffer, buf)
            if data is not None and len(data) and t.sparsity is None:
                item = _ITEM_SIZE.get(type_names.get(t.type, ""))
                shape = [] if t.shape is None else list(t.shape)
                if item and all(d >= 0 for d in shape):
                    expected = int(np.prod(shape, dtype=np.int64)) * item
                    if expected != len(data):
                        raise bad(f"tensor {text_of(t.name)!r} holds {len(data)} bytes, "
                                  f"shape {shape} needs {expected}")
        for label, idx in (("input", sg.inputs), ("output", sg.outputs)):
            for i in ([] if idx is None else list(idx)):
                if not 0 <= i < n:
                    raise bad(f"subgraph {si} {label} tensor {i} of {n}")
        for oi, op in enumerate(sg.operators or []):
            if not 0 <= op.opcodeIndex < len(codes):
                raise bad(f"operator {oi} uses opcode {op.opcodeIndex} of {len(codes)}")
            for i in list([] if op.inputs is None else op.inputs) + \
                    list([] if op.outputs is None else op.outputs):
                if not -1 <= i < n:  # -1 marks an omitted optional input
                    raise bad(f"operator {oi} uses tensor {i} of {n}")


def _buffer_data(buffers, index: int, buf: bytes):
    if index >= len(buffers):
        return None
    b = buffers[index]
    if b.data is not None:
        return b.data
    if b.offset:
        return buf[b.offset:b.offset + b.size]
    return None


def text_of(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value or "")


def _op_name(code, op_names: dict[int, str]) -> str:
    builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
    name = op_names.get(builtin, f"BUILTIN_{builtin}")
    if name == "CUSTOM":
        return f"CUSTOM:{text_of(code.customCode)}"
    return name


def _quant(t) -> dict | None:
    q = t.quantization
    if q is None or q.scale is None or len(q.scale) == 0:
        return None
    scales = [float(s) for s in np.asarray(q.scale).ravel()]
    zeros = [int(z) for z in np.asarray(q.zeroPoint if q.zeroPoint is not None else [0]).ravel()]
    if len(scales) == 1:
        return {"scale": scales[0], "zero_point": zeros[0]}
    return {"scale": scales, "zero_point": zeros, "axis": int(q.quantizedDimension)}


def tensor_info(t, type_names: dict[int, str]) -> dict:
    shape = [] if t.shape is None else [int(d) for d in t.shape]
    sig = None if t.shapeSignature is None else [int(d) for d in t.shapeSignature]
    return {"name": text_of(t.name), "dtype": type_names.get(t.type, str(t.type)).lower(),
            "shape": shape, "shape_signature": sig or shape, "quantization": _quant(t)}


def describe(model, buf: bytes) -> dict:
    """Tensors, operators and the integer/float verdict of a verified ModelT."""
    schema = schema_module()
    type_names = _enum_names(schema.TensorType)
    op_names = _enum_names(schema.BuiltinOperator)
    buffers = model.buffers or []
    sg = model.subgraphs[0]
    tensors = sg.tensors or []

    def is_const(i: int) -> bool:
        data = _buffer_data(buffers, tensors[i].buffer, buf)
        return data is not None and len(data) > 0

    def input_info(i: int) -> dict:
        info = dict(tensor_info(tensors[i], type_names), constant=is_const(i))
        if info["constant"] and info["dtype"] in ("int32", "int64"):
            values = np.frombuffer(bytes(_buffer_data(buffers, tensors[i].buffer, buf)),
                                   dtype="<i4" if info["dtype"] == "int32" else "<i8")
            if values.size <= 16:  # axes, paddings, shapes: what op rules look at
                info["values"] = values.reshape(info["shape"] or [-1]).tolist()
        return info

    operators = []
    for index, op in enumerate(sg.operators or []):
        ins = [i for i in ([] if op.inputs is None else op.inputs) if i >= 0]
        outs = [i for i in ([] if op.outputs is None else op.outputs) if i >= 0]
        operators.append({
            "index": index,
            "op": _op_name(model.operatorCodes[op.opcodeIndex], op_names),
            "inputs": [input_info(i) for i in ins],
            "outputs": [tensor_info(tensors[i], type_names) for i in outs],
            "options": _options(op.builtinOptions),
        })
    # An integer model computes on int8/uint8 activations; dynamic-range and
    # float16 files keep float activations and are not judged as integer models.
    integer = any(o["dtype"].upper() in INTEGER_ACTIVATION_TYPES
                  for op in operators for o in op["outputs"])
    float_ops = []
    if integer:
        for op in operators:
            floats = sorted({t["dtype"] for t in op["inputs"] + op["outputs"]
                             if t["dtype"].upper() in FLOAT_TYPES})
            # Boundary QUANTIZE/DEQUANTIZE ops exist only when I/O is float; still flagged.
            if floats:
                float_ops.append({"index": op["index"], "op": op["op"],
                                  "reason": f"{'/'.join(floats)} tensors"})
    return {
        "inputs": [tensor_info(tensors[i], type_names) for i in list(sg.inputs)],
        "outputs": [tensor_info(tensors[i], type_names) for i in list(sg.outputs)],
        "subgraphs": len(model.subgraphs),
        "operators": operators,
        "op_table": op_table(operators),
        "integer": integer,
        "float_ops": float_ops,
    }


def _options(options) -> dict:
    """Scalar fields of an operator's builtin options (strides, dilation, activation)."""
    if options is None:
        return {}
    out = {k: v for k, v in vars(options).items() if isinstance(v, (int, float, bool))}
    if "fusedActivationFunction" in out:
        names = _enum_names(schema_module().ActivationFunctionType)
        out["fusedActivationFunction"] = names.get(out["fusedActivationFunction"], "NONE")
    return out


def op_table(operators: list[dict]) -> list[dict]:
    """Group operators by (op, input dtypes, output dtypes), keeping first-seen order."""
    groups: "OrderedDict[tuple, dict]" = OrderedDict()
    for op in operators:
        ins = tuple(sorted({t["dtype"] for t in op["inputs"] if not t["constant"]}))
        weights = tuple(sorted({t["dtype"] for t in op["inputs"] if t["constant"]}))
        outs = tuple(sorted({t["dtype"] for t in op["outputs"]}))
        key = (op["op"], ins, weights, outs)
        row = groups.setdefault(key, {"op": op["op"], "count": 0, "input_dtypes": list(ins),
                                      "weight_dtypes": list(weights),
                                      "output_dtypes": list(outs)})
        row["count"] += 1
    return list(groups.values())


def output_keys(model) -> list[str]:
    """The name of each subgraph output, in the file's order: its signature name (the Keras
    output name edgecv traces with), else the tensor's own name. Outputs are matched by
    these names, never by position: the converter does not keep Keras' output order."""
    sg = model.subgraphs[0]
    outputs = [] if sg.outputs is None else [int(i) for i in sg.outputs]
    names = {}
    for sig in (model.signatureDefs or [])[:1]:
        names = {int(m.tensorIndex): text_of(m.name) for m in (sig.outputs or [])}
    tensors = sg.tensors or []
    return [names.get(i) or text_of(tensors[i].name) for i in outputs]


def order_outputs(model_bytes: bytes, keys: list[str]) -> bytes:
    """The model with its subgraph outputs in the order of `keys` (signature names), so the
    file lists its outputs as the Keras model does; bytes unchanged when already so."""
    import flatbuffers

    model, _, where = load_model_object(model_bytes)
    current = output_keys(model)
    if current == list(keys) or sorted(current) != sorted(keys):
        return model_bytes
    sg = model.subgraphs[0]
    by_key = dict(zip(current, [int(i) for i in sg.outputs]))
    sg.outputs = [by_key[k] for k in keys]
    builder = flatbuffers.Builder(len(model_bytes) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=TFLITE_IDENTIFIER)
    return bytes(builder.Output())
