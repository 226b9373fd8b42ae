"""Multiply-accumulate count of a built Keras model, layer by layer.

Counts the layers that dominate inference (convolutions, depthwise and transposed
convolutions, dense) the way papers report "mult-adds": batch norm is folded into
the conv, element-wise ops, pooling and activations are not counted.
Hand-written because tf.profiler's FLOP count needs a frozen graph and takes
seconds per model; this is a walk over layer shapes.
"""
from __future__ import annotations

import math


def _shape(tensor_shape) -> tuple[int, ...]:
    if isinstance(tensor_shape, list):  # multi-input/-output layer: take the first
        tensor_shape = tensor_shape[0]
    return tuple(int(v) for v in tensor_shape[1:])


def layer_macs(layer) -> int:
    """MACs of one layer for a batch of one image (0 for layers that are not counted)."""
    from tf_keras import layers

    if isinstance(layer, layers.DepthwiseConv2D):  # subclass of Conv2D: test it first
        kh, kw = layer.kernel_size
        out = _shape(layer.output_shape)
        return math.prod(out) * kh * kw
    if isinstance(layer, layers.Conv2DTranspose):
        kh, kw = layer.kernel_size
        inp = _shape(layer.input_shape)
        # every input pixel scatters a kh x kw x out_channels patch
        return math.prod(inp) * kh * kw * layer.filters
    if isinstance(layer, layers.Conv2D):
        kh, kw = layer.kernel_size
        out = _shape(layer.output_shape)
        in_channels = _shape(layer.input_shape)[-1] // layer.groups
        return math.prod(out) * kh * kw * in_channels
    if isinstance(layer, layers.Dense):
        inp = _shape(layer.input_shape)
        return math.prod(inp) * layer.units
    return 0


def count_macs(model) -> int:
    """Total MACs of a model for one image at its input size."""
    return sum(layer_macs(layer) for layer in model.layers)


def macs_by_layer(model) -> list[tuple[str, str, int]]:
    """(layer name, layer class, MACs) for every counted layer, in graph order."""
    return [(l.name, type(l).__name__, m) for l in model.layers if (m := layer_macs(l))]
