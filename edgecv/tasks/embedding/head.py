"""The embedding head on any backbone (tf_keras; imported only when a model is built).

backbone (include_top=False) -> global average pooling -> Dense(dim) -> L2 normalisation.
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
