"""The embedding task's wiring without training: held-out classes, recipe section, metadata
round trip, PK sampler settings, the int8 head on integers only."""
from __future__ import annotations

import numpy as np
import pytest

from edgecv.data.dataset import ArraySource, hold_out_classes, new_dataset
from edgecv.errors import DataError, RecipeError


def _dataset(task="embedding", counts=(3, 2, 4)):
    labels = np.concatenate([np.full(n, c) for c, n in enumerate(counts)]).astype(np.int32)
    images = np.zeros((len(labels), 8, 8, 1), np.uint8)
    return new_dataset(task, ["ada", "bob", "cyd"], ArraySource(images, labels), name="ids")


def test_held_out_classes_by_name_or_index_leave_training_entirely():
    train, val = hold_out_classes(_dataset(), None, ["cyd", 1])
    assert sorted(set(train.labels)) == [0] and len(train) == 3
    assert sorted(set(val.labels)) == [1, 2] and len(val) == 6
    other = _dataset(counts=(1, 1, 5))                  # a separate val set: only its held-out part
    _, val = hold_out_classes(_dataset(), other, ["cyd"])
    assert list(val.labels) == [2] * 5


@pytest.mark.parametrize("classes, message", [
    (["dan"], "unknown class 'dan'"),
    ([5], "class index 5 outside 0..2"),
    (["ada", "bob", "cyd"], "no training samples"),
])
def test_held_out_class_errors_name_the_key(classes, message):
    with pytest.raises(DataError, match=f"data.holdout_classes: .*{message}"):
        hold_out_classes(_dataset(), None, classes)


def test_held_out_classes_need_label_targets():
    from edgecv.data import load_dataset

    boxes = load_dataset({"format": "synthetic_shapes", "samples": 4}, task="detection")
    with pytest.raises(DataError, match="needs one label per image"):
        hold_out_classes(boxes, None, ["circle"])


def test_recipe_section_and_sampler_settings():
    from edgecv.recipe import validate_recipe
    from edgecv.tasks import get_task

    raw = {"name": "e", "task": "embedding", "model": {"arch": "mobilenet_v2", "input_shape": [32, 32, 3]},
           "data": {"train": {"format": "synthetic_shapes", "samples": 40}, "holdout_classes": ["star"],
                    "batch_size": 12},
           "train": {"epochs": 1}, "embedding": {"dim": 32, "loss": "semi_hard", "images_per_identity": 3}}
    recipe = validate_recipe(raw)
    task = get_task("embedding", recipe)
    assert (task.spec.dim, task.spec.loss, task.input_shape) == (32, "semi_hard", (32, 32, 3))
    sampler = task.batch_sampler(12)
    assert (sampler.identities, sampler.per_identity) == (4, 3)
    with pytest.raises(RecipeError, match="embedding.images_per_identity"):
        task.batch_sampler(10)
    with pytest.raises(RecipeError, match="embedding.loss"):
        validate_recipe({**raw, "embedding": {"loss": "hardest"}})


def test_metadata_round_trip_keeps_the_threshold():
    from edgecv.tasks import get_task
    from edgecv.tasks.embedding import EmbeddingTask

    task = EmbeddingTask(threshold=0.64)
    part = task.export_metadata()["embedding"]
    assert part["threshold"] == 0.64 and part["cosine_threshold"] == pytest.approx(0.68)
    back = get_task("embedding", {"task": "embedding", "embedding": part})
    assert back.threshold == 0.64 and back.spec.dim == part["dim"]
    emb = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    assert back.score([emb], np.array([0, 0, 1, 1]), ["a", "b"])["accuracy_at_threshold"] == 1.0


def test_metadata_names_the_parameter_the_loss_used():
    from edgecv.tasks import get_task
    from edgecv.tasks.embedding import EmbeddingTask
    from edgecv.tasks.embedding.config import EmbeddingSpec

    part = EmbeddingTask(spec=EmbeddingSpec(loss="prototype", temperature=0.1)).export_metadata()["embedding"]
    assert (part["loss"], part["temperature"]) == ("prototype", 0.1) and "margin" not in part
    assert get_task("embedding", {"task": "embedding", "embedding": part}).spec.temperature == 0.1
    part = EmbeddingTask(spec=EmbeddingSpec(loss="semi_hard", margin=0.3)).export_metadata()["embedding"]
    assert part["margin"] == 0.3 and "temperature" not in part


def test_int8_embedding_head_has_no_float_ops(tmp_path):
    """Full-int8 export of backbone + head: L2 normalisation stays one integer op."""
    import functools

    from edgecv.export.info import inspect_tflite
    from edgecv.export.tflite import export_model
    from edgecv.models import create_model
    from edgecv.tasks import get_task

    model = get_task("embedding").build_model(functools.partial(create_model, "mobilenet_v2"),
                                              input_shape=(32, 32, 3), alpha=0.35, num_classes=5)
    assert model.output_shape == (None, 128)
    x = np.random.default_rng(0).uniform(-1, 1, (8, 32, 32, 3)).astype(np.float32)
    # training=True: an untrained backbone's inference-mode BN (moving stats 0/1) shrinks its
    # features to ~1e-12, below l2_normalize's epsilon; batch statistics do not.
    norms = np.linalg.norm(model(x, training=True).numpy(), axis=1)
    np.testing.assert_allclose(norms, 1.0, rtol=1e-5)
    export_model(model, "int8", tmp_path / "e_int8.tflite", representative=x)
    info = inspect_tflite(tmp_path / "e_int8.tflite", edgetpu=False)
    assert info["float_ops"] == [] and info["integer"]
    assert "L2_NORMALIZATION" in {row["op"] for row in info["op_table"]}
    # the int8 kernel's fixed output scale: 1/128 (uint8 I/O: zero point 128)
    assert info["outputs"][0]["quantization"]["scale"] == pytest.approx(1 / 128)
