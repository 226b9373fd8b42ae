"""Fine-tuning regimes (frozen backbone + head, top-N blocks, full) and init_from's refusals."""
from __future__ import annotations

import numpy as np
import pytest

import edgecv  # noqa: F401
import tensorflow as tf
import tf_keras as keras

from edgecv.errors import ModelError
from edgecv.models import create_model
from edgecv.recipe import validate_recipe
from edgecv.tasks.classification import TASK
from edgecv.train import run_stages
from edgecv.train.transfer import backbone_blocks, block_of, init_from, unfreeze_top


def blobs(n: int, seed: int) -> tf.data.Dataset:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n).astype(np.int32)
    x = rng.normal(0.0, 0.3, (n, 32, 32, 3)).astype(np.float32)
    x[y == 1, 8:24, 8:24, :] += 1.0
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(16)


def small_net():
    return create_model("mobilenet_v2", alpha=0.35, input_shape=(32, 32, 3), num_classes=2)


def recipe(**sections):
    raw = {"name": "t", "task": "classification",
           "model": {"arch": "mobilenet_v2", "alpha": 0.35, "input_shape": [32, 32, 3], "freeze": "backbone"},
           "data": {"train": {"format": "synthetic_shapes"}},
           "train": {"epochs": 1, "learning_rate": 0.01, "steps_per_epoch": 3}}
    raw.update(sections)
    return validate_recipe(raw)


def snapshot(model):
    return {layer.name: [w.copy() for w in layer.get_weights()] for layer in model.layers if layer.weights}


def same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b))


def test_backbone_blocks_follow_the_fixed_layer_names():
    blocks = backbone_blocks(small_net())
    assert blocks == ["stem", *[f"block{i}" for i in range(17)], "head"]
    assert block_of("block3_expand_bn") == "block3" and block_of("mixed7_b1_2_conv") == "mixed7"
    inception = create_model("inception_v3", input_shape=(75, 75, 3), num_classes=2)
    assert backbone_blocks(inception) == ["stem", *[f"mixed{i}" for i in range(11)]]


def test_frozen_backbone_then_top_blocks(tmp_path):
    """train with a frozen backbone: backbone weights and BN statistics bit-identical;
    finetune unfreeze 2: only the top two blocks (and the head) change."""
    model = small_net()
    before = snapshot(model)
    rec = recipe()
    run_stages(rec, tmp_path / "a", model=model, train_data=blobs(64, 0), val_data=blobs(32, 1), task=TASK,
               echo=lambda _: None)
    after_train = snapshot(model)
    for name, weights in before.items():
        if name == "logits":
            assert not same(weights, after_train[name])
        else:
            assert same(weights, after_train[name]), name          # kernels, gamma/beta, moving stats

    rec = recipe(finetune={"epochs": 1, "learning_rate": 0.001, "unfreeze": 2, "steps_per_epoch": 3})
    model2 = small_net()
    model2.set_weights(model.get_weights())
    start = snapshot(model2)
    lines = []
    run_stages(rec, tmp_path / "b", model=model2, train_data=blobs(64, 0), val_data=blobs(32, 1), task=TASK,
               echo=lines.append)
    assert any("finetune: training the head and 2/19 backbone blocks (block16..head)" in l for l in lines)
    end = snapshot(model2)
    for name, weights in start.items():
        block = block_of(name)
        if block in ("block16", "head") or name == "logits":
            assert not same(weights, end[name]), name
        else:
            assert same(weights, end[name]), name
    # BN of an unfrozen block trains (its moving statistics move); a frozen block's do not
    assert not np.array_equal(start["block16_project_bn"][2], end["block16_project_bn"][2])
    assert np.array_equal(start["block15_project_bn"][2], end["block15_project_bn"][2])


def test_unfreeze_all_and_none():
    model = small_net()
    assert unfreeze_top(model, "all", echo=lambda _: None) == []
    frozen = unfreeze_top(model, 0, echo=lambda _: None)
    assert [w.name.split("/")[0] for w in model.trainable_weights] == ["logits", "logits"]
    assert "block16_project_bn" in frozen
    with pytest.raises(ModelError, match="finetune.unfreeze"):
        unfreeze_top(model, -1)
    frozen = unfreeze_top(model, 2, echo=lambda _: None, train_bn=False)
    assert "block16_project_bn" in frozen and "block16_project_conv" not in frozen
    assert not model.get_layer("head_bn").trainable and model.get_layer("head_conv").trainable


@pytest.mark.slow
def test_prune_and_qat_after_each_regime(tmp_path):
    """frozen train -> finetune top 1 -> prune -> qat runs, and the QAT model converts to int8 (~1-2 min)."""
    from edgecv.export import export_model
    from edgecv.export.info import inspect_tflite

    rec = recipe(finetune={"epochs": 1, "unfreeze": 1, "steps_per_epoch": 2},
                 prune={"epochs": 1, "target_sparsity": 0.5, "steps_per_epoch": 2},
                 qat={"epochs": 1, "steps_per_epoch": 2})
    result = run_stages(rec, tmp_path, model=small_net, train_data=blobs(64, 0), val_data=blobs(32, 1),
                        task=TASK, echo=lambda _: None)
    assert result.stages == ["train", "finetune", "prune", "qat"] and result.quantized
    assert result.sparsity["achieved_sparsity"] > 0.3
    out = export_model(result.model, "int8", tmp_path / "m_int8.tflite")
    assert inspect_tflite(out.path)["float_ops"] == []


def test_recipe_finetune_section_is_checked():
    with pytest.raises(Exception, match="finetune.unfreeze"):
        recipe(finetune={"unfreeze": "some"})
    assert recipe(finetune={"unfreeze": 3}).finetune.unfreeze == 3
    assert recipe(finetune={}).finetune.unfreeze == "all"


# ---------------------------------------------------------------- init_from refusals
def test_init_from_refuses_a_file_that_mostly_does_not_match(tmp_path):
    """keras' own MobileNetV2 shares no layer name with edgecv's: refused, not 'loaded 2 layers'."""
    ref = keras.applications.MobileNetV2(weights=None, alpha=0.35, input_shape=(32, 32, 3), classes=2)
    ref.save(tmp_path / "keras.keras")
    ref.save_weights(str(tmp_path / "keras_weights.h5"))
    for path in (tmp_path / "keras.keras", tmp_path / "keras_weights.h5"):
        with pytest.raises(ModelError) as info:
            init_from(small_net(), path)
        message = str(info.value)
        assert "matches only 0 of" in message and "model.weights" in message and "\n" not in message


def test_init_from_a_weights_only_h5_loads_by_name(tmp_path):
    trained = small_net()
    trained.save_weights(str(tmp_path / "w.h5"))
    new = create_model("mobilenet_v2", alpha=0.35, input_shape=(32, 32, 3), num_classes=5)
    report = init_from(new, tmp_path / "w.h5", echo=lambda _: None)
    assert report["mismatched"] == ["logits"]
    assert np.array_equal(new.get_layer("block3_dw_conv").get_weights()[0],
                          trained.get_layer("block3_dw_conv").get_weights()[0])


def test_init_from_a_run_dir_takes_the_model_as_trained_over_a_cut_model_keras(tmp_path):
    """An embedding run that ships a cut (`features:`) keeps the whole trained model as
    model_trained.keras; a run directory resolves to it, and model.keras named directly is
    refused pointing at it."""
    trained = small_net()
    cut = keras.Model(trained.input, trained.get_layer("block2_add").output, name="cut")
    run = tmp_path / "run"
    run.mkdir()
    trained.save(run / "model_trained.keras")
    cut.save(run / "model.keras")

    new = small_net()
    report = init_from(new, run, echo=lambda _: None)
    assert report["mismatched"] == [] and report["missing"] == []
    assert np.array_equal(new.get_layer("logits").get_weights()[0], trained.get_layer("logits").get_weights()[0])
    with pytest.raises(ModelError, match=rf"matches only \d+ of .*\({run / 'model_trained.keras'} is the "
                                         r"run's model as trained\)"):
        init_from(small_net(), run / "model.keras")
