"""Tiny-YOLO v2 and v3 detectors in darknet's cfg structure (yolov2-tiny.cfg,
yolov3-tiny.cfg): 3x3 conv+BN+leaky layers and max-pools, 1x1 linear output convs.

Outputs are raw head tensors, one per scale, `(N, S, S, anchors * (5 + classes))`,
coarsest scale first (darknet's [yolo] order); decoding happens outside the graph
(edgecv.tasks.detection). At 416x416, 80 classes, 3 anchors per scale
tiny_yolo_v3 has darknet's 8,858,734 parameters.

`activation="relu6"` swaps darknet's leaky ReLU for ReLU6, which EdgeTPU maps
(LEAKY_RELU is not). `backbone="mobilenet_v2"` replaces the darknet trunk with a
MobileNetV2 (alpha-scaled) and keeps the same heads.
"""
from __future__ import annotations

from edgecv.models.zoo import MODELS, check_choice, check_input_shape, check_positive

ACTIVATIONS = ("leaky", "relu6")
BACKBONES = ("darknet", "mobilenet_v2")


def _stage(block, filters=0, kernel=3, stride=1):
    from edgecv.models.blocks import Stage

    return Stage(block=block, repeats=1, kernel=kernel, stride=stride, filters=filters)


def darknet_tiny_stages():
    """The shared trunk of yolov2-tiny and yolov3-tiny, up to the 1024-filter conv."""
    rows = []
    for filters in (16, 32, 64, 128, 256):
        rows += [_stage("conv", filters), _stage("maxpool", kernel=2, stride=2)]
    rows += [_stage("conv", 512), _stage("maxpool", kernel=2, stride=1), _stage("conv", 1024)]
    return tuple(rows)


def darknet_tiny_backbone(inputs, *, activation: str):
    """Darknet tiny trunk: returns (last tensor, {stride: last tensor at that stride})."""
    from tf_keras import layers

    from edgecv.models import blocks

    x, stride, features = inputs, 1, {}
    for index, stage in enumerate(darknet_tiny_stages()):
        if stage.block == "conv":
            x = blocks.conv_bn_act(x, filters=stage.filters, kernel=stage.kernel,
                                   activation_kind=activation, name=f"conv{index}")
        else:  # darknet's size-2/stride-1 maxpool keeps the grid: 'same' padding
            x = layers.MaxPooling2D(stage.kernel, strides=stage.stride, padding="same",
                                    name=f"pool{index}")(x)
        stride *= stage.stride
        features[stride] = x
    return x, features


def _backbone(inputs, *, backbone: str, activation: str, alpha: float):
    if backbone == "darknet":
        return darknet_tiny_backbone(inputs, activation=activation)
    from edgecv.models.mobilenet import mobilenet_v2_backbone

    return mobilenet_v2_backbone(inputs, alpha=alpha, head=False)


def _output(x, *, num_anchors: int, num_classes: int, name: str):
    from tf_keras import layers

    return layers.Conv2D(num_anchors * (5 + num_classes), 1, padding="same", use_bias=True,
                         name=name)(x)


def _check(model, input_shape, num_classes, num_anchors, activation, backbone, alpha):
    shape = check_input_shape(model, input_shape, multiple=32)
    num_classes = check_positive(model, "num_classes", num_classes, integer=True)
    num_anchors = check_positive(model, "num_anchors", num_anchors, integer=True)
    check_choice(model, "activation", activation, ACTIVATIONS)
    check_choice(model, "backbone", backbone, BACKBONES)
    alpha = check_positive(model, "alpha", alpha)
    return shape, num_classes, num_anchors, alpha


@MODELS.register("tiny_yolo_v2", task="detection", input_shape=(416, 416, 3), family="tiny_yolo",
                 output_strides=(32,), feature_strides=(32,))
def tiny_yolo_v2(*, input_shape=(416, 416, 3), num_classes: int = 80, include_top: bool = True,
                 num_anchors: int = 5, activation: str = "leaky", backbone: str = "darknet",
                 alpha: float = 1.0):
    """yolov2-tiny: trunk -> 3x3/512 conv -> 1x1 output at stride 32 (one scale).

    include_top=False returns the stride-32 trunk features.
    """
    from tf_keras import Model

    from edgecv.models import blocks

    shape, num_classes, num_anchors, alpha = _check("tiny_yolo_v2", input_shape, num_classes,
                                                   num_anchors, activation, backbone, alpha)
    inputs = blocks.model_input(shape)
    x, features = _backbone(inputs, backbone=backbone, activation=activation, alpha=alpha)
    if not include_top:
        return Model(inputs, features[32], name="tiny_yolo_v2_features")
    x = blocks.conv_bn_act(x, filters=512, kernel=3, activation_kind=activation, name="head_s32")
    out = _output(x, num_anchors=num_anchors, num_classes=num_classes, name="output_s32")
    return Model(inputs, out, name="tiny_yolo_v2")


@MODELS.register("tiny_yolo_v3", task="detection", input_shape=(416, 416, 3), family="tiny_yolo",
                 output_strides=(32, 16), feature_strides=(16, 32))
def tiny_yolo_v3(*, input_shape=(416, 416, 3), num_classes: int = 80, include_top: bool = True,
                 num_anchors: int = 3, activation: str = "leaky", backbone: str = "darknet",
                 alpha: float = 1.0):
    """yolov3-tiny: outputs at stride 32 and 16 (coarse first); the stride-16 head
    upsamples a 1x1/128 route and concatenates the trunk's stride-16 features.

    `num_anchors` is per scale. include_top=False returns [stride-16, stride-32] features.
    """
    from tf_keras import Model, layers

    from edgecv.models import blocks

    shape, num_classes, num_anchors, alpha = _check("tiny_yolo_v3", input_shape, num_classes,
                                                   num_anchors, activation, backbone, alpha)
    inputs = blocks.model_input(shape)
    x, features = _backbone(inputs, backbone=backbone, activation=activation, alpha=alpha)
    # The last tensor at stride 16: darknet's route layer 8 (the 256-filter conv
    # before the stride-32 maxpool), or MobileNetV2's block 12.
    skip = features[16]
    if not include_top:
        return Model(inputs, [skip, x], name="tiny_yolo_v3_features")
    route = blocks.conv_bn_act(x, filters=256, kernel=1, activation_kind=activation,
                               name="head_s32_reduce")
    y = blocks.conv_bn_act(route, filters=512, kernel=3, activation_kind=activation, name="head_s32")
    out32 = _output(y, num_anchors=num_anchors, num_classes=num_classes, name="output_s32")
    y = blocks.conv_bn_act(route, filters=128, kernel=1, activation_kind=activation,
                           name="head_s16_reduce")
    y = layers.UpSampling2D(2, interpolation="nearest", name="head_s16_upsample")(y)
    y = layers.Concatenate(name="head_s16_concat")([y, skip])
    y = blocks.conv_bn_act(y, filters=256, kernel=3, activation_kind=activation, name="head_s16")
    out16 = _output(y, num_anchors=num_anchors, num_classes=num_classes, name="output_s16")
    return Model(inputs, [out32, out16], name="tiny_yolo_v3")

