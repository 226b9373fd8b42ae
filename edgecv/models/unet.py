"""U-Net (Ronneberger et al. 2015) and a MobileNetV2-encoder U-Net for segmentation.

`unet` follows the paper: per level two 3x3 conv + ReLU, 2x2 max-pool down,
2x2 transposed conv up (halving channels), skip concatenation, 1x1 output conv.
'same' padding replaces the paper's 'valid' so masks keep the input size (no
cropping). `batch_norm=True` adds BN after each conv (not in the paper; it makes
small-data training and int8 calibration easier).

Outputs are per-pixel softmax probabilities `(N, H, W, classes)`.
"""
from __future__ import annotations

from edgecv.models.zoo import MODELS, check_input_shape, check_positive


def unet_levels(base_filters: int, depth: int):
    """One row per resolution level, encoder order; the last row is the bottleneck."""
    from edgecv.models.blocks import Stage

    return tuple(Stage(block="double_conv", repeats=2, kernel=3, stride=1,
                       filters=base_filters * 2 ** level) for level in range(depth + 1))


def _double_conv(x, *, stage, batch_norm: bool, name: str):
    from edgecv.models import blocks

    for i in range(stage.repeats):
        x = blocks.conv_bn_act(x, filters=stage.filters, kernel=stage.kernel, activation_kind="relu",
                               batch_norm=batch_norm, name=f"{name}_conv{i + 1}")
    return x


def _segmentation_top(x, *, num_classes: int):
    from tf_keras import layers

    x = layers.Conv2D(num_classes, 1, padding="same", name="logits")(x)
    return layers.Softmax(name="predictions")(x)


@MODELS.register("unet", task="segmentation", input_shape=(256, 256, 3), family="unet")
def unet(*, input_shape=(256, 256, 3), num_classes: int = 2, include_top: bool = True,
         base_filters: int = 64, depth: int = 4, batch_norm: bool = False):
    """The paper's U-Net: `depth` down/up levels, `base_filters` at full resolution.

    include_top=False returns the last decoder features (before the 1x1 classifier).
    """
    from tf_keras import Model, layers

    from edgecv.models import blocks

    base_filters = check_positive("unet", "base_filters", base_filters, integer=True)
    depth = check_positive("unet", "depth", depth, integer=True)
    shape = check_input_shape("unet", input_shape, multiple=2 ** depth)
    num_classes = check_positive("unet", "num_classes", num_classes, integer=True)
    levels = unet_levels(base_filters, depth)
    inputs = blocks.model_input(shape)
    x, skips = inputs, []
    for level, stage in enumerate(levels[:-1]):
        x = _double_conv(x, stage=stage, batch_norm=batch_norm, name=f"down{level}")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"down{level}_pool")(x)
    x = _double_conv(x, stage=levels[-1], batch_norm=batch_norm, name="bottleneck")
    for level in reversed(range(depth)):
        stage = levels[level]
        x = layers.Conv2DTranspose(stage.filters, 2, strides=2, padding="same",
                                   name=f"up{level}_upconv")(x)
        x = layers.Concatenate(name=f"up{level}_concat")([skips[level], x])
        x = _double_conv(x, stage=stage, batch_norm=batch_norm, name=f"up{level}")
    if include_top:
        x = _segmentation_top(x, num_classes=num_classes)
    return Model(inputs, x, name="unet")


# Light decoder widths, stride 16 -> 2, then a transposed conv to full resolution.
MOBILE_DECODER_FILTERS = (128, 64, 48, 32)


@MODELS.register("unet_mobilenet_v2", task="segmentation", input_shape=(224, 224, 3),
                 family="unet")
def unet_mobilenet_v2(*, input_shape=(224, 224, 3), num_classes: int = 2,
                      include_top: bool = True, alpha: float = 1.0):
    """U-Net with a MobileNetV2 encoder (skips at strides 2-16) and a light decoder:
    per level a 3x3/2 transposed conv + ReLU6, skip concatenation and a
    depthwise-separable conv; a final 3x3/2 transposed conv restores full size.

    include_top=False returns the stride-2 decoder features.
    """
    from tf_keras import Model, layers

    from edgecv.models import blocks
    from edgecv.models.mobilenet import mobilenet_v2_backbone

    shape = check_input_shape("unet_mobilenet_v2", input_shape, multiple=32)
    num_classes = check_positive("unet_mobilenet_v2", "num_classes", num_classes, integer=True)
    alpha = check_positive("unet_mobilenet_v2", "alpha", alpha)
    inputs = blocks.model_input(shape)
    x, features = mobilenet_v2_backbone(inputs, alpha=alpha, head=False)
    for filters, stride in zip(MOBILE_DECODER_FILTERS, (16, 8, 4, 2)):
        x = layers.Conv2DTranspose(filters, 3, strides=2, padding="same",
                                   name=f"up{stride}_upconv")(x)
        x = layers.ReLU(6.0, name=f"up{stride}_upconv_act")(x)
        x = layers.Concatenate(name=f"up{stride}_concat")([x, features[stride]])
        x = blocks.depthwise_separable(x, filters=filters, stride=1, depth_multiplier=1,
                                       activation_kind="relu6", name=f"up{stride}")
    if not include_top:
        return Model(inputs, x, name="unet_mobilenet_v2_features")
    x = layers.Conv2DTranspose(num_classes, 3, strides=2, padding="same", name="logits")(x)
    x = layers.Softmax(name="predictions")(x)
    return Model(inputs, x, name="unet_mobilenet_v2")
