"""ResNet v1 (He et al. 2015): 18 and 34 (basic blocks), 50 (bottleneck blocks).

ResNet-50 follows tf_keras.applications.ResNet50 layer for layer (conv biases, BN
epsilon 1.001e-5, stride on the first 1x1 conv, explicit stem padding), so keras'
ImageNet file loads onto it by position and the parameter count is keras' 25,636,712.
ResNet-18/34 follow the paper / torchvision (no conv biases: 11,689,512 and 21,797,672
parameters); keras publishes no weights for them.
"""
from __future__ import annotations

from edgecv.models.zoo import MODELS, check_input_shape, check_positive

BN_EPSILON = 1.001e-5                     # keras.applications.resnet
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)   # keras' "caffe" preprocessing for its ResNet files
KERAS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
# keras.applications.resnet WEIGHTS_HASHES["resnet50"][1] (include_top=False file)
KERAS_RESNET50_NOTOP_MD5 = "4d473c1dd8becc155b73f8504c6f6626"
# name -> (block kind, repeats per stage, conv biases)
VARIANTS = {
    "resnet18": ("basic", (2, 2, 2, 2), False),
    "resnet34": ("basic", (3, 4, 6, 3), False),
    "resnet50": ("bottleneck", (3, 4, 6, 3), True),
}


def resnet_stages(block: str, repeats):
    """Four stages of 64/128/256/512 filters; every stage but the first halves the grid.
    `expand` is the block's output channels / filters (bottleneck: 4)."""
    from edgecv.models.blocks import Stage

    return tuple(Stage(block=block, repeats=r, kernel=3, stride=1 if i == 0 else 2, filters=f,
                       expand=4 if block == "bottleneck" else 1)
                 for i, (r, f) in enumerate(zip(repeats, (64, 128, 256, 512))))


def _conv_bn(x, *, filters: int, kernel: int, stride: int = 1, padding: str = "same", use_bias: bool,
             name: str, relu: bool = True):
    from tf_keras import layers

    x = layers.Conv2D(filters, kernel, strides=stride, padding=padding, use_bias=use_bias,
                      name=f"{name}_conv")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x) if relu else x


def residual_block(x, *, kind: str, filters: int, stride: int, expand: int, use_bias: bool, name: str):
    """basic: 3x3 -> 3x3; bottleneck: 1x1 (strided) -> 3x3 -> 1x1 (x expand).
    The shortcut is a strided 1x1 conv + BN when the shape changes (keras' conv_shortcut)."""
    from tf_keras import layers

    out = filters * expand
    shortcut = x
    if stride != 1 or x.shape[-1] != out:
        shortcut = _conv_bn(x, filters=out, kernel=1, stride=stride, use_bias=use_bias,
                            name=f"{name}_shortcut", relu=False)
    if kind == "bottleneck":
        x = _conv_bn(x, filters=filters, kernel=1, stride=stride, use_bias=use_bias, name=f"{name}_1")
        x = _conv_bn(x, filters=filters, kernel=3, use_bias=use_bias, name=f"{name}_2")
        x = _conv_bn(x, filters=out, kernel=1, use_bias=use_bias, name=f"{name}_3", relu=False)
    else:
        x = _conv_bn(x, filters=filters, kernel=3, stride=stride, use_bias=use_bias, name=f"{name}_1")
        x = _conv_bn(x, filters=out, kernel=3, use_bias=use_bias, name=f"{name}_2", relu=False)
    x = layers.Add(name=f"{name}_add")([shortcut, x])    # keras' input order: shortcut first
    return layers.ReLU(name=f"{name}_out")(x)


def resnet_backbone(inputs, *, kind: str, repeats, use_bias: bool):
    """Stem (7x7/2 conv, 3x3/2 max pool) + residual stages: returns (last tensor, {stride: tensor})."""
    from tf_keras import layers

    # explicit padding like keras (pad 3 then valid 7x7/2; pad 1 then valid 3x3/2 pool):
    # 'same' would pad one pixel less at the top/left
    x = layers.ZeroPadding2D(3, name="stem_pad")(inputs)
    x = _conv_bn(x, filters=64, kernel=7, stride=2, padding="valid", use_bias=use_bias, name="stem")
    x = layers.ZeroPadding2D(1, name="stem_pool_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="stem_pool")(x)
    features, stride, index = {2: x}, 4, 0
    for stage in resnet_stages(kind, repeats):
        for repeat in range(stage.repeats):
            block_stride = stage.stride if repeat == 0 else 1
            x = residual_block(x, kind=kind, filters=stage.filters, stride=block_stride,
                               expand=stage.expand, use_bias=use_bias, name=f"block{index}")
            stride *= block_stride
            features[stride] = x
            index += 1
    return x, features


def _register(name: str) -> None:
    kind, repeats, use_bias = VARIANTS[name]

    def builder(*, input_shape=(224, 224, 3), num_classes: int = 1000, include_top: bool = True,
                stem_norm: bool = False):
        from tf_keras import Model

        from edgecv.models import blocks

        shape = check_input_shape(name, input_shape)
        classes = check_positive(name, "num_classes", num_classes, integer=True)
        inputs = blocks.model_input(shape)
        # keras' caffe preprocessing (BGR, mean subtracted) for its ImageNet file; set by weights=
        x = blocks.input_affine(inputs, name="stem_norm") if stem_norm else inputs
        x, _ = resnet_backbone(x, kind=kind, repeats=repeats, use_bias=use_bias)
        if include_top:
            x = blocks.classifier_head(x, num_classes=classes)
        return Model(inputs, x, name=f"{name}_{shape[0]}")

    builder.__name__ = name
    builder.__doc__ = (f"ResNet-{name[6:]} v1 ({kind} blocks {list(repeats)}). stem_norm: a fixed "
                       "input affine layer for keras' caffe-preprocessed weights (set by weights=).")
    extra = {"keras_weights": keras_weights_resnet50} if name == "resnet50" else {}
    MODELS.add(name, builder, task="classification", input_shape=(224, 224, 3), family="resnet", **extra)


def keras_weights_resnet50(kwargs: dict):
    from edgecv.models.pretrained import KerasWeights

    file = "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    return KerasWeights(file=file, url=KERAS_URL + file, file_hash=KERAS_RESNET50_NOTOP_MD5,
                        adapter="caffe", build_kwargs=(("stem_norm", True),))


for _name in VARIANTS:
    _register(_name)
