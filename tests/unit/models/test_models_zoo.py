"""Registry-driven checks: every registered model builds small, has the right outputs,
unique layer names, and round-trips through get_config/from_config; a representative
of each family convert to float32 TFLite matching Keras, and QAT-wrap and convert
to full int8 with every operator on integer tensors. All variants: EDGECV_FULL_ZOO=1 pytest -m slow tests/test_models_zoo.py.
"""
import numpy as np
import pytest

from edgecv.models import list_models, model_info
from tests.models_helpers import (
    FULL_ZOO, REPRESENTATIVES, SLOW_CONVERSIONS, build_small, expected_output_shapes, float_ops, output_shapes, run_tflite,
    sample_images, small_shape, to_tflite,
)

ALL = list_models()
OTHERS = [n for n in ALL if n not in REPRESENTATIVES]


def _representatives(kind: str) -> list:
    return [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_CONVERSIONS[kind] else n
            for n in REPRESENTATIVES]


@pytest.fixture(autouse=True)
def _fresh_keras_session():
    """Drop each test's graphs: converting every variant in one process otherwise grew
    past 17 GB of RSS by EfficientNet-B4."""
    yield
    import gc

    import tf_keras as keras

    keras.backend.clear_session()
    gc.collect()


def test_every_family_is_registered():
    assert {"mobilenet_v1", "mobilenet_v2", "efficientnet", "tiny_yolo_v2", "tiny_yolo_v3",
            "unet", "unet_mobilenet_v2", "resnet18", "resnet34", "resnet50", "inception_v3"} <= set(ALL)
    assert list_models("efficientnet_b*") == [f"efficientnet_b{i}" for i in range(8)]
    assert list_models("efficientnet_lite*") == [f"efficientnet_lite{i}" for i in range(5)]
    for name in ALL:
        info = model_info(name)
        assert info["task"] in ("classification", "detection", "segmentation"), name
        assert len(info["input_shape"]) == 3


@pytest.mark.parametrize("name", ALL)
def test_builds_small_with_right_outputs_and_unique_names(name):
    import tf_keras as keras

    model = build_small(name)
    assert output_shapes(model) == expected_output_shapes(name)
    names = [layer.name for layer in model.layers]
    assert len(names) == len(set(names)), f"duplicate layer names in {name}"
    assert not any(isinstance(layer, keras.Model) for layer in model.layers), "nested model"
    # one normalisation convention: no Rescaling inside the model
    assert not any("Rescaling" in type(layer).__name__ for layer in model.layers)

    clone = keras.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    assert [l.name for l in clone.layers] == names
    x = sample_images(2, shape=small_shape(name))
    for a, b in zip(_as_list(model(x, training=False)), _as_list(clone(x, training=False))):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)


def test_task_outputs_are_probabilities():
    x = sample_images(2)
    for name in ("mobilenet_v2", "unet"):
        probs = build_small(name)(x, training=False).numpy()
        np.testing.assert_allclose(probs.sum(axis=-1), 1.0, atol=1e-5)
    raw = _as_list(build_small("tiny_yolo_v3")(x, training=False))
    assert min(float(r.numpy().min()) for r in raw) < 0  # raw logits, no activation


def _as_list(outputs):
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def _check_float_tflite(name):
    model = build_small(name)
    x = sample_images(3, seed=1, shape=small_shape(name))
    expected = [o.numpy() for o in _as_list(model(x, training=False))]
    got = run_tflite(to_tflite(model), x)
    assert len(got) == len(expected)
    # match outputs by shape: TFLite may order multiple outputs differently
    for e in expected:
        candidates = [g for g in got if g.shape == e.shape]
        assert min(float(np.abs(g - e).max()) for g in candidates) <= 1e-4, name


def _check_qat_int8(name):
    import tf_keras as keras

    from edgecv.optimize.qat import quantize

    model = build_small(name)
    qat = quantize(model)
    x = sample_images(4, seed=2, shape=small_shape(name))
    # a couple of training steps with a dummy loss on the raw outputs proves the
    # wrapped graph trains (fake-quant ranges and weights update)
    qat.compile(optimizer=keras.optimizers.SGD(1e-3), loss="mse")
    targets = [np.zeros((4, *s[1:]), "float32") for s in output_shapes(qat)]
    before = [w.numpy().copy() for w in qat.trainable_weights[:3]]
    qat.fit(x, targets if len(targets) > 1 else targets[0], epochs=1, batch_size=2, verbose=0)
    assert any(not np.array_equal(b, w.numpy()) for b, w in zip(before, qat.trainable_weights[:3]))
    int8 = to_tflite(qat, int8=True, calibration=x)
    assert float_ops(int8) == [], name
    outputs = run_tflite(int8, (x[:1] * 127.5 + 127.5).round())
    assert all(o.dtype == np.uint8 for o in outputs)


@pytest.mark.parametrize("name", _representatives("float32"))
def test_float32_tflite_matches_keras(name):
    _check_float_tflite(name)


@pytest.mark.parametrize("name", _representatives("int8"))
def test_qat_wraps_and_converts_to_full_int8(name):
    _check_qat_int8(name)


@pytest.mark.slow
@pytest.mark.skipif(not FULL_ZOO, reason="set EDGECV_FULL_ZOO=1 to convert every variant")
@pytest.mark.parametrize("name", OTHERS)
def test_float32_tflite_matches_keras_all_variants(name):
    _check_float_tflite(name)


@pytest.mark.slow
@pytest.mark.skipif(not FULL_ZOO, reason="set EDGECV_FULL_ZOO=1 to convert every variant")
@pytest.mark.parametrize("name", OTHERS)
def test_qat_int8_all_variants(name):
    _check_qat_int8(name)
