"""Shared helpers for the model-zoo tests: small configs and TFLite checks."""
from __future__ import annotations

import os
from contextlib import contextmanager

import numpy as np

import edgecv  # noqa: F401
from edgecv.models import create_model, list_models, model_info

SMALL_SHAPE = (64, 64, 3)
SMALL_CLASSES = 3
# Family arguments that keep each model tiny (the rest is the builder's default).
SMALL_ARGS = {
    "mobilenet_v1": {"alpha": 0.25},
    "mobilenet_v2": {"alpha": 0.35},
    "unet": {"base_filters": 8, "depth": 3},
    "unet_mobilenet_v2": {"alpha": 0.35},
    "tiny_yolo_v2": {"num_anchors": 2},
    "tiny_yolo_v3": {"num_anchors": 2},
    "inception_v3": {"input_shape": (75, 75, 3)},   # keras' minimum for its valid stem
}
# Converted in the default run, one per family, chosen for coverage per CPU second:
# MBConv + ReLU6 (efficientnet_lite0), leaky/maxpool-s1/upsample/concat (tiny_yolo_v3),
# transposed conv + concat (unet), MobileNetV2 encoder + depthwise-separable decoder
# (unet_mobilenet_v2), explicit padding + max pool + residual adds (resnet18), parallel branches
# with asymmetric 1x7/7x1 kernels, avg pools and nested concats (inception_v3). Squeeze-excite + swish are converted on a small graph of the
# same blocks in test_qat.py: a full EfficientNet-B0 int8 conversion costs ~2 CPU-minutes.
REPRESENTATIVES = ("efficientnet_lite0", "tiny_yolo_v3", "unet", "unet_mobilenet_v2", "resnet18", "inception_v3")
# Over a minute on 2 cores (measured: int8 resnet18 69 s, full inception_v3 262 s, float 73 s)
SLOW_CONVERSIONS = {"int8": ("resnet18", "inception_v3"), "float32": ("inception_v3",)}

# Converting every variant (B7 included) takes far longer than the project's CI budget:
# those tests are marked slow AND run only with EDGECV_FULL_ZOO=1.
FULL_ZOO = bool(os.environ.get("EDGECV_FULL_ZOO"))


def small_kwargs(name: str) -> dict:
    return {"input_shape": SMALL_SHAPE, "num_classes": SMALL_CLASSES, **SMALL_ARGS.get(name, {})}


def small_shape(name: str) -> tuple[int, int, int]:
    return tuple(small_kwargs(name)["input_shape"])


def build_small(name: str):
    if name == "inception_v3" and not FULL_ZOO:
        with _one_module_of_each_kind():
            return create_model(name, **small_kwargs(name))
    return create_model(name, **small_kwargs(name))


@contextmanager
def _one_module_of_each_kind():
    """Inception v3 with one module of each of its five kinds (A, grid reduction to 17,
    factorised-7x7 C, grid reduction to 8, expanded E with its nested split concat)
    instead of eleven: the same op patterns for the converter, under half the layers.
    The full table took 262 s to QAT-convert to int8 on 2 cores; EDGECV_FULL_ZOO=1 builds it."""
    from edgecv.models import inception

    full = inception.MODULES
    inception.MODULES = tuple(full[i] for i in (0, 3, 4, 8, 9))   # mixed0, 3, 4, 8, 9
    try:
        yield
    finally:
        inception.MODULES = full


def expected_output_shapes(name: str) -> list[tuple]:
    h, w, _ = small_shape(name)
    task = model_info(name)["task"]
    if task == "classification":
        return [(None, SMALL_CLASSES)]
    if task == "segmentation":
        return [(None, h, w, SMALL_CLASSES)]
    anchors = SMALL_ARGS[name]["num_anchors"] * (5 + SMALL_CLASSES)
    strides = (32, 16) if name == "tiny_yolo_v3" else (32,)
    return [(None, h // s, w // s, anchors) for s in strides]


def output_shapes(model) -> list[tuple]:
    shapes = model.output_shape
    return [tuple(s) for s in shapes] if isinstance(shapes, list) else [tuple(shapes)]


def sample_images(n: int = 4, seed: int = 0, shape=SMALL_SHAPE) -> np.ndarray:
    """Float32 images in [-1, 1], the input convention of every edgecv model."""
    return np.random.default_rng(seed).uniform(-1, 1, (n, *shape)).astype("float32")


def to_tflite(model, *, int8: bool = False, calibration=None) -> bytes:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if int8:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([x[None]] for x in calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8
    return converter.convert()


def run_tflite(model_bytes: bytes, x: np.ndarray) -> list[np.ndarray]:
    """Run each image through the interpreter; outputs ordered like the Keras model's."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model_bytes)
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    outs = sorted(interpreter.get_output_details(), key=lambda d: d["index"])
    results = [[] for _ in outs]
    for image in x:
        interpreter.set_tensor(inp["index"], image[None].astype(inp["dtype"]))
        interpreter.invoke()
        for i, d in enumerate(outs):
            results[i].append(interpreter.get_tensor(d["index"])[0])
    return [np.stack(r) for r in results]


INTEGER_TYPES = {"int8", "uint8", "int32"}


def float_ops(model_bytes: bytes) -> list[str]:
    """Ops that touch a non-integer tensor, read from the interpreter (not the converter).

    Only the graph-edge QUANTIZE/DEQUANTIZE ops (model I/O conversion) are allowed
    to have float tensors; with uint8 I/O there should be none at all.
    """
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model_bytes)
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    io = {d["index"] for d in interpreter.get_input_details() + interpreter.get_output_details()}
    bad = []
    for op in interpreter._get_ops_details():  # no public op listing in LiteRT 2.3
        indices = [i for i in (*op["inputs"], *op["outputs"]) if i >= 0]
        kinds = {np.dtype(tensors[i]["dtype"]).name for i in indices}
        if kinds <= INTEGER_TYPES:
            continue
        if op["op_name"] in ("QUANTIZE", "DEQUANTIZE") and io & set(indices):
            continue
        bad.append(f"{op['op_name']}({','.join(sorted(kinds))})")
    return bad


def all_models() -> list[str]:
    return list_models()
