"""Stage runner: schedules, optimizers, BN momentum, history/TensorBoard files,
early stopping with best restore, determinism, transfer learning."""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass

import numpy as np
import pytest

import edgecv  # noqa: F401
import tensorflow as tf
import tf_keras as keras

from edgecv.errors import ModelError
from edgecv.recipe import validate_recipe
from edgecv.tasks.classification import TASK
from edgecv.train import run_stages
from edgecv.train.optim import StageSchedule, make_optimizer
from edgecv.train.transfer import freeze, head_layers, init_from, set_bn_momentum


def blobs(n: int, seed: int, batch: int = 16) -> tf.data.Dataset:
    """Two classes: class 1 has a bright square in the middle."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n).astype(np.int32)
    x = rng.normal(0.0, 0.3, (n, 32, 32, 3)).astype(np.float32)
    x[y == 1, 8:24, 8:24, :] += 1.0
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch)


def tiny_net(classes: int = 2) -> keras.Model:
    inputs = keras.Input((32, 32, 3))
    h = keras.layers.Conv2D(8, 3, strides=2, name="c1")(inputs)
    h = keras.layers.BatchNormalization(name="bn1")(h)
    h = keras.layers.ReLU(name="r1")(h)
    h = keras.layers.Conv2D(16, 3, strides=2, name="c2")(h)
    h = keras.layers.BatchNormalization(name="bn2")(h)
    h = keras.layers.ReLU(name="r2")(h)
    h = keras.layers.GlobalAveragePooling2D(name="avg_pool")(h)
    h = keras.layers.Dense(classes, name="logits")(h)
    return keras.Model(inputs, keras.layers.Softmax(name="predictions")(h))


def recipe(**sections):
    raw = {"name": "t", "task": "classification", "model": {"arch": "mobilenet_v2"},
           "data": {"train": {"format": "synthetic_shapes"}}, "train": {"epochs": 2, "learning_rate": 0.01}}
    for key, value in sections.items():
        raw[key] = value
    return validate_recipe(raw)


def run(tmp_path, rec, *, factory=tiny_net, resume=False, val=True, task=TASK, **kw):
    return run_stages(rec, tmp_path, model=factory, train_data=blobs(128, 0), val_data=blobs(64, 1) if val else None,
                      task=task, resume=resume, **kw)


# ---------------------------------------------------------------- schedules / optimizers
def test_cosine_schedule_with_warmup_matches_hand_values():
    s = StageSchedule(0.1, total_steps=110, warmup_steps=10, kind="cosine")
    assert float(s(0)) == pytest.approx(0.01)           # (0 + 1) / 10 of the peak
    assert float(s(9)) == pytest.approx(0.1)
    assert float(s(10)) == pytest.approx(0.1)           # decay starts after warmup
    assert float(s(60)) == pytest.approx(0.05)          # half way: 0.5 * (1 + cos(pi/2))
    assert float(s(110)) == pytest.approx(0.0, abs=1e-9)


def test_step_and_constant_schedules():
    step = StageSchedule(1.0, total_steps=100, kind="step")
    assert [float(step(i)) for i in (0, 49, 50, 74, 75, 99)] == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])
    const = StageSchedule(0.3, total_steps=100, warmup_steps=4, kind="constant")
    assert [float(const(i)) for i in (0, 3, 4, 99)] == pytest.approx([0.075, 0.3, 0.3, 0.3])


@pytest.mark.parametrize("name, cls, momentum, decay", [
    ("adam", keras.optimizers.Adam, None, None),
    ("sgd", keras.optimizers.SGD, 0.8, None),
    ("adamw", keras.optimizers.AdamW, None, 0.01),
])
def test_make_optimizer(name, cls, momentum, decay):
    spec = recipe(train={"optimizer": name, "momentum": 0.8, "weight_decay": 0.01 if decay else 0.0}).train
    opt = make_optimizer(spec, 0.1)
    assert type(opt) is cls
    if momentum is not None:
        assert opt.momentum == momentum
    if decay is not None:
        assert opt.weight_decay == decay


# ---------------------------------------------------------------- one full train run, shared
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("trained")
    rec = recipe(train={"epochs": 2, "learning_rate": 0.01, "schedule": "constant"})
    return out, rec, run(out, rec)


def test_history_csv_has_one_row_per_epoch_with_stage(trained):
    out, _, result = trained
    with open(out / "train" / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["stage"], r["epoch"]) for r in rows] == [("train", "1"), ("train", "2")]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"} <= set(rows[0])
    assert float(rows[0]["lr"]) == pytest.approx(0.01)
    assert len(result.history) == 2
    state = json.loads((out / "train" / "state.json").read_text())
    assert state["stages"]["train"]["status"] == "done"
    assert list((out / "train" / "tb" / "train").rglob("events.out.tfevents.*"))


def test_bn_momentum_is_applied_and_one_epoch_evaluates_near_training_accuracy(trained):
    _, rec, result = trained
    bns = [l for l in result.model.layers if isinstance(l, keras.layers.BatchNormalization)]
    assert bns and all(l.momentum == pytest.approx(rec.model.bn_momentum) for l in bns)
    # With tf_keras' 0.999 the moving statistics would still be ~their init after 16 steps
    # and inference accuracy would collapse towards chance; with 0.9 they track the data.
    train_acc = result.history[-1]["accuracy"]
    _, eval_acc = result.model.evaluate(blobs(128, 0), verbose=0)
    assert train_acc > 0.9
    assert eval_acc >= train_acc - 0.1


def test_set_bn_momentum_counts_layers():
    assert set_bn_momentum(tiny_net(), 0.5) == 2


def test_same_seed_gives_identical_weights(tmp_path):
    rec = recipe(train={"epochs": 1, "learning_rate": 0.01})
    a = run(tmp_path / "a", rec).model.get_weights()
    b = run(tmp_path / "b", rec).model.get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    c = run(tmp_path / "c", recipe(seed=1, train={"epochs": 1, "learning_rate": 0.01})).model.get_weights()
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


@dataclass(frozen=True)
class NeverImproves:
    """A task whose monitor gets "better" only when the loss rises: never, while training."""

    name: str = "stand-in"
    monitor: str = "val_loss"
    mode: str = "max"

    def loss(self, recipe):
        return TASK.loss(recipe)

    def metrics(self):
        return TASK.metrics()


def test_early_stopping_restores_best_epoch(tmp_path):
    rec = recipe(train={"epochs": 6, "learning_rate": 0.01, "early_stopping": 2})
    result = run(tmp_path, rec, task=NeverImproves())
    state = json.loads((tmp_path / "train" / "state.json").read_text())["stages"]["train"]
    assert state["stopped_early"] and state["epochs_done"] == 3 and state["best_epoch"] == 1
    assert len(result.history) == 3
    # The returned weights are epoch 1's: evaluating gives epoch 1's val_loss.
    val_loss, _ = result.model.evaluate(blobs(64, 1), verbose=0)
    assert val_loss == pytest.approx(result.history[0]["val_loss"], rel=1e-4)


def test_without_validation_data_monitors_training_metric(tmp_path):
    result = run(tmp_path, recipe(train={"epochs": 1}), val=False)
    assert result.best["train"]["monitor"] == "accuracy"


# ---------------------------------------------------------------- transfer learning
def test_head_layers_of_a_classifier():
    assert head_layers(tiny_net()) == ["predictions", "logits"]


def test_init_from_run_dir_skips_mismatched_head_and_freeze_backbone(tmp_path, trained, capsys):
    _, _, result = trained
    source = tmp_path / "old_run"
    source.mkdir()
    result.model.save(source / "model.h5")
    new = tiny_net(classes=3)
    report = init_from(new, source)
    assert report["mismatched"] == ["logits"]
    assert set(report["loaded"]) == {"c1", "bn1", "c2", "bn2"}
    assert np.array_equal(new.get_layer("c2").get_weights()[0], result.model.get_layer("c2").get_weights()[0])
    assert "kept fresh weights for shape-mismatched layers: logits" in capsys.readouterr().out
    frozen = freeze(new, "backbone")
    assert "logits" not in frozen and [w.name for w in new.trainable_weights] == ["logits/kernel:0", "logits/bias:0"]
    frozen = freeze(new, "bn1")
    assert frozen == [new.layers[0].name, "c1", "bn1"]
    assert new.get_layer("c2").trainable


def test_freeze_unknown_layer_names_it(tmp_path):
    with pytest.raises(ModelError, match=r"model.freeze: no layer named 'c22' .*did you mean c2\?"):
        freeze(tiny_net(), "c22")


def test_init_from_wrong_file_type(tmp_path):
    bad = tmp_path / "weights.bin"
    bad.write_bytes(b"x")
    with pytest.raises(ModelError, match="model.init_from: expected a run directory or a .keras/.h5 file"):
        init_from(tiny_net(), bad)


def test_freeze_backbone_in_a_run_trains_only_the_head(tmp_path):
    rec = recipe(train={"epochs": 1, "learning_rate": 0.01}, model={"arch": "mobilenet_v2", "freeze": "backbone"})
    model = tiny_net()
    before = {l.name: [w.copy() for w in l.get_weights()] for l in model.layers}
    run(tmp_path, rec, factory=model)  # a ready model (not a factory) is trained in place
    for name in ("c1", "c2"):
        assert all(np.array_equal(a, b) for a, b in zip(before[name], model.get_layer(name).get_weights()))
    # frozen BatchNorm runs in inference mode: its moving statistics do not move
    assert all(np.array_equal(a, b) for a, b in zip(before["bn1"], model.get_layer("bn1").get_weights()))
    assert not np.array_equal(before["logits"][0], model.get_layer("logits").get_weights()[0])
