"""embedding.features / embedding.center: the layer the run ships, picked and centred on the
validation split, against values computed here by hand; the shipped model's int8 file; the
recipe check that keeps it off the QAT road."""
from __future__ import annotations

import numpy as np
import pytest

from edgecv.data.dataset import ArraySource, new_dataset
from edgecv.tasks.embedding.config import EmbeddingSpec
from edgecv.tasks.embedding.metrics import (
    best_threshold,
    l2_normalize,
    pair_distances,
    roc_curve,
    verification_auc,
)
from edgecv.tasks.embedding.task import EmbeddingTask

SIZE = 8


def _toy_model():
    """Two residual merges and a head, no BatchNorm: layer values are plain functions of the
    seeded weights, so the test can recompute every one of them."""
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    x = inp = keras.Input((SIZE, SIZE, 1), name="image")
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="stem")(x)
    for block in (1, 2):
        y = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name=f"block{block}_conv")(x)
        x = keras.layers.Add(name=f"block{block}_add")([x, y])
    x = keras.layers.GlobalAveragePooling2D(name="embedding_pool")(x)
    x = keras.layers.Dense(4, name="embedding_dense")(x)
    x = keras.layers.UnitNormalization(name="embedding_l2")(x)
    return keras.Model(inp, x, name="toy_embedding4")


def _identities(count=4, per=12, seed=1):
    """`count` identities, each a fixed random pattern seen with noise."""
    rng = np.random.default_rng(seed)
    bases = rng.integers(0, 255, (count, SIZE, SIZE, 1))
    labels = np.repeat(np.arange(count), per).astype(np.int32)
    images = np.clip(bases[labels] + rng.integers(-40, 40, (len(labels), SIZE, SIZE, 1)), 0, 255)
    names = [f"id{i}" for i in range(count)]
    return new_dataset("embedding", names, ArraySource(images.astype(np.uint8), labels), name="val"), \
        images.astype(np.uint8), labels


def _by_hand(model, layer, x):
    import tf_keras as keras

    out = keras.Model(model.input, model.get_layer(layer).output)(x).numpy()
    return out.reshape(len(out), -1)


def _task(**spec):
    return EmbeddingTask(spec=EmbeddingSpec(dim=4, **spec), input_shape=(SIZE, SIZE, 1))


def test_auto_picks_the_best_centred_layer_and_ships_it():
    from edgecv.data.normalize import normalize

    model = _toy_model()
    val_set, images, labels = _identities()
    task = _task(features="auto", center="validation").adapt_to_model(model, val_set)
    x = normalize(images)     # 48 images: below THRESHOLD_SAMPLES, so all of them, in order

    hand = {}
    for layer in ("block1_add", "block2_add", "embedding_dense"):
        features = _by_hand(model, layer, x)
        hand[layer] = (verification_auc(l2_normalize(features - features.mean(0)), labels), features.mean(0))
    assert list(task.layer_scores) == ["block1_add", "block2_add", "embedding_dense"]
    for layer, (auc, _) in hand.items():
        assert task.layer_scores[layer] == pytest.approx(auc, abs=1e-4)
    best = max(hand, key=lambda layer: hand[layer][0])
    assert task.layer == best
    np.testing.assert_allclose(task.center, hand[best][1], rtol=1e-5, atol=1e-6)

    shipped = task.final_model(model)
    expected = l2_normalize(_by_hand(model, best, x) - hand[best][1])
    np.testing.assert_allclose(shipped.predict(x, verbose=0), expected, atol=1e-5)
    assert task.output_dim == expected.shape[1]

    # the threshold is the best threshold of the shipped embeddings, not the head's
    fpr, tpr, thresholds = roc_curve(*pair_distances(expected, labels))
    assert task.threshold == pytest.approx(best_threshold(fpr, tpr, thresholds)[1], abs=1e-5)
    part = task.export_metadata()["embedding"]
    assert part["dim"] == expected.shape[1]
    assert part["features"]["layer"] == best and part["features"]["center"] == "validation"
    assert part["features"]["validation_auc"] == task.layer_scores


def test_named_layer_uncentred_and_the_head_centred():
    from edgecv.data.normalize import normalize

    model = _toy_model()
    val_set, images, _ = _identities()
    x = normalize(images)
    task = _task(features="block1_add").adapt_to_model(model, val_set)
    assert task.layer == "block1_add" and task.center is None and task.layer_scores is None
    np.testing.assert_allclose(task.final_model(model).predict(x, verbose=0),
                               l2_normalize(_by_hand(model, "block1_add", x)), atol=1e-5)

    head = _task(center="validation").adapt_to_model(model, val_set)
    dense = _by_hand(model, "embedding_dense", x)
    assert head.layer == "embedding_dense" and head.output_dim == 4
    np.testing.assert_allclose(head.final_model(model).predict(x, verbose=0),
                               l2_normalize(dense - dense.mean(0)), atol=1e-5)

    # the default ships the trained model itself
    plain = _task().adapt_to_model(model, val_set)
    assert plain.layer is None and plain.final_model(model) is model
    assert "features" not in plain.export_metadata()["embedding"]


def test_project_onto_the_top_principal_directions_of_the_centred_features():
    """embedding.project: the shipped model computes l2((f - mean) @ V), V the top
    eigenvectors of the features' covariance (by hand here with eigh, not the SVD the task
    uses); cosines are compared, which do not depend on each direction's sign."""
    from edgecv.data.normalize import normalize
    from edgecv.errors import RecipeError

    model = _toy_model()
    val_set, images, labels = _identities()
    x = normalize(images)
    task = _task(features="block2_add", center="validation", project=3).adapt_to_model(model, val_set)
    features = _by_hand(model, "block2_add", x)
    centred = features - features.mean(0)
    values, vectors = np.linalg.eigh(np.cov(centred, rowvar=False))
    expected = l2_normalize(centred @ vectors[:, np.argsort(values)[::-1][:3]])

    shipped = task.final_model(model).predict(x, verbose=0)
    assert shipped.shape == (len(x), 3) and task.output_dim == 3
    np.testing.assert_allclose(shipped @ shipped.T, expected @ expected.T, atol=1e-4)
    projection = np.asarray(task.projection)
    np.testing.assert_allclose(projection.T @ projection, np.eye(3), atol=1e-5)   # orthonormal
    fpr, tpr, thresholds = roc_curve(*pair_distances(expected, labels))
    assert task.threshold == pytest.approx(best_threshold(fpr, tpr, thresholds)[1], abs=1e-4)
    part = task.export_metadata()["embedding"]
    assert part["dim"] == 3 and part["features"] == {"layer": "block2_add", "center": "validation",
                                                     "project": 3}

    with pytest.raises(RecipeError, match=r"^embedding.project: 49 dimensions, but 'block2_add' has "
                                          r"256 features over 48 validation images$"):
        _task(features="block2_add", center="validation", project=49).adapt_to_model(model, val_set)


def test_a_saved_shipped_model_is_not_cut_twice(tmp_path):
    """`edgecv export RUN_DIR` re-adapts model.keras, which already holds the features."""
    from edgecv.optimize.qat import load_keras_model

    model = _toy_model()
    val_set, _, _ = _identities()
    task = _task(features="auto", center="validation").adapt_to_model(model, val_set)
    shipped = task.final_model(model)
    shipped.save(tmp_path / "model.keras")
    reloaded = load_keras_model(tmp_path / "model.keras")
    again = _task(features="auto", center="validation").adapt_to_model(reloaded, val_set)
    assert again.layer == task.layer and again.threshold == pytest.approx(task.threshold, abs=1e-5)
    assert again.final_model(reloaded) is reloaded
    assert again.export_metadata()["embedding"]["dim"] == task.output_dim


def test_errors_name_the_layer_and_the_empty_split():
    from edgecv.errors import ModelError, RecipeError

    model = _toy_model()
    val_set = _identities()[0]
    with pytest.raises(ModelError, match="embedding.features: the model has no layer 'block9_add'"):
        _task(features="block9_add").adapt_to_model(model, val_set)
    with pytest.raises(RecipeError, match="need a validation split; it is empty"):
        _task(features="auto").adapt_to_model(model, val_set.subset(np.arange(0)))


def test_features_refuse_a_qat_stage():
    from edgecv.errors import RecipeError
    from edgecv.recipe import validate_recipe

    def recipe(**embedding):
        return validate_recipe({
            "name": "e", "task": "embedding",
            "model": {"arch": "mobilenet_v2", "alpha": 0.35, "input_shape": [32, 32, 3]},
            "data": {"train": {"format": "folder", "path": "faces"}},
            "train": {"epochs": 1}, "qat": {"epochs": 1}, "embedding": embedding})

    assert recipe(features="head").embedding.features == "head"     # the head: QAT is fine
    with pytest.raises(RecipeError, match=r"^embedding.project: the projection is found on the centred "
                                          r"validation features; it needs center: validation"):
        recipe(project=8)
    for key, value in (("features", "auto"), ("center", "validation")):
        with pytest.raises(RecipeError, match=rf"^embedding.{key}: {value} is applied to the float model "
                                              r"after training; a qat stage's int8 file cannot hold it"):
            recipe(**{key: value})


def test_shipped_mobilenet_features_are_integer_only_in_int8(tmp_path):
    """A MobileNetV2 cut at a residual merge, flattened, centred, normalised: full int8 with
    no float operator (the centre is one SUB)."""
    import functools

    from edgecv.export.info import inspect_tflite
    from edgecv.export.tflite import export_model
    from edgecv.models import create_model
    from edgecv.tasks import get_task
    from edgecv.tasks.embedding.head import features_model

    model = get_task("embedding").build_model(functools.partial(create_model, "mobilenet_v2"),
                                              input_shape=(32, 32, 3), alpha=0.35, num_classes=5)
    x = np.random.default_rng(0).uniform(-1, 1, (8, 32, 32, 3)).astype(np.float32)
    center = np.full(2 * 2 * 32, 0.01, np.float32)      # block12_add: 2x2x32 at 32 px
    shipped = features_model(model, "block12_add", center)
    assert shipped.output_shape == (None, 128)
    export_model(shipped, "int8", tmp_path / "f_int8.tflite", representative=x)
    info = inspect_tflite(tmp_path / "f_int8.tflite", edgetpu=False)
    ops = {row["op"] for row in info["op_table"]}
    assert info["float_ops"] == [] and info["integer"]
    assert {"SUB", "L2_NORMALIZATION"} <= ops
    assert info["outputs"][0]["shape"][-1] == 128

    # projected: the centre folds into the projection's bias, one FULLY_CONNECTED op
    projection = np.linalg.qr(np.random.default_rng(1).normal(size=(128, 16)))[0]
    projected = features_model(model, "block12_add", center, projection)
    export_model(projected, "int8", tmp_path / "p_int8.tflite", representative=x)
    info = inspect_tflite(tmp_path / "p_int8.tflite", edgetpu=False)
    ops = {row["op"] for row in info["op_table"]}
    assert info["float_ops"] == [] and info["integer"]
    assert {"FULLY_CONNECTED", "L2_NORMALIZATION"} <= ops and "SUB" not in ops
    assert info["outputs"][0]["shape"][-1] == 16
