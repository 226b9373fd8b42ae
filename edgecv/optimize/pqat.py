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
