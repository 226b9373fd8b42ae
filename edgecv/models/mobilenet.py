"""MobileNet v1 (Howard et al. 2017) and v2 (Sandler et al. 2018).

Channel rounding follows tf_keras.applications exactly, so at alpha=1.0, 224x224
and 1000 classes the parameter counts equal MobileNet (4,253,864) and MobileNetV2
(3,538,984). 'same' padding replaces the reference's explicit ZeroPadding2D: for
even input sizes with stride 2 both pad one pixel at the bottom/right.
"""
from __future__ import annotations

from edgecv.models.scaling import make_divisible
from edgecv.models.zoo import MODELS, check_input_shape, check_positive

# Imported lazily by the builders: blocks imports tf_keras.
# from edgecv.models import blocks


def _stage(**kw):
    from edgecv.models.blocks import Stage

    return Stage(**kw)


# (block, repeats, kernel, stride, filters, expand) from the MobileNetV2 paper, Table 2.
def mobilenet_v2_stages():
    return (
        _stage(block="ir", repeats=1, kernel=3, stride=1, filters=16, expand=1),
        _stage(block="ir", repeats=2, kernel=3, stride=2, filters=24, expand=6),
        _stage(block="ir", repeats=3, kernel=3, stride=2, filters=32, expand=6),
        _stage(block="ir", repeats=4, kernel=3, stride=2, filters=64, expand=6),
        _stage(block="ir", repeats=3, kernel=3, stride=1, filters=96, expand=6),
        _stage(block="ir", repeats=3, kernel=3, stride=2, filters=160, expand=6),
        _stage(block="ir", repeats=1, kernel=3, stride=1, filters=320, expand=6),
    )


# MobileNetV1 paper, Table 1: depthwise-separable blocks after a 3x3/2 stem.
def mobilenet_v1_stages():
    return (
        _stage(block="dw", repeats=1, kernel=3, stride=1, filters=64),
        _stage(block="dw", repeats=1, kernel=3, stride=2, filters=128),
        _stage(block="dw", repeats=1, kernel=3, stride=1, filters=128),
        _stage(block="dw", repeats=1, kernel=3, stride=2, filters=256),
        _stage(block="dw", repeats=1, kernel=3, stride=1, filters=256),
        _stage(block="dw", repeats=1, kernel=3, stride=2, filters=512),
        _stage(block="dw", repeats=5, kernel=3, stride=1, filters=512),
        _stage(block="dw", repeats=1, kernel=3, stride=2, filters=1024),
        _stage(block="dw", repeats=1, kernel=3, stride=1, filters=1024),
    )


def mobilenet_v2_backbone(inputs, *, alpha: float = 1.0, activation: str = "relu6",
                          head: bool = True):
    """MobileNetV2 body on `inputs`: returns (last tensor, {stride: feature tensor}).

    The pyramid holds the last block output at each stride (2, 4, 8, 16, 32); with
    `head` the 1x1 head conv (1280 channels) is applied and is the stride-32 feature.
    Used inline (not as a nested model) by detection/segmentation heads so tfmot
    can quantize every layer.
    """
    from edgecv.models import blocks

    x = blocks.conv_bn_act(inputs, filters=make_divisible(32 * alpha, 8), kernel=3, stride=2,
                           activation_kind=activation, name="stem")
    features, stride, index = {}, 2, 0
    for stage in mobilenet_v2_stages():
        filters = make_divisible(int(stage.filters * alpha), 8)
        for repeat in range(stage.repeats):
            block_stride = stage.stride if repeat == 0 else 1
            x = blocks.inverted_residual(x, filters=filters, kernel=stage.kernel,
                                         stride=block_stride, expand=stage.expand,
                                         activation_kind=activation, name=f"block{index}")
            stride *= block_stride
            features[stride] = x
            index += 1
    if head:
        last = make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280
        x = blocks.conv_bn_act(x, filters=last, kernel=1, activation_kind=activation, name="head")
        features[stride] = x
    return x, features


KERAS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"
# keras.applications publishes these alphas and square input sizes (no file hashes).
KERAS_V1_ALPHAS = {0.25: "2_5", 0.5: "5_0", 0.75: "7_5", 1.0: "1_0"}
KERAS_V1_ROWS = (128, 160, 192, 224)
KERAS_V2_ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)
KERAS_V2_ROWS = (96, 128, 160, 192, 224)


def _keras_rows(kwargs: dict, published) -> int:
    """keras' rule: the file of the input size when square and published, else 224's."""
    h, w = tuple(kwargs.get("input_shape", (224, 224, 3)))[:2]
    return h if h == w and h in published else 224


def _keras_alpha(model: str, kwargs: dict, published) -> float:
    from edgecv.errors import ModelError

    alpha = float(kwargs.get("alpha", 1.0))
    if alpha not in published:
        raise ModelError(f"model.weights: keras publishes {model} imagenet weights for alpha "
                         f"{', '.join(f'{a:g}' for a in published)}, not {alpha:g}")
    return alpha


def keras_weights_v2(kwargs: dict):
    from edgecv.models.pretrained import KerasWeights

    alpha = _keras_alpha("mobilenet_v2", kwargs, KERAS_V2_ALPHAS)
    file = (f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_"
            f"{_keras_rows(kwargs, KERAS_V2_ROWS)}_no_top.h5")
    return KerasWeights(file=file, url=f"{KERAS_URL}mobilenet_v2/{file}")


def keras_weights_v1(kwargs: dict):
    from edgecv.errors import ModelError
    from edgecv.models.pretrained import KerasWeights

    alpha = _keras_alpha("mobilenet_v1", kwargs, tuple(KERAS_V1_ALPHAS))
    if kwargs.get("depth_multiplier", 1) != 1:
        raise ModelError("model.weights: keras publishes mobilenet_v1 imagenet weights for depth_multiplier 1 only")
    file = f"mobilenet_{KERAS_V1_ALPHAS[alpha]}_{_keras_rows(kwargs, KERAS_V1_ROWS)}_tf_no_top.h5"
    return KerasWeights(file=file, url=f"{KERAS_URL}mobilenet/{file}")


@MODELS.register("mobilenet_v2", task="classification", input_shape=(224, 224, 3),
                 family="mobilenet", keras_weights=keras_weights_v2)
def mobilenet_v2(*, input_shape=(224, 224, 3), num_classes: int = 1000, include_top: bool = True,
                 alpha: float = 1.0, dropout: float = 0.0):
    """MobileNetV2; `alpha` scales every layer's channels (rounded to multiples of 8).

    include_top=False returns the stride-32 feature map of the 1x1 head conv.
    """
    from tf_keras import Model

    from edgecv.models import blocks

    shape = check_input_shape("mobilenet_v2", input_shape)
    alpha = check_positive("mobilenet_v2", "alpha", alpha)
    num_classes = check_positive("mobilenet_v2", "num_classes", num_classes, integer=True)
    inputs = blocks.model_input(shape)
    x, _ = mobilenet_v2_backbone(inputs, alpha=alpha)
    if include_top:
        x = blocks.classifier_head(x, num_classes=num_classes, dropout=dropout)
    return Model(inputs, x, name=f"mobilenet_v2_{alpha:g}_{shape[0]}")


@MODELS.register("mobilenet_v1", task="classification", input_shape=(224, 224, 3),
                 family="mobilenet", keras_weights=keras_weights_v1)
def mobilenet_v1(*, input_shape=(224, 224, 3), num_classes: int = 1000, include_top: bool = True,
                 alpha: float = 1.0, depth_multiplier: int = 1, dropout: float = 1e-3):
    """MobileNet v1; `alpha` is the width multiplier, `depth_multiplier` the depthwise one.

    The reference's 1x1-conv + Reshape classifier is expressed as Dense (same
    parameters, one FULLY_CONNECTED op in TFLite).
    """
    from tf_keras import Model

    from edgecv.models import blocks

    shape = check_input_shape("mobilenet_v1", input_shape)
    alpha = check_positive("mobilenet_v1", "alpha", alpha)
    depth_multiplier = check_positive("mobilenet_v1", "depth_multiplier", depth_multiplier,
                                      integer=True)
    num_classes = check_positive("mobilenet_v1", "num_classes", num_classes, integer=True)
    inputs = blocks.model_input(shape)
    x = blocks.conv_bn_act(inputs, filters=int(32 * alpha), kernel=3, stride=2,
                           activation_kind="relu6", name="stem")
    index = 1
    for stage in mobilenet_v1_stages():
        for repeat in range(stage.repeats):
            x = blocks.depthwise_separable(x, filters=int(stage.filters * alpha),
                                           stride=stage.stride if repeat == 0 else 1,
                                           depth_multiplier=depth_multiplier,
                                           activation_kind="relu6", name=f"block{index}")
            index += 1
    if include_top:
        x = blocks.classifier_head(x, num_classes=num_classes, dropout=dropout)
    return Model(inputs, x, name=f"mobilenet_v1_{alpha:g}_{shape[0]}")
