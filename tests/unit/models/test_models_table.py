"""`edgecv models`, the precomputed params/MACs table, parity and MACs vs published figures."""
import subprocess
import sys
import time

import pytest

from edgecv.cli import main
from edgecv.models import create_model, list_models, model_summary
from edgecv.cli.models import summary_rows
from edgecv.models.macs import count_macs, layer_macs
from edgecv.models.table import DEFAULT_SUMMARIES
from tests.models_helpers import FULL_ZOO

full_zoo = pytest.mark.skipif(not FULL_ZOO, reason="set EDGECV_FULL_ZOO=1 to build every variant")

# Published mult-adds at the canonical configuration (papers / keras docs).
PUBLISHED_MACS = {
    "mobilenet_v2": 300e6,     # MobileNetV2 1.0/224
    "mobilenet_v1": 569e6,     # MobileNet 1.0/224
    "efficientnet_b0": 390e6,  # EfficientNet-B0 (0.39B FLOPs in the paper's mult-add sense)
    "tiny_yolo_v3": 5.56e9 / 2,  # darknet yolov3-tiny: 5.56 BFLOPs at 416
    "resnet18": 1.8e9,         # He et al. 2015, Table 1 ("FLOPs" = mult-adds)
    "resnet34": 3.6e9,
    "resnet50": 3.8e9,
    "inception_v3": 5.7e9,     # timm inception_v3 model card: 5.7 GMACs at 299x299
}

# Trainable parameters of tf_keras.applications.EfficientNetB0..B7(weights=None)
# (their Rescaling/Normalization layers are non-trainable; edgecv has none).
KERAS_EFFICIENTNET_TRAINABLE = {
    "efficientnet_b0": 5_288_548,
    "efficientnet_b1": 7_794_184,
    "efficientnet_b2": 9_109_994,
    "efficientnet_b3": 12_233_232,
    "efficientnet_b4": 19_341_616,
    "efficientnet_b5": 30_389_784,
    "efficientnet_b6": 43_040_704,
    "efficientnet_b7": 66_347_960,
}


def _trainable(model):
    return sum(int(w.shape.num_elements()) for w in model.trainable_weights)


def test_table_covers_every_registered_model():
    assert sorted(DEFAULT_SUMMARIES) == list_models()


@pytest.mark.parametrize("name, expected", [
    ("mobilenet_v2", 3_538_984), ("mobilenet_v1", 4_253_864), ("tiny_yolo_v3", 8_858_734),
    ("resnet50", 25_636_712), ("inception_v3", 23_851_784),    # keras.applications at 1000 classes
])
def test_table_holds_reference_param_counts(name, expected):
    assert model_summary(name)["params"] == expected


@pytest.mark.parametrize("name", ["mobilenet_v2", "tiny_yolo_v3", "unet_mobilenet_v2",
                                  "efficientnet_lite0"])
def test_table_matches_a_fresh_build(name):
    model = create_model(name)
    assert DEFAULT_SUMMARIES[name] == (model.count_params(), count_macs(model))


@pytest.mark.slow
@full_zoo
@pytest.mark.parametrize("name", list_models())
def test_table_matches_a_fresh_build_all(name):
    model = create_model(name)
    assert DEFAULT_SUMMARIES[name] == (model.count_params(), count_macs(model))


@pytest.mark.parametrize("name", sorted(PUBLISHED_MACS))
def test_macs_within_5_percent_of_published(name):
    macs = model_summary(name)["macs"]
    assert abs(macs - PUBLISHED_MACS[name]) / PUBLISHED_MACS[name] < 0.05, macs


def test_layer_macs_hand_computed():
    import tf_keras as keras

    x = keras.Input((8, 8, 4))
    conv = keras.layers.Conv2D(6, 3, strides=2, padding="same")
    dw = keras.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2)
    up = keras.layers.Conv2DTranspose(5, 2, strides=2)
    dense = keras.layers.Dense(7)
    y = up(dw(conv(x)))
    dense(keras.layers.Flatten()(y))
    assert layer_macs(conv) == 4 * 4 * 6 * 3 * 3 * 4    # out pixels * out ch * k*k * in ch
    assert layer_macs(dw) == 4 * 4 * 12 * 3 * 3         # out pixels * out ch * k*k
    assert layer_macs(up) == 4 * 4 * 12 * 2 * 2 * 5     # in pixels * in ch * k*k * out ch
    assert layer_macs(dense) == 8 * 8 * 5 * 7


# torchvision's published counts (its BN running statistics are buffers, not parameters)
TORCHVISION_RESNET = {"resnet18": 11_689_512, "resnet34": 21_797_672}


@pytest.mark.parametrize("name", sorted(TORCHVISION_RESNET))
def test_resnet_basic_trainable_parity(name):
    assert _trainable(create_model(name)) == TORCHVISION_RESNET[name]


@pytest.mark.parametrize("name, app", [("resnet50", "ResNet50"), ("inception_v3", "InceptionV3")])
def test_params_equal_keras_applications(name, app):
    import tf_keras as keras

    ref = getattr(keras.applications, app)(weights=None)
    assert create_model(name).count_params() == ref.count_params() == DEFAULT_SUMMARIES[name][0]
    assert _trainable(create_model(name)) == _trainable(ref)


@pytest.mark.parametrize("name", ["efficientnet_b0", "efficientnet_b3"])
def test_efficientnet_trainable_parity(name):
    assert _trainable(create_model(name)) == KERAS_EFFICIENTNET_TRAINABLE[name]


@pytest.mark.slow
@full_zoo
@pytest.mark.parametrize("name", sorted(KERAS_EFFICIENTNET_TRAINABLE))
def test_efficientnet_trainable_parity_against_keras_applications(name):
    import tf_keras as keras

    ref = getattr(keras.applications, f"EfficientNetB{name[-1]}")(weights=None)
    assert _trainable(ref) == KERAS_EFFICIENTNET_TRAINABLE[name]
    assert _trainable(create_model(name)) == KERAS_EFFICIENTNET_TRAINABLE[name]


def test_lite_variants_follow_the_edge_release():
    # tensorflow/tpu EfficientNet-Lite: 4.7M (lite0) ... 13.0M (lite4) parameters
    assert round(model_summary("efficientnet_lite0")["params"] / 1e6, 1) == 4.7
    assert round(model_summary("efficientnet_lite4")["params"] / 1e6, 1) == 13.1
    model = create_model("efficientnet_lite2", input_shape=(64, 64, 3), num_classes=3)
    kinds = {type(layer).__name__ for layer in model.layers}
    assert "Multiply" not in kinds and "Activation" not in kinds  # no SE, no swish
    assert model.get_layer("stem_conv").filters == 32               # stem not scaled
    assert model.get_layer("head_conv").filters == 1280             # head not scaled


def test_summary_rows_and_cli_table(capsys):
    rows = summary_rows("mobilenet*")
    assert rows == [
        ("mobilenet_v1", "classification", "224x224x3", "4,253,864", "568.7M"),
        ("mobilenet_v2", "classification", "224x224x3", "3,538,984", "300.8M"),
    ]
    assert main(["models", "tiny_yolo*"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["name", "task", "input", "params", "MACs"]
    assert out[2].split() == ["tiny_yolo_v2", "detection", "416x416x3", "11,237,145", "2,703.2M"]
    assert out[3].split()[:4] == ["tiny_yolo_v3", "detection", "416x416x3", "8,858,734"]


def test_cli_unknown_pattern_is_a_user_error(capsys):
    assert main(["models", "mobilenet_v9"]) == 2
    assert "error: no registered model matches 'mobilenet_v9'; did you mean mobilenet_v2?" in capsys.readouterr().err


def test_edgecv_models_runs_fast_without_tensorflow():
    start = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "edgecv.cli", "models"], capture_output=True,
                         text=True, timeout=60)
    elapsed = time.monotonic() - start
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 2 + len(list_models())
    assert elapsed < 20  # the limit; in practice well under a second of work
