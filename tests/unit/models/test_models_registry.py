"""Registry behaviour and parameter parity at the canonical configurations."""
import subprocess
import sys

import pytest

import edgecv
from edgecv.errors import ModelError
from edgecv.models import create_model, list_models, model_info


def test_list_models_filters_by_pattern():
    names = list_models()
    assert {"mobilenet_v1", "mobilenet_v2"} <= set(names)
    assert list_models("mobilenet*") == ["mobilenet_v1", "mobilenet_v2"]
    assert list_models("nothing*") == []
    assert edgecv.list_models("mobilenet_v2") == ["mobilenet_v2"]


def test_importing_the_zoo_does_not_import_tensorflow():
    code = "import sys, edgecv.models; print('tensorflow' in sys.modules, 'tf_keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_unknown_model_suggests_close_name():
    with pytest.raises(ModelError, match=r"unknown model 'mobilenet_v3'; did you mean mobilenet_v2\?"):
        create_model("mobilenet_v3")


def test_unknown_argument_is_named():
    with pytest.raises(ModelError, match=r"model 'mobilenet_v2': unknown argument 'alhpa'; did you mean alpha\?"):
        create_model("mobilenet_v2", alhpa=0.5)


@pytest.mark.parametrize("kwargs, message", [
    ({"alpha": -1}, r"mobilenet_v2: alpha must be a positive number, got -1"),
    ({"num_classes": 0}, r"mobilenet_v2: num_classes must be a positive integer, got 0"),
    ({"input_shape": (16, 16, 3)}, r"mobilenet_v2: input_shape \[16, 16, 3\] is smaller than 32x32"),
    ({"input_shape": (64, 64)}, r"mobilenet_v2: input_shape must be \[H, W, C\]"),
])
def test_bad_values_raise_model_error(kwargs, message):
    with pytest.raises(ModelError, match=message):
        create_model("mobilenet_v2", **kwargs)


def test_none_kwargs_mean_default():
    model = create_model("mobilenet_v2", alpha=None, input_shape=(32, 32, 3), num_classes=3,
                         dropout=None)
    assert model.output_shape == (None, 3)
    assert model_info("mobilenet_v2")["input_shape"] == (224, 224, 3)


@pytest.mark.parametrize("name, expected", [
    ("mobilenet_v2", 3_538_984),  # tf_keras.applications.MobileNetV2(weights=None)
    ("mobilenet_v1", 4_253_864),  # tf_keras.applications.MobileNet(weights=None)
])
def test_parameter_parity_with_keras_applications(name, expected):
    assert create_model(name).count_params() == expected


@pytest.mark.parametrize("alpha, shape, classes", [(0.35, (96, 96, 3), 5), (1.4, (64, 64, 3), 7)])
def test_mobilenet_v2_alpha_matches_reference(alpha, shape, classes):
    import tf_keras as keras

    ref = keras.applications.MobileNetV2(weights=None, alpha=alpha, input_shape=shape, classes=classes)
    ours = create_model("mobilenet_v2", alpha=alpha, input_shape=shape, num_classes=classes)
    assert ours.count_params() == ref.count_params()


def test_mobilenet_v1_alpha_and_depth_multiplier_match_reference():
    import tf_keras as keras

    ref = keras.applications.MobileNet(weights=None, alpha=0.5, depth_multiplier=2,
                                       input_shape=(64, 64, 3), classes=4)
    ours = create_model("mobilenet_v1", alpha=0.5, depth_multiplier=2, input_shape=(64, 64, 3),
                        num_classes=4)
    assert ours.count_params() == ref.count_params()


def test_include_top_false_gives_stride_32_features():
    model = create_model("mobilenet_v2", alpha=0.35, input_shape=(64, 96, 3), include_top=False)
    assert model.output_shape == (None, 2, 3, 1280)
    model = create_model("mobilenet_v1", alpha=0.25, input_shape=(64, 64, 3), include_top=False)
    assert model.output_shape == (None, 2, 2, 256)


def test_fixed_block_layer_names():
    names = {layer.name for layer in create_model("mobilenet_v2", alpha=0.35, input_shape=(32, 32, 3)).layers}
    assert {"block3_expand_conv", "block3_dw_conv", "block3_project_bn", "block2_add",
            "stem_conv", "head_conv", "predictions"} <= names
    assert "block0_expand_conv" not in names  # the first block has expansion 1


def test_pyramid_features_for_backbones():
    from edgecv.models.features import pyramid_model

    model = pyramid_model("mobilenet_v2", alpha=0.35, input_shape=(64, 64, 3))
    # the deepest layer at each resolution: the expansion before the next stride-2 block
    # (the taps of the TF MobileNetV2 segmentation examples), then the head conv
    assert [tuple(s) for s in model.output_shape] == [(None, 8, 8, 96), (None, 4, 4, 192),
                                                      (None, 2, 2, 1280)]
    assert [t.name.split("/")[0] for t in model.outputs] == [
        "block6_expand_act", "block13_expand_act", "head_act"]
    model = pyramid_model("efficientnet_lite0", strides=(16, 32), input_shape=(64, 64, 3))
    assert [tuple(s) for s in model.output_shape] == [(None, 4, 4, 672), (None, 2, 2, 1280)]
    with pytest.raises(ModelError, match="stride 3 does not divide the input size 64x64"):
        pyramid_model("mobilenet_v1", strides=(3,), alpha=0.25, input_shape=(64, 64, 3))
    with pytest.raises(ModelError, match="'unet' is a segmentation model"):
        pyramid_model("unet")


def test_detection_and_segmentation_feature_outputs():
    feats = create_model("tiny_yolo_v3", input_shape=(64, 64, 3), include_top=False)
    assert [tuple(s) for s in feats.output_shape] == [(None, 4, 4, 256), (None, 2, 2, 1024)]
    feats = create_model("unet", input_shape=(32, 32, 3), base_filters=4, depth=2, include_top=False)
    assert feats.output_shape == (None, 32, 32, 4)


@pytest.mark.parametrize("kwargs, message", [
    ({"activation": "swish"}, r"tiny_yolo_v3: activation must be one of leaky, relu6, got 'swish'"),
    ({"backbone": "resnet"}, r"tiny_yolo_v3: backbone must be one of darknet, mobilenet_v2, got 'resnet'"),
    ({"input_shape": (100, 100, 3)}, r"tiny_yolo_v3: input_shape \[100, 100, 3\]: height and width must be multiples of 32"),
])
def test_detection_argument_errors(kwargs, message):
    with pytest.raises(ModelError, match=message):
        create_model("tiny_yolo_v3", **kwargs)


def test_tiny_yolo_variants():
    relu6 = create_model("tiny_yolo_v3", input_shape=(64, 64, 3), num_classes=2, activation="relu6")
    kinds = {type(layer).__name__ for layer in relu6.layers}
    assert "LeakyReLU" not in kinds and "ReLU" in kinds
    mobile = create_model("tiny_yolo_v3", input_shape=(64, 64, 3), num_classes=2, num_anchors=4,
                          backbone="mobilenet_v2", alpha=0.35)
    assert [tuple(s) for s in mobile.output_shape] == [(None, 2, 2, 28), (None, 4, 4, 28)]
    v2 = create_model("tiny_yolo_v2")
    assert v2.output_shape == (None, 13, 13, 425)  # yolov2-tiny.cfg: 5 anchors x (5 + 80)


def test_efficientnet_phi_compound_scaling():
    from edgecv.models.efficientnet import phi_resolution

    assert phi_resolution(0) == 224 and phi_resolution(1) == 256  # 224 * 1.15 = 257.6 -> 256
    model = create_model("efficientnet", phi=1, num_classes=3)
    assert model.input_shape == (None, 256, 256, 3)
    assert model.get_layer("stem_conv").filters == 32          # round_filters(32, 1.1)
    assert model.get_layer("head_conv").filters == 1408        # round_filters(1280, 1.1)
    assert len([l for l in model.layers if l.name.endswith("_project_conv")]) == 23  # sum of ceil(1.2 * repeats)
    with pytest.raises(ModelError, match="efficientnet: phi must be a number >= 0, got -1"):
        create_model("efficientnet", phi=-1)
