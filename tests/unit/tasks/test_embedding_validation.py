"""The embedding's best epoch is picked by the verification ROC AUC of the validation split,
added to each epoch's logs by a callback (the report's numpy metric on the first N images)."""
from __future__ import annotations

import numpy as np
import pytest


def _pipeline(x, y, batch):
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch)


def _identity_model(dim):
    import tf_keras as keras

    inputs = keras.Input((dim,))
    return keras.Model(inputs, keras.layers.Lambda(lambda t: t)(inputs))


def test_callback_scores_the_first_images_of_the_validation_pipeline():
    from edgecv.tasks.embedding.metrics import verification_auc
    from edgecv.tasks.embedding.validation import MONITOR, ValidationAUC

    rng = np.random.default_rng(0)
    y = np.tile([0, 1, 2], 10)
    x = (np.eye(3)[y] + rng.normal(scale=0.8, size=(30, 3))).astype(np.float32)
    x[20:] = rng.normal(size=(10, 3))          # the images past the limit are noise
    callback = ValidationAUC(_pipeline(x, y, 8), samples=20)
    callback.set_model(_identity_model(3))
    logs = {"val_loss": 1.0}
    callback.on_epoch_end(0, logs)
    assert logs["val_loss"] == 1.0 and MONITOR == "val_roc_auc"
    assert logs[MONITOR] == pytest.approx(verification_auc(x[:20], y[:20]))   # 24 embedded, 20 scored
    assert logs[MONITOR] != pytest.approx(verification_auc(x, y))
    assert 0.5 < logs[MONITOR] <= 1.0

    one_identity = ValidationAUC(_pipeline(x, np.zeros(30, np.int64), 8), samples=20)
    one_identity.set_model(_identity_model(3))
    logs = {}
    one_identity.on_epoch_end(0, logs)
    assert MONITOR not in logs                 # no different-identity pair to score


def test_with_shipped_features_the_epoch_scores_the_best_candidate_layer_centred():
    """embedding.features: each candidate layer's features on the first images, centred on
    their mean, L2-normalised; val_roc_auc is the best of them (by hand here)."""
    import tf_keras as keras

    from edgecv.tasks.embedding.config import EmbeddingSpec
    from edgecv.tasks.embedding.metrics import verification_auc
    from edgecv.tasks.embedding.task import EmbeddingTask
    from edgecv.tasks.embedding.validation import MONITOR, ValidationAUC

    rng = np.random.default_rng(0)
    y = np.tile([0, 1, 2], 10)
    x = (np.eye(3)[y] + rng.normal(scale=0.3, size=(30, 3))).astype(np.float32)
    inputs = keras.Input((3,))
    # "shifted": the input plus a large constant offset, which only centring removes
    shifted = keras.layers.Dense(3, name="shifted", kernel_initializer="identity",
                                 bias_initializer=keras.initializers.Constant(3.0))(inputs)
    mixed = keras.layers.Dense(3, name="mixed", kernel_initializer=keras.initializers.RandomNormal(seed=1))(shifted)
    model = keras.Model(inputs, keras.layers.UnitNormalization()(mixed))

    def by_hand(layer, centred):
        f = keras.Model(inputs, model.get_layer(layer).output)(x[:20]).numpy()
        f = f - f.mean(0) if centred else f
        return verification_auc(f / np.linalg.norm(f, axis=1, keepdims=True), y[:20])

    for centred in (True, False):
        callback = ValidationAUC(_pipeline(x, y, 8), samples=20, layers=lambda m: ["shifted", "mixed"],
                                 centered=centred)
        callback.set_model(model)
        logs = {}
        callback.on_epoch_end(0, logs)
        assert logs[MONITOR] == pytest.approx(max(by_hand("shifted", centred), by_hand("mixed", centred)))
    assert by_hand("shifted", True) > by_hand("shifted", False) + 0.02     # the offset blurs them

    # the task hands the callback its candidates only when it ships other features
    spec = EmbeddingSpec(features="auto", center="validation")
    (auto,) = EmbeddingTask(spec=spec).validation_callbacks(object())
    merged = keras.Model(inputs, keras.layers.Add(name="merge")([shifted, mixed]))
    assert auto.centered and auto.layers(merged) == ["merge", "embedding_dense"]   # merges, then the head
    (head,) = EmbeddingTask().validation_callbacks(object())
    assert head.layers is None and not head.centered


def test_verification_auc_by_hand():
    from edgecv.tasks.embedding.metrics import verification_auc

    # d = 2 - 2 cos. Same pairs: (a,b) cos 0.8 -> 0.4, (c,d) cos 0 -> 2. Different: (a,c) 2,
    # (a,d) 4, (b,c) 0.8, (b,d) 3.6. AUC = P(d_same < d_diff), ties half: 0.4 beats all four
    # (4); 2 ties 2, beats 4 and 3.6, loses to 0.8 (2.5) -> 6.5 / 8.
    emb = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-1.0, 0.0]])
    labels = np.array([0, 0, 1, 1])
    assert verification_auc(emb, labels) == pytest.approx(6.5 / 8)


def test_monitor_is_the_auc_with_validation_and_the_loss_without():
    from edgecv.tasks import get_task
    from edgecv.tasks.embedding import EmbeddingTask
    from edgecv.train.stages import _monitor

    assert _monitor(EmbeddingTask(), object()) == ("val_roc_auc", "max")
    assert _monitor(EmbeddingTask(), None) == ("loss", "min")
    classification = get_task("classification")
    assert _monitor(classification, None) == ("accuracy", "max")
    assert classification.validation_callbacks(object()) == []
