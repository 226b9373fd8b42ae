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
