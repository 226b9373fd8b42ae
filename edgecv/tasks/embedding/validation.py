"""The verification ROC AUC of the validation split after every epoch (tf_keras; imported
only when an embedding model is trained).

It is what picks the best epoch (`val_roc_auc`), not the validation loss: on held-out
identities the triplet loss kept falling while the AUC fell from its first-epoch peak
(benchmarks/README.md, "Objectives": semi-hard 0.744 after one epoch, 0.69 after three).
Keras metrics are per-batch averages and the AUC needs every pair of a whole set, so a
callback embeds the first VALIDATION_SAMPLES images of the (fixed-order) validation
pipeline and scores them with metrics.py, the report's own implementation.

When the run ships other features than the head (`embedding.features` / `center`), the
epoch is scored as they will ship: each candidate layer's features, flattened (and centred
on those images), and `val_roc_auc` is the best candidate's AUC, as `adapt_to_model`
then picks the layer.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tf_keras as keras

from edgecv.tasks.embedding.metrics import features_auc, verification_auc

VALIDATION_SAMPLES = 2000   # ~2 M pairs: a few seconds per epoch on 2 cores
MONITOR = "val_roc_auc"


class ValidationAUC(keras.callbacks.Callback):
    """Adds `val_roc_auc` to each epoch's logs. Put it before the callback that reads the
    monitor: Keras hands the same logs dict to every callback in turn (its own
    LearningRateScheduler adds `lr` the same way)."""

    def __init__(self, val_data, samples: int = VALIDATION_SAMPLES,
                 layers: Callable[[keras.Model], list] | None = None, centered: bool = False):
        super().__init__()
        self.val_data, self.samples = val_data, samples
        self.layers, self.centered = layers, centered   # layers(model): the candidates' names
        self._features = None       # the model -> candidates' outputs (shares its weights)

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:            # nowhere to put the value: skip the embedding pass
            return
        outputs, labels, seen = [], [], 0
        for batch in self.val_data:
            x, y = batch[0], batch[1]
            outputs.append([np.asarray(o) for o in self._outputs(x)])
            labels.append(np.asarray(y).reshape(-1))
            seen += len(labels[-1])
            if seen >= self.samples:
                break
        labels = np.concatenate(labels)[:self.samples]
        if len(np.unique(labels)) < 2:     # no different-identity pair: nothing to score
            return
        per_output = [np.concatenate(parts)[:self.samples] for parts in zip(*outputs)]
        if self.layers is None:
            logs[MONITOR] = verification_auc(per_output[0], labels)
        else:
            logs[MONITOR] = max(features_auc(f, labels, centered=self.centered) for f in per_output)

    def _outputs(self, x) -> list:
        if self.layers is None:
            return [self.model(x, training=False)]
        if self._features is None:
            from edgecv.tasks.embedding.head import layer_features

            self._features = layer_features(self.model, self.layers(self.model))
        out = self._features(x, training=False)
        return list(out) if isinstance(out, (list, tuple)) else [out]
