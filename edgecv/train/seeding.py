"""One place that makes a run repeatable: Python/NumPy/TF seeds and deterministic ops."""
from __future__ import annotations

import os

# Opt-out for GPU users who prefer speed over bit-identical reruns.
DETERMINISM_ENV = "EDGECV_DETERMINISTIC"


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow, and make TF pick deterministic kernels.

    Call before the model is built: initial weights come from these seeds.
    Determinism is process-wide and cannot be switched off again once enabled.
    """
    import tensorflow as tf
    import tf_keras as keras

    keras.utils.set_random_seed(int(seed))
    if os.environ.get(DETERMINISM_ENV, "1") != "0":
        tf.config.experimental.enable_op_determinism()
