"""Building blocks shared by every family, with fixed, predictable layer names.

Every block takes keyword-only arguments and names its layers `<name>_<part>`
(`block3_expand_conv`, `block3_dw_bn`, `block3_project_bn`), so checkpoints,
pruning policies and QAT configs can address layers by name. Only layers that
tfmot can quantize (or that edgecv.optimize.qat teaches it) are used: no Lambda,
no Rescaling, no nested models.

This module imports tf_keras at import time; family modules import it inside
their builders so that registering models stays free of TensorFlow.
"""
from __future__ import annotations

from dataclasses import dataclass

import tf_keras as keras
from tf_keras import layers

from edgecv.errors import ModelError

ACTIVATIONS = ("relu", "relu6", "swish", "leaky", "sigmoid", "linear")
LEAKY_SLOPE = 0.1  # darknet's leaky ReLU slope


@dataclass(frozen=True)
class Stage:
    """One row of a family's architecture table: `repeats` blocks of one kind.

    block: "ir" inverted residual (MobileNetV2/EfficientNet MBConv),
           "dw" depthwise-separable (MobileNetV1), "conv" plain conv (darknet).
    Only the first block of a stage uses `stride`; the others use stride 1.
    """

    block: str
    repeats: int
    kernel: int
    stride: int
    filters: int
    expand: int = 1
    se_ratio: float = 0.0


def check_activation(kind: str) -> str:
    if kind not in ACTIVATIONS:
        raise ModelError(f"activation: unknown {kind!r}; expected one of {', '.join(ACTIVATIONS)}")
    return kind


def activation(x, *, kind: str, name: str):
    """Apply an activation as its own layer (tfmot and TFLite handle these natively)."""
    check_activation(kind)
    if kind == "linear":
        return x
    if kind == "relu6":
        return layers.ReLU(6.0, name=name)(x)
    if kind == "relu":
        return layers.ReLU(name=name)(x)
    if kind == "leaky":
        return layers.LeakyReLU(alpha=LEAKY_SLOPE, name=name)(x)
    return layers.Activation(kind, name=name)(x)


def conv_bn_act(x, *, filters: int, kernel: int, stride: int = 1, activation_kind: str,
                name: str, batch_norm: bool = True):
    """Conv2D -> BatchNorm -> activation (conv bias only when there is no BN to fold)."""
    x = layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=not batch_norm,
                      name=f"{name}_conv")(x)
    if batch_norm:
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return activation(x, kind=activation_kind, name=f"{name}_act")


def depthwise_bn_act(x, *, kernel: int, stride: int, depth_multiplier: int = 1,
                     activation_kind: str, name: str):
    x = layers.DepthwiseConv2D(kernel, strides=stride, padding="same",
                               depth_multiplier=depth_multiplier, use_bias=False,
                               name=f"{name}_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return activation(x, kind=activation_kind, name=f"{name}_act")


def squeeze_excite(x, *, se_filters: int, activation_kind: str, name: str):
    """Channel attention: global pool -> reduce -> expand -> sigmoid -> rescale input.

    keepdims pooling replaces the reference's Reshape (one op fewer in TFLite);
    the Multiply gets a QAT config from edgecv.optimize.qat.
    """
    channels = x.shape[-1]
    s = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_se_squeeze")(x)
    s = layers.Conv2D(se_filters, 1, padding="same", name=f"{name}_se_reduce")(s)
    s = activation(s, kind=activation_kind, name=f"{name}_se_reduce_act")
    s = layers.Conv2D(channels, 1, padding="same", name=f"{name}_se_expand")(s)
    s = layers.Activation("sigmoid", name=f"{name}_se_gate")(s)
    return layers.Multiply(name=f"{name}_se_excite")([x, s])


def inverted_residual(x, *, filters: int, kernel: int, stride: int, expand: int,
                      activation_kind: str, name: str, se_filters: int = 0,
                      drop_rate: float = 0.0, residual: bool | None = None):
    """MobileNetV2 inverted residual / EfficientNet MBConv block.

    expand 1x1 (skipped when expand == 1) -> depthwise kxk -> [squeeze-excite]
    -> linear 1x1 projection -> [stochastic-depth dropout + residual add].
    `residual=None` adds the shortcut whenever shapes allow it.
    """
    in_channels = x.shape[-1]
    shortcut = x
    if expand != 1:
        x = conv_bn_act(x, filters=in_channels * expand, kernel=1,
                        activation_kind=activation_kind, name=f"{name}_expand")
    x = depthwise_bn_act(x, kernel=kernel, stride=stride, activation_kind=activation_kind,
                         name=f"{name}_dw")
    if se_filters:
        x = squeeze_excite(x, se_filters=se_filters, activation_kind=activation_kind, name=name)
    x = conv_bn_act(x, filters=filters, kernel=1, activation_kind="linear", name=f"{name}_project")
    if residual is None:
        residual = stride == 1 and in_channels == filters
    if residual:
        if drop_rate > 0:
            # Stochastic depth: drop the whole residual branch per sample.
            x = layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{name}_drop")(x)
        x = layers.Add(name=f"{name}_add")([x, shortcut])
    return x


def depthwise_separable(x, *, filters: int, stride: int, depth_multiplier: int,
                        activation_kind: str, name: str):
    """MobileNetV1 block: depthwise 3x3 -> BN -> act -> pointwise 1x1 -> BN -> act."""
    x = depthwise_bn_act(x, kernel=3, stride=stride, depth_multiplier=depth_multiplier,
                         activation_kind=activation_kind, name=f"{name}_dw")
    return conv_bn_act(x, filters=filters, kernel=1, activation_kind=activation_kind,
                       name=f"{name}_pw")


def classifier_head(x, *, num_classes: int, dropout: float = 0.0):
    """Global average pool -> [dropout] -> dense logits -> softmax probabilities."""
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if dropout > 0:
        x = layers.Dropout(dropout, name="top_dropout")(x)
    x = layers.Dense(num_classes, name="logits")(x)
    return layers.Softmax(name="predictions")(x)


def input_affine(x, *, name: str):
    """A fixed (non-trainable) per-pixel affine map of the input channels: a 1x1 conv.

    Stands for the input preprocessing a pretrained file expects (keras EfficientNet's
    Normalization, ResNet's caffe BGR mean subtraction) on edgecv's [-1, 1] input, so
    the stem pads the same tensor as keras does. Set by edgecv.models.pretrained.
    """
    return layers.Conv2D(x.shape[-1], 1, use_bias=True, trainable=False, name=name)(x)


def model_input(input_shape, *, name: str = "image"):
    return keras.Input(shape=tuple(input_shape), name=name, dtype="float32")
