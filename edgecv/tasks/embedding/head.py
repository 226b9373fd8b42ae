"""The embedding head on any backbone (tf_keras; imported only when a model is built).

backbone (include_top=False) -> global average pooling -> Dense(dim) -> L2 normalisation.
After training, `features_model` may ship another layer's features instead (recipe
`embedding.features`, `embedding.center`): layer -> flatten -> minus a centre
(-> onto its principal directions: `embedding.project`) -> L2.
`UnitNormalization` is tf.math.l2_normalize, which the TFLite converter fuses into one
L2_NORMALIZATION op; its int8 kernel has a fixed output scale of 1/128 (zero point 0), so
the int8 file keeps the normalisation on integers (no float op). For QAT,
edgecv.optimize.qat gives the layer a config that leaves its output to that fixed scale.
"""
from __future__ import annotations

from typing import Callable

from edgecv.errors import ModelError


def embedding_model(builder: Callable, *, dim: int, **kwargs):
    """The registered backbone `builder` without its classifier, plus the embedding head."""
    import tf_keras as keras

    try:
        backbone = builder(**{**kwargs, "include_top": False})
    except ModelError as exc:
        raise ModelError(f"embedding: the backbone must build without its classifier "
                         f"(include_top=False): {exc}") from None
    x = backbone.output
    if isinstance(x, (list, tuple)):
        raise ModelError(f"embedding: backbone {backbone.name!r} has {len(x)} outputs; "
                         "use a classification backbone")
    if len(x.shape) == 4:
        x = keras.layers.GlobalAveragePooling2D(name="embedding_pool")(x)
    x = keras.layers.Dense(dim, name="embedding_dense")(x)
    x = keras.layers.UnitNormalization(name="embedding_l2")(x)
    return keras.Model(backbone.input, x, name=f"{backbone.name}_embedding{dim}")


HEAD_LAYER = "embedding_dense"     # the head's features before the L2 normalisation
CENTER_LAYER = "embedding_center"
PROJECT_LAYER = "embedding_project"
FEATURES_MARK = "__features__"     # model name of a `features_model`: <trained>__features__<layer>


def candidate_layers(model) -> list[str]:
    """Where `embedding.features: auto` looks: every residual merge (Add) of the backbone,
    in graph order (ends of blocks, where features are complete), then the head."""
    import tf_keras as keras

    merges = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Add)]
    return merges + [HEAD_LAYER]


def layer_features(model, layers: list[str]):
    """model's input -> each of `layers`' outputs, flattened (the spatial layout is kept: it
    tells a boot from a sneaker; averaging it away scored ~0.02 AUC lower in trials). One
    model for all, so scoring candidates costs one forward pass."""
    import tf_keras as keras

    outputs = []
    for layer in layers:
        try:
            x = model.get_layer(layer).output
        except ValueError:
            raise ModelError(f"embedding.features: the model has no layer {layer!r} "
                             "(`edgecv info` on the run's model.keras lists them)") from None
        outputs.append(keras.layers.Flatten(name=f"{layer}_flat")(x) if len(x.shape) > 2 else x)
    return keras.Model(model.input, outputs, name=f"{model.name}_features")


def features_model(model, layer: str, center=None, projection=None):
    """The model an embedding run ships: `layer`'s flattened output, minus `center` (a
    constant: Normalization with unit variance, a SUB in the .tflite file) when given,
    L2-normalised (one L2_NORMALIZATION op, int8 as in the head). With `projection` (a
    features x dims matrix): (x - center) @ projection as one Dense layer whose bias is
    -center @ projection (one FULLY_CONNECTED op, its bias kept in int32 in the int8 file)."""
    import numpy as np
    import tf_keras as keras

    x = layer_features(model, [layer]).output
    if projection is not None:
        projection = np.asarray(projection, dtype=np.float32)
        shift = np.zeros(projection.shape[0], np.float32) if center is None else np.asarray(center, np.float32)
        dense = keras.layers.Dense(projection.shape[1], name=PROJECT_LAYER)
        x = dense(x)
        dense.set_weights([projection, -shift @ projection])
    elif center is not None:
        center = np.asarray(center, dtype=np.float32).reshape(1, -1)
        x = keras.layers.Normalization(mean=center, variance=np.ones_like(center),
                                       name=CENTER_LAYER)(x)
    x = keras.layers.UnitNormalization(name="embedding_l2")(x)
    return keras.Model(model.input, x, name=f"{model.name}{FEATURES_MARK}{layer}")


def shipped_layer(model):
    """The layer a `features_model` reads (its name says it; it survives model.keras), or
    None for a model as trained."""
    name = getattr(model, "name", "")
    return name.split(FEATURES_MARK, 1)[1] if FEATURES_MARK in name else None
