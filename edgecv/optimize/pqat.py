"""QAT for the training stages: the models engineer's `qat.quantize` when it exists,
and sparsity-preserving QAT (PQAT) after a prune stage.

This is an adapter, not a second QAT implementation: once `edgecv.optimize.qat`
provides `quantize(model)` (custom QuantizeConfigs for every family) it is used;
until then tfmot's `quantize_model` stands in (Conv/Dense/BN/ReLU models only).
For PQAT `qat.quantize(model, scheme=...)` is used when it accepts `scheme`.
"""
from __future__ import annotations

import contextlib
import inspect
from typing import Any

from edgecv.errors import ModelError


def _tfmot():
    try:
        import tensorflow_model_optimization as tfmot
    except ImportError:  # pragma: no cover - a declared dependency
        raise ModelError("QAT needs tensorflow-model-optimization: pip install tensorflow-model-optimization") from None
    return tfmot


def _project_quantize():
    try:
        from edgecv.optimize import qat
    except ImportError:
        return None
    return getattr(qat, "quantize", None)


def quantize_scope() -> Any:
    """Scope for loading saved QAT models (the project's, else tfmot's)."""
    try:
        from edgecv.optimize import qat

        if hasattr(qat, "quantize_scope"):
            return qat.quantize_scope()
    except ImportError:
        pass
    try:
        return _tfmot().quantization.keras.quantize_scope()
    except ModelError:  # pragma: no cover
        return contextlib.nullcontext()


def quantize_for_training(model, *, preserve_sparsity: bool = False):
    """QAT-wrap `model`; with `preserve_sparsity`, zeros from pruning stay zero (PQAT)."""
    tfmot = _tfmot()
    quantize = _project_quantize()
    if not preserve_sparsity:
        return quantize(model) if quantize else tfmot.quantization.keras.quantize_model(model)

    scheme = tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme()
    if quantize and "scheme" in inspect.signature(quantize).parameters:
        return quantize(model, scheme=scheme)
    qk = tfmot.quantization.keras
    try:
        annotated = qk.quantize_annotate_model(model)
        with qk.quantize_scope():
            return qk.quantize_apply(annotated, scheme)
    except (ValueError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise ModelError(
            f"PQAT: tfmot cannot quantize {model.name} with the prune-preserving scheme ({first}); "
            "edgecv.optimize.qat.quantize needs a `scheme` argument for this family") from None


def unmasked_pruned_kernels(qat_model, pruned_layers: list[str]) -> list:
    """Kernel variables of pruned layers that the PQAT scheme left without a sparsity
    mask (tfmot gives e.g. a Conv2D followed directly by ReLU a NoOpQuantizeConfig,
    so nothing keeps its zeros at zero)."""
    wanted = set(pruned_layers)
    kernels = []
    for wrapper in qat_model.layers:
        inner = getattr(wrapper, "layer", None)
        if inner is None or inner.name not in wanted:
            continue
        masked = {id(weight) for weight, _, qvars in getattr(wrapper, "_weight_vars", []) if "sparsity_mask" in qvars}
        for variable in wrapper.trainable_weights:
            if variable.name.endswith(("kernel:0", "depthwise_kernel:0")) and id(variable) not in masked:
                kernels.append(variable)
    return kernels


def keep_zeros_callback(kernels: list):
    """Re-zero the pruned weights of `kernels` after every batch (a safety net for
    layers the PQAT scheme does not mask; the masks are taken at train start)."""
    import tensorflow as tf
    import tf_keras as keras

    class KeepZeros(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.masks = [tf.cast(tf.not_equal(k, 0), k.dtype) for k in kernels]

        def on_train_batch_end(self, batch, logs=None):
            for kernel, mask in zip(kernels, self.masks):
                kernel.assign(kernel * mask)

    return KeepZeros()
