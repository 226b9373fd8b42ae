"""Walking a built Keras model's layers (used by transfer learning, pruning and QAT)."""
from __future__ import annotations

from typing import Iterator


def walk_layers(model) -> Iterator:
    """Every layer, descending into nested models and wrappers (pruning/QAT)."""
    import tf_keras as keras

    for layer in model.layers:
        yield layer
        inner = getattr(layer, "layer", None)
        if isinstance(inner, keras.layers.Layer):
            yield inner
        if isinstance(layer, keras.Model):
            yield from walk_layers(layer)
