"""Inception v3 (Szegedy et al. 2015), layer for layer as tf_keras.applications.InceptionV3.

Same branches, order, paddings and BN (no scale, epsilon 1e-3), so keras' ImageNet file
loads onto it by position and the parameter count is keras' 23,851,784 at 1000 classes.
keras' InceptionV3 expects x = pixel / 127.5 - 1: edgecv's own convention, no adapter.
The architecture is a table: a stem of ops, then modules of parallel branches.
"""
from __future__ import annotations

from dataclasses import dataclass

from edgecv.models.zoo import MODELS, check_input_shape, check_positive

MIN_SIZE = 75    # keras' minimum: the stem's valid convs and pools need it
KERAS_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
KERAS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/" + KERAS_FILE
KERAS_NOTOP_MD5 = "bcbd6486424b2319ff4ef7d526e38f63"


@dataclass(frozen=True)
class Op:
    """conv: Conv(no bias) -> BN(no scale) -> ReLU; avg / max: 3x3 pooling."""

    kind: str                                 # conv | avg | max
    filters: int = 0
    kernel: tuple[int, int] = (3, 3)          # (rows, cols)
    stride: int = 1
    padding: str = "same"


@dataclass(frozen=True)
class Branch:
    ops: tuple[Op, ...]
    split: tuple[Op, ...] = ()                # parallel ops on the branch output, concatenated


def conv(filters: int, rows: int, cols: int | None = None, *, stride: int = 1, padding: str = "same") -> Op:
    return Op("conv", filters, (rows, rows if cols is None else cols), stride, padding)


AVG = Op("avg", kernel=(3, 3), stride=1, padding="same")
MAX = Op("max", kernel=(3, 3), stride=2, padding="valid")
STEM = (conv(32, 3, stride=2, padding="valid"), conv(32, 3, padding="valid"), conv(64, 3), MAX,
        conv(80, 1, padding="valid"), conv(192, 3, padding="valid"), MAX)


def _a(pool: int):      # 35x35
    return (Branch((conv(64, 1),)), Branch((conv(48, 1), conv(64, 5))),
            Branch((conv(64, 1), conv(96, 3), conv(96, 3))), Branch((AVG, conv(pool, 1))))


def _c(f: int):         # 17x17, factorised 7x7
    return (Branch((conv(192, 1),)), Branch((conv(f, 1), conv(f, 1, 7), conv(192, 7, 1))),
            Branch((conv(f, 1), conv(f, 7, 1), conv(f, 1, 7), conv(f, 7, 1), conv(192, 1, 7))),
            Branch((AVG, conv(192, 1))))


_E_SPLIT = (conv(384, 1, 3), conv(384, 3, 1))
_E = (Branch((conv(320, 1),)), Branch((conv(384, 1),), split=_E_SPLIT),           # 8x8, expanded
      Branch((conv(448, 1), conv(384, 3)), split=_E_SPLIT), Branch((AVG, conv(192, 1))))
MODULES = (
    _a(32), _a(64), _a(64),                                                       # mixed0-2
    (Branch((conv(384, 3, stride=2, padding="valid"),)),                          # mixed3: grid 35 -> 17
     Branch((conv(64, 1), conv(96, 3), conv(96, 3, stride=2, padding="valid"))), Branch((MAX,))),
    _c(128), _c(160), _c(160), _c(192),                                           # mixed4-7
    (Branch((conv(192, 1), conv(320, 3, stride=2, padding="valid"))),             # mixed8: grid 17 -> 8
     Branch((conv(192, 1), conv(192, 1, 7), conv(192, 7, 1), conv(192, 3, stride=2, padding="valid"))),
     Branch((MAX,))),
    _E, _E,                                                                       # mixed9-10
)


def apply_op(x, op: Op, *, name: str):
    from tf_keras import layers

    if op.kind == "avg":
        return layers.AveragePooling2D(op.kernel, strides=op.stride, padding=op.padding, name=f"{name}_pool")(x)
    if op.kind == "max":
        return layers.MaxPooling2D(op.kernel, strides=op.stride, padding=op.padding, name=f"{name}_pool")(x)
    x = layers.Conv2D(op.filters, op.kernel, strides=op.stride, padding=op.padding, use_bias=False,
                      name=f"{name}_conv")(x)
    x = layers.BatchNormalization(scale=False, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def inception_v3_backbone(inputs):
    """Stem + mixed0..mixed10: returns (last tensor, {stride: tensor})."""
    from tf_keras import layers

    x, stride, features = inputs, 1, {}
    for i, op in enumerate(STEM):
        x = apply_op(x, op, name=f"stem_{i}")
        stride *= op.stride
        features[stride] = x
    for m, module in enumerate(MODULES):
        outputs = []
        for b, branch in enumerate(module):
            y = x
            for j, op in enumerate(branch.ops):
                y = apply_op(y, op, name=f"mixed{m}_b{b}_{j}")
            if branch.split:
                parts = [apply_op(y, op, name=f"mixed{m}_b{b}_split{k}") for k, op in enumerate(branch.split)]
                y = layers.Concatenate(name=f"mixed{m}_b{b}_concat")(parts)
            outputs.append(y)
        stride *= max(op.stride for branch in module for op in branch.ops)
        x = layers.Concatenate(name=f"mixed{m}")(outputs)
        features[stride] = x
    return x, features


@MODELS.register("inception_v3", task="classification", input_shape=(299, 299, 3), family="inception",
                 keras_weights=lambda kwargs: keras_weights())
def inception_v3(*, input_shape=(299, 299, 3), num_classes: int = 1000, include_top: bool = True,
                 dropout: float = 0.0):
    """Inception v3; include_top=False returns mixed10 (2048 channels, stride 32)."""
    from tf_keras import Model

    from edgecv.models import blocks

    shape = check_input_shape("inception_v3", input_shape, minimum=MIN_SIZE)
    classes = check_positive("inception_v3", "num_classes", num_classes, integer=True)
    inputs = blocks.model_input(shape)
    x, _ = inception_v3_backbone(inputs)
    if include_top:
        x = blocks.classifier_head(x, num_classes=classes, dropout=dropout)
    return Model(inputs, x, name=f"inception_v3_{shape[0]}")


def keras_weights():
    from edgecv.models.pretrained import KerasWeights

    return KerasWeights(file=KERAS_FILE, url=KERAS_URL, file_hash=KERAS_NOTOP_MD5)
