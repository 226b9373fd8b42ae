"""edgecv.optimize.qat on small graphs holding every layer kind the zoo uses.

The full families are converted in test_models_zoo.py; these graphs are tiny so
each layer kind tfmot lacks a default for is checked quickly and in isolation.
"""
import numpy as np
import pytest

import edgecv  # noqa: F401
from edgecv.errors import ModelError
from tests.models_helpers import float_ops, run_tflite, to_tflite

SHAPE = (32, 32, 3)


def _images(n=4, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, *SHAPE)).astype("float32")


def _se_model():
    """Stem + MBConv with squeeze-excite (Multiply, sigmoid, swish) + residual + head."""
    import tf_keras as keras

    from edgecv.models import blocks

    inputs = blocks.model_input(SHAPE)
    x = blocks.conv_bn_act(inputs, filters=16, kernel=3, stride=2, activation_kind="swish", name="stem")
    x = blocks.inverted_residual(x, filters=16, kernel=3, stride=1, expand=4, activation_kind="swish",
                                 se_filters=4, drop_rate=0.1, name="block0")
    x = blocks.inverted_residual(x, filters=24, kernel=5, stride=2, expand=6, activation_kind="relu6",
                                 name="block1")
    x = blocks.classifier_head(x, num_classes=3, dropout=0.2)
    return keras.Model(inputs, x, name="se_net")


def _decoder_model():
    """Leaky conv, maxpool, transposed conv, concat, BN that no conv feeds, upsample, softmax."""
    import tf_keras as keras
    from tf_keras import layers

    from edgecv.models import blocks

    inputs = blocks.model_input(SHAPE)
    skip = blocks.conv_bn_act(inputs, filters=8, kernel=3, activation_kind="leaky", name="enc")
    x = layers.MaxPooling2D(2, strides=1, padding="same", name="pool_s1")(skip)
    x = layers.MaxPooling2D(2, name="pool")(x)
    x = layers.Conv2DTranspose(8, 2, strides=2, name="upconv")(x)
    x = layers.Concatenate(name="concat")([skip, x])
    x = layers.BatchNormalization(name="concat_bn")(x)
    x = layers.LeakyReLU(0.1, name="concat_act")(x)
    x = layers.Conv2D(4, 3, strides=2, padding="same", name="down")(x)
    x = layers.UpSampling2D(2, name="up")(x)
    x = layers.Conv2D(3, 1, name="logits")(x)
    x = layers.Softmax(name="predictions")(x)
    return keras.Model(inputs, x, name="decoder_net")


@pytest.fixture(scope="module", params=["se", "decoder"])
def qat_pair(request):
    from edgecv.optimize.qat import quantize

    model = _se_model() if request.param == "se" else _decoder_model()
    return model, quantize(model)


def test_quantize_keeps_layer_names_weights_and_outputs(qat_pair):
    model, qat = qat_pair
    wrapped = {layer.name for layer in qat.layers}
    for layer in model.layers:
        if layer.name != "image":
            assert f"quant_{layer.name}" in wrapped, layer.name
    # weight and activation ranges are only calibrated by training, so compare shapes here;
    # numbers are compared after training, against the int8 file
    assert qat.output_shape == model.output_shape
    assert qat.count_params() > model.count_params()  # + fake-quant min/max variables


def test_special_layers_get_output_quantizers(qat_pair):
    model, qat = qat_pair
    from edgecv.optimize.qat import OutputQuantizeConfig

    configs = {l.name: type(getattr(l, "quantize_config", None)).__name__ for l in qat.layers}
    if model.name == "se_net":
        assert configs["quant_block0_se_excite"] == OutputQuantizeConfig.__name__
    else:
        assert configs["quant_concat_bn"] == OutputQuantizeConfig.__name__


def test_trains_and_converts_to_full_int8(qat_pair):
    import tf_keras as keras

    model, qat = qat_pair
    x = _images(8, seed=1)
    y = np.random.default_rng(1).integers(0, 3, (8,) + tuple(qat.output_shape[1:-1]))
    qat.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    history = qat.fit(x, y, epochs=2, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    tflite = to_tflite(qat, int8=True, calibration=x)
    assert float_ops(tflite) == []
    probs = run_tflite(tflite, (x[:2] * 127.5 + 127.5).round())[0].astype(np.float32) / 255.0
    reference = qat(x[:2], training=False).numpy()
    assert np.abs(probs - reference).max() < 0.1  # one output quantum is 1/256


def test_saved_qat_model_loads_in_quantize_scope(qat_pair, tmp_path):
    import tf_keras as keras

    from edgecv.optimize.qat import quantize_scope

    _, qat = qat_pair
    path = tmp_path / "qat.h5"
    qat.save(path)
    with quantize_scope():
        loaded = keras.models.load_model(path)
    x = _images(2, seed=3)
    np.testing.assert_allclose(loaded(x, training=False).numpy(), qat(x, training=False).numpy(),
                               atol=1e-5)


def test_nested_model_is_refused():
    import tf_keras as keras

    from edgecv.optimize.qat import quantize

    inner = keras.Sequential([keras.layers.Conv2D(4, 3)], name="inner")
    inputs = keras.Input(SHAPE)
    outer = keras.Model(inputs, inner(inputs))
    with pytest.raises(ModelError, match="layer 'inner' is a nested model"):
        quantize(outer)
