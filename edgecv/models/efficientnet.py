"""EfficientNet B0-B7 (Tan & Le 2019) and EfficientNet-Lite0-4 (the edge release).

Block table and rounding follow tf_keras.applications.efficientnet, so trainable
parameter counts equal EfficientNetB0..B7(weights=None) (those also carry a
non-trainable Rescaling/Normalization layer that edgecv models leave out: inputs
are already in [-1, 1]).

Lite variants per tensorflow/tpu efficientnet/lite: no squeeze-excite, ReLU6
instead of swish, stem (32) and head (1280) channels not scaled, and the first
and last stage's repeats not scaled — all for int8 accuracy and EdgeTPU support.
"""
from __future__ import annotations

from dataclasses import dataclass

from edgecv.errors import ModelError
from edgecv.models.scaling import compound_coefficients, make_divisible, round_filters, round_repeats
from edgecv.models.zoo import MODELS, check_input_shape, check_positive


@dataclass(frozen=True)
class Variant:
    """Published scaling of one variant: (width, depth, resolution, dropout)."""

    width: float
    depth: float
    resolution: int
    dropout: float


# tf_keras.applications.efficientnet (== the paper's released models)
B_VARIANTS = {
    "b0": Variant(1.0, 1.0, 224, 0.2),
    "b1": Variant(1.0, 1.1, 240, 0.2),
    "b2": Variant(1.1, 1.2, 260, 0.3),
    "b3": Variant(1.2, 1.4, 300, 0.3),
    "b4": Variant(1.4, 1.8, 380, 0.4),
    "b5": Variant(1.6, 2.2, 456, 0.4),
    "b6": Variant(1.8, 2.6, 528, 0.5),
    "b7": Variant(2.0, 3.1, 600, 0.5),
}
# tensorflow/tpu models/official/efficientnet/lite/efficientnet_lite_builder.py
LITE_VARIANTS = {
    "lite0": Variant(1.0, 1.0, 224, 0.2),
    "lite1": Variant(1.0, 1.1, 240, 0.2),
    "lite2": Variant(1.1, 1.2, 260, 0.3),
    "lite3": Variant(1.2, 1.4, 280, 0.3),
    "lite4": Variant(1.4, 1.8, 300, 0.3),
}
STEM_FILTERS = 32
HEAD_FILTERS = 1280
SE_RATIO = 0.25
DROP_CONNECT_RATE = 0.2
# keras.applications.efficientnet: its imagenet files' Normalization variance holds these
# standard deviations, and keras multiplies by 1/sqrt(std) after it (tensorflow#49930).
IMAGENET_STDDEV_RGB = (0.229, 0.224, 0.225)
KERAS_BASE_URL = "https://storage.googleapis.com/keras-applications/"
# keras.applications.efficientnet WEIGHTS_HASHES[variant][1]: the include_top=False files
KERAS_NOTOP_HASHES = {
    "b0": "50bc09e76180e00e4465e1a485ddc09d",
    "b1": "74c4e6b3e1f6a1eea24c589628592432",
    "b2": "111f8e2ac8aa800a7a99e3239f7bfb39",
    "b3": "af6d107764bb5b1abb91932881670226",
    "b4": "ebc24e6d6c33eaebbd558eafbeedf1ba",
    "b5": "38879255a25d3c92d5e44e04ae6cec6f",
    "b6": "9ecce42647a20130c1f39a5d4cb75743",
    "b7": "cbcfe4450ddf6f3ad90b1b398090fe4a",
}


def efficientnet_stages():
    """The B0 baseline (paper Table 1): MBConv stages after a 3x3/2 stem."""
    from edgecv.models.blocks import Stage

    return (
        Stage(block="ir", repeats=1, kernel=3, stride=1, filters=16, expand=1, se_ratio=SE_RATIO),
        Stage(block="ir", repeats=2, kernel=3, stride=2, filters=24, expand=6, se_ratio=SE_RATIO),
        Stage(block="ir", repeats=2, kernel=5, stride=2, filters=40, expand=6, se_ratio=SE_RATIO),
        Stage(block="ir", repeats=3, kernel=3, stride=2, filters=80, expand=6, se_ratio=SE_RATIO),
        Stage(block="ir", repeats=3, kernel=5, stride=1, filters=112, expand=6, se_ratio=SE_RATIO),
        Stage(block="ir", repeats=4, kernel=5, stride=2, filters=192, expand=6, se_ratio=SE_RATIO),
        Stage(block="ir", repeats=1, kernel=3, stride=1, filters=320, expand=6, se_ratio=SE_RATIO),
    )


def efficientnet_backbone(inputs, *, width: float, depth: float, lite: bool = False,
                          drop_connect_rate: float = DROP_CONNECT_RATE, head: bool = True):
    """EfficientNet body on `inputs`: returns (last tensor, {stride: feature tensor})."""
    from edgecv.models import blocks

    act = "relu6" if lite else "swish"
    stages = efficientnet_stages()
    stem = STEM_FILTERS if lite else round_filters(STEM_FILTERS, width)
    x = blocks.conv_bn_act(inputs, filters=stem, kernel=3, stride=2, activation_kind=act,
                           name="stem")

    def repeats_of(i, stage):
        fixed = lite and i in (0, len(stages) - 1)
        return stage.repeats if fixed else round_repeats(stage.repeats, depth)

    total = sum(repeats_of(i, s) for i, s in enumerate(stages))
    declared_in = round_filters(STEM_FILTERS, width)  # the reference's filters_in bookkeeping
    features, stride, index = {}, 2, 0
    for i, stage in enumerate(stages):
        filters = round_filters(stage.filters, width)
        for repeat in range(repeats_of(i, stage)):
            block_stride = stage.stride if repeat == 0 else 1
            se_filters = 0 if lite else max(1, int(declared_in * stage.se_ratio))
            x = blocks.inverted_residual(
                x, filters=filters, kernel=stage.kernel, stride=block_stride,
                expand=stage.expand, activation_kind=act, name=f"block{index}",
                se_filters=se_filters, drop_rate=drop_connect_rate * index / total,
                residual=block_stride == 1 and declared_in == filters)
            declared_in = filters
            stride *= block_stride
            features[stride] = x
            index += 1
    if head:
        x = blocks.conv_bn_act(x, filters=HEAD_FILTERS if lite else round_filters(HEAD_FILTERS, width),
                               kernel=1, activation_kind=act, name="head")
        features[stride] = x
    return x, features


def _build(name: str, *, input_shape, num_classes, include_top, width, depth, dropout, lite,
           drop_connect_rate, stem_norm=False):
    from tf_keras import Model

    from edgecv.models import blocks

    shape = check_input_shape(name, input_shape)
    num_classes = check_positive(name, "num_classes", num_classes, integer=True)
    if not 0 <= dropout < 1 or not 0 <= drop_connect_rate < 1:
        raise ModelError(f"{name}: dropout and drop_connect_rate must be in [0, 1), "
                         f"got {dropout!r} and {drop_connect_rate!r}")
    inputs = blocks.model_input(shape)
    x = inputs
    if stem_norm:
        # keras' in-graph input Normalization, set by models.pretrained from keras' file
        x = blocks.input_affine(x, name="stem_norm")
    x, _ = efficientnet_backbone(x, width=width, depth=depth, lite=lite,
                                 drop_connect_rate=drop_connect_rate)
    if include_top:
        x = blocks.classifier_head(x, num_classes=num_classes, dropout=dropout)
    return Model(inputs, x, name=name)


def phi_resolution(phi: float) -> int:
    """Default input size for compound coefficient phi: 224 * 1.15^phi, a multiple of 8."""
    return make_divisible(224 * compound_coefficients(phi)[2], 8)


@MODELS.register("efficientnet", task="classification", input_shape=(224, 224, 3),
                 family="efficientnet")
def efficientnet(*, phi: float = 0.0, input_shape=None, num_classes: int = 1000,
                 include_top: bool = True, dropout: float = 0.2, lite: bool = False,
                 drop_connect_rate: float = DROP_CONNECT_RATE):
    """EfficientNet scaled by the paper's compound rule: depth 1.2^phi, width 1.1^phi,
    resolution 1.15^phi (default input 224 * 1.15^phi). The published b1..b7 use
    hand-picked coefficients instead: use `efficientnet_b*` for those."""
    if not isinstance(phi, (int, float)) or isinstance(phi, bool) or phi < 0:
        raise ModelError(f"efficientnet: phi must be a number >= 0, got {phi!r}")
    depth, width, _ = compound_coefficients(phi)
    if input_shape is None:
        size = phi_resolution(phi)
        input_shape = (size, size, 3)
    return _build(f"efficientnet_phi{phi:g}", input_shape=input_shape, num_classes=num_classes,
                  include_top=include_top, width=width, depth=depth, dropout=dropout, lite=lite,
                  drop_connect_rate=drop_connect_rate)


def _register(key: str, variant: Variant, lite: bool) -> None:
    name = f"efficientnet_{key}"
    size = variant.resolution

    def builder(*, input_shape=(size, size, 3), num_classes: int = 1000, include_top: bool = True,
                dropout: float = variant.dropout, drop_connect_rate: float = DROP_CONNECT_RATE,
                stem_norm: bool = False):
        return _build(name, input_shape=input_shape, num_classes=num_classes,
                      include_top=include_top, width=variant.width, depth=variant.depth,
                      dropout=dropout, lite=lite, drop_connect_rate=drop_connect_rate,
                      stem_norm=stem_norm)

    builder.__name__ = name
    builder.__doc__ = (f"EfficientNet-{key.capitalize()}: width {variant.width}, depth "
                       f"{variant.depth}, {size}x{size}, dropout {variant.dropout}"
                       + (" (Lite: no SE, ReLU6, fixed stem/head)." if lite else ".")
                       + " stem_norm: a fixed input affine layer (keras' Normalization; set by weights=).")
    extra = {} if lite else {"keras_weights": lambda kwargs: keras_weights(key)}
    MODELS.add(name, builder, task="classification", input_shape=(size, size, 3),
               family="efficientnet", **extra)


def keras_weights(key: str):
    """keras' EfficientNet-<key> include_top=False file (one per variant, any input size)."""
    from edgecv.models.pretrained import KerasWeights

    file = f"efficientnet{key}_notop.h5"
    return KerasWeights(file=file, url=KERAS_BASE_URL + file, file_hash=KERAS_NOTOP_HASHES[key],
                        adapter="normalization", build_kwargs=(("stem_norm", True),))


for _key, _variant in B_VARIANTS.items():
    _register(_key, _variant, lite=False)
for _key, _variant in LITE_VARIANTS.items():
    _register(_key, _variant, lite=True)
