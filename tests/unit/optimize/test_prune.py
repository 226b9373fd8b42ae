"""Pruning: achieved sparsity vs target per layer, gzip sizes, int8 export of the
pruned model agrees with Keras, 2:4 structure, and PQAT keeps the zeros."""
from __future__ import annotations

import json

import numpy as np
import pytest

import edgecv  # noqa: F401
import tensorflow as tf
import tf_keras as keras

from edgecv.recipe import validate_recipe
from edgecv.tasks.classification import TASK
from edgecv.train import run_stages

TARGET = 0.5


def images(n: int, seed: int):
    """uint8 images (two classes: a bright square or not) and their labels."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n).astype(np.int32)
    x = rng.normal(100, 25, (n, 32, 32, 3))
    x[y == 1, 8:24, 8:24, :] += 80
    return np.clip(x, 0, 255).astype(np.uint8), y


def dataset(n: int, seed: int) -> tf.data.Dataset:
    x, y = images(n, seed)
    return tf.data.Dataset.from_tensor_slices((x.astype(np.float32) / 127.5 - 1.0, y)).batch(16)


def net() -> keras.Model:
    inputs = keras.Input((32, 32, 3))
    h = keras.layers.Conv2D(8, 3, strides=2, name="c1")(inputs)
    h = keras.layers.BatchNormalization(name="bn1")(h)
    h = keras.layers.ReLU(name="r1")(h)
    h = keras.layers.Conv2D(16, 3, strides=2, name="c2")(h)
    h = keras.layers.BatchNormalization(name="bn2")(h)
    h = keras.layers.ReLU(name="r2")(h)
    h = keras.layers.Conv2D(32, 1, name="c3")(h)
    h = keras.layers.ReLU(name="r3")(h)
    h = keras.layers.GlobalAveragePooling2D(name="avg_pool")(h)
    h = keras.layers.Dense(2, name="logits")(h)
    return keras.Model(inputs, keras.layers.Softmax(name="predictions")(h))


def recipe(**extra):
    raw = {"name": "p", "task": "classification", "model": {"arch": "mobilenet_v2"},
           "data": {"train": {"format": "synthetic_shapes"}},
           "train": {"epochs": 2, "learning_rate": 0.01},
           "prune": {"epochs": 2, "target_sparsity": TARGET, "learning_rate": 0.001}, **extra}
    return validate_recipe(raw)


@pytest.fixture(scope="module")
def pruned_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("pruned")
    result = run_stages(recipe(), out, model=net, train_data=dataset(160, 0), val_data=dataset(64, 1), task=TASK)
    return out, result


def test_sparsity_report_within_one_point_of_target(pruned_run):
    out, result = pruned_run
    report = json.loads((out / "train" / "sparsity.json").read_text())
    assert report == result.sparsity
    assert set(report["layers"]) == {"c1", "c2", "c3", "logits"}
    for name, layer in report["layers"].items():
        assert abs(layer["sparsity"] - TARGET) <= 0.01, name
        kernel = result.model.get_layer(name).kernel.numpy()
        assert layer["zeros"] == int((kernel == 0).sum()) and layer["weights"] == kernel.size
    assert abs(report["achieved_sparsity"] - TARGET) <= 0.01
    sizes = report["size"]
    assert sizes["pruned"]["tflite_gzip_bytes"] < sizes["unpruned"]["tflite_gzip_bytes"]
    assert sizes["pruned"]["tflite_bytes"] == pytest.approx(sizes["unpruned"]["tflite_bytes"], rel=0.05)


def test_returned_model_is_stripped(pruned_run):
    _, result = pruned_run
    assert not any("prune_low_magnitude" in layer.name for layer in result.model.layers)
    assert not result.quantized


def test_int8_export_of_pruned_model_agrees_with_keras(pruned_run, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    _, result = pruned_run
    x_uint8, labels = images(64, 1)
    x_float = x_uint8.astype(np.float32) / 127.5 - 1.0

    def representative():
        for i in range(32):
            yield [x_float[i: i + 1]]

    converter = tf.lite.TFLiteConverter.from_keras_model(result.model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.uint8
    converter.inference_output_type = tf.uint8
    interpreter = Interpreter(model_content=converter.convert())
    interpreter.allocate_tensors()
    inp, outp = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    tflite_pred = []
    for image in x_uint8:
        interpreter.set_tensor(inp["index"], image[None])  # scale 1/127.5, zero point 128 = raw pixels
        interpreter.invoke()
        tflite_pred.append(int(interpreter.get_tensor(outp["index"])[0].argmax()))
    keras_pred = result.model.predict(x_float, verbose=0).argmax(axis=1)
    keras_acc, tflite_acc = np.mean(keras_pred == labels), np.mean(np.array(tflite_pred) == labels)
    assert keras_acc > 0.9
    assert abs(keras_acc - tflite_acc) <= 0.03
    assert np.mean(keras_pred == np.array(tflite_pred)) >= 0.95


def test_pqat_after_prune_keeps_sparsity(pruned_run, capsys):
    out, first = pruned_run
    pruned_kernels = {name: first.model.get_layer(name).kernel.numpy().copy() for name in ("c2", "c3", "logits")}
    # Resume the finished run with a QAT stage added: train/prune are loaded, only qat runs.
    rec = recipe(qat={"epochs": 1, "learning_rate": 0.001})
    result = run_stages(rec, out, model=net, train_data=dataset(160, 0), val_data=dataset(64, 1), task=TASK,
                        resume=True)
    printed = capsys.readouterr().out
    assert "[train] already finished" in printed and "[prune] already finished" in printed
    assert [r["stage"] for r in result.history].count("qat") == 1
    assert result.quantized
    wrappers = {layer.layer.name: layer for layer in result.model.layers if hasattr(layer, "layer")}
    for name, before in pruned_kernels.items():
        # QuantizeWrapper swaps `layer.kernel` for a fake-quant tensor; read the variable itself.
        after = next(w for w in wrappers[name].trainable_weights if w.name.endswith("kernel:0")).numpy()
        assert np.mean(after == 0) >= TARGET - 0.01, name
        assert np.all(after[before == 0] == 0), name  # the same weights stay pruned
        assert not np.array_equal(after, before), name  # and QAT did train


def test_structured_2_of_4_sparsity(tmp_path):
    from edgecv.optimize.prune import layer_sparsity, prune_model, pruning_callbacks

    spec = recipe(prune={"epochs": 1, "structured": True}).prune
    model = net()
    pruned = prune_model(model, spec, total_steps=10)
    pruned.compile("adam", "sparse_categorical_crossentropy")
    pruned.fit(dataset(160, 0), epochs=1, callbacks=pruning_callbacks(), verbose=0)
    report = layer_sparsity(model, structured=True)
    assert set(report) == {"c2", "c3", "logits"}  # the RGB stem (3 input channels) cannot be 2:4
    for name in report:
        kernel = model.get_layer(name).kernel.numpy()
        groups = np.moveaxis(kernel, -2, -1).reshape(-1, 4)  # 4 consecutive input channels
        assert (np.sum(groups == 0, axis=1) >= 2).all(), name


def test_pqat_wraps_conv_transpose_and_keeps_its_zeros():
    """tfmot's prune-preserving scheme refuses Conv2DTranspose (U-Net, Tiny-YOLO); edgecv
    gives it the default 8-bit config and the keep-zeros callback holds its zeros."""
    from edgecv.optimize.pqat import keep_zeros_callback, unmasked_pruned_kernels
    from edgecv.optimize.qat import quantize

    inputs = keras.Input((16, 16, 3))
    h = keras.layers.Conv2D(8, 3, strides=2, padding="same", name="down")(inputs)
    h = keras.layers.ReLU(name="r1")(h)
    h = keras.layers.Conv2DTranspose(4, 3, strides=2, padding="same", name="up")(h)
    model = keras.Model(inputs, keras.layers.Conv2D(2, 1, name="logits")(h))
    rng = np.random.default_rng(0)
    for name in ("down", "up", "logits"):  # half of every kernel zero, as a finished prune leaves it
        layer = model.get_layer(name)
        kernel = layer.kernel.numpy()
        kernel[rng.random(kernel.shape) < 0.5] = 0
        layer.kernel.assign(kernel)
    zeros_before = model.get_layer("up").kernel.numpy() == 0

    qat = quantize(model, preserve_sparsity=True)
    wrapped = {layer.layer.name for layer in qat.layers if hasattr(layer, "layer")}
    assert {"down", "up", "logits"} <= wrapped
    unmasked = unmasked_pruned_kernels(qat, ["down", "up", "logits"])
    # tfmot masks `logits`; `down` (Conv2D + ReLU gets a no-op config) and `up` are left to the callback.
    assert [v.name.split("/")[0] for v in unmasked] == ["down", "up"]

    x = rng.normal(size=(32, 16, 16, 3)).astype(np.float32)
    y = rng.integers(0, 2, (32, 16, 16)).astype(np.int32)
    qat.compile(keras.optimizers.Adam(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    qat.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[keep_zeros_callback(unmasked)])
    after = unmasked[1].numpy()
    assert np.all(after[zeros_before] == 0)
    assert not np.allclose(after[~zeros_before], model.get_layer("up").kernel.numpy()[~zeros_before])
