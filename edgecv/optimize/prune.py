"""Magnitude pruning with tfmot: wrap, schedule, strip, and measure what it achieved."""
from __future__ import annotations

import gzip
from typing import Any, Callable

from edgecv.errors import ModelError

# 2:4 structured sparsity: two zeros in every four consecutive input-channel weights.
M_BY_N = (2, 4)


def _tfmot():
    try:
        import tensorflow_model_optimization as tfmot
    except ImportError:  # pragma: no cover - a declared dependency
        raise ModelError("pruning needs tensorflow-model-optimization: pip install tensorflow-model-optimization") from None
    return tfmot


def prunable_weight_names(layer, *, structured: bool = False) -> list[str]:
    """Names of the weights tfmot would prune in `layer` ([] = leave the layer alone).

    tfmot's registry knows which built-in layers have prunable kernels (it lists
    DepthwiseConv2D with none). 2:4 needs rank-2/4 kernels whose input-channel
    count is a multiple of 4 (not true of an RGB stem conv).
    """
    import tf_keras as keras
    from tensorflow_model_optimization.python.core.sparsity.keras.prune_registry import PruneRegistry

    if not PruneRegistry.supports(layer):
        return []
    names = list(PruneRegistry._weight_names(layer))
    if structured:
        if not isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)) or isinstance(
                layer, keras.layers.DepthwiseConv2D):
            return []
        kernel = getattr(layer, "kernel", None)
        if kernel is None or int(kernel.shape[-2]) % M_BY_N[1]:
            return []
    return names


def final_sparsity_step(spec, total_steps: int) -> int:
    """The training step at which the schedule's target sparsity is in force."""
    if spec.sparsity_schedule == "constant":
        return 0
    return pruning_schedule(spec, total_steps).end_step


def pruning_schedule(spec, total_steps: int):
    """PolynomialDecay 0 -> target over the first 3/4 of the stage (the rest fine-tunes
    at full sparsity), or ConstantSparsity from step 0; masks update every `frequency` steps."""
    sparsity = _tfmot().sparsity.keras
    end = max(1, int(total_steps * 0.75))
    frequency = max(1, min(100, end // 10))
    end = max(frequency, (end // frequency) * frequency)  # masks update exactly at end_step
    if spec.sparsity_schedule == "constant":
        return sparsity.ConstantSparsity(spec.target_sparsity, begin_step=0, frequency=frequency)
    return sparsity.PolynomialDecay(initial_sparsity=0.0, final_sparsity=spec.target_sparsity,
                                    begin_step=0, end_step=end, frequency=frequency)


def prune_model(model, spec, *, total_steps: int, echo: Callable[[str], None] = print):
    """Wrap every prunable layer of `model` with `prune_low_magnitude`.

    Wrapped layers share their variables with `model` (tfmot's clone_function
    pattern), so after training `model` already holds the sparse weights.
    """
    tfmot = _tfmot()
    import tf_keras as keras

    schedule = pruning_schedule(spec, total_steps)
    extra = {"sparsity_m_by_n": M_BY_N} if spec.structured else {}
    wrapped: list[str] = []
    skipped: list[str] = []

    def wrap(layer):
        if prunable_weight_names(layer, structured=spec.structured):
            wrapped.append(layer.name)
            return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule, **extra)
        if spec.structured and prunable_weight_names(layer):
            skipped.append(layer.name)
        return layer

    pruned = keras.models.clone_model(model, clone_function=wrap)
    if not wrapped:
        raise ModelError(f"prune: {model.name} has no layer tfmot can prune")
    kind = "2:4 structured" if spec.structured else f"{spec.sparsity_schedule} to {spec.target_sparsity:.0%}"
    echo(f"prune: {len(wrapped)} layers wrapped ({kind})")
    if skipped:
        echo(f"note: 2:4 sparsity skips layers whose kernels do not allow it: {', '.join(skipped)}")
    return pruned


def pruned_layer_names(pruned) -> list[str]:
    """Names (of the inner layers) that `prune_model` wrapped."""
    from tensorflow_model_optimization.python.core.sparsity.keras.pruning_wrapper import PruneLowMagnitude

    return [layer.layer.name for layer in pruned.layers if isinstance(layer, PruneLowMagnitude)]


def pruning_callbacks() -> list:
    """UpdatePruningStep advances the schedule; it must run before checkpointing
    callbacks, because its epoch end re-applies the masks to the weights."""
    return [_tfmot().sparsity.keras.UpdatePruningStep()]


def strip_pruning(pruned):
    return _tfmot().sparsity.keras.strip_pruning(pruned)


def layer_sparsity(model, layer_names: list[str] | None = None, *, structured: bool = False) -> dict[str, dict[str, Any]]:
    """Per prunable layer: weights, zeros and achieved sparsity of its prunable kernels."""
    import numpy as np

    from edgecv.models.layers import walk_layers

    report = {}
    for layer in walk_layers(model):
        if layer_names is not None and layer.name not in layer_names:
            continue
        names = prunable_weight_names(layer, structured=structured)
        if not names:
            continue
        values = [np.asarray(getattr(layer, n).numpy()) for n in names if getattr(layer, n, None) is not None]
        total = sum(v.size for v in values)
        zeros = sum(int((v == 0).sum()) for v in values)
        report[layer.name] = {"weights": int(total), "zeros": zeros, "sparsity": zeros / total if total else 0.0}
    return report


def overall_sparsity(per_layer: dict[str, dict[str, Any]]) -> float:
    total = sum(v["weights"] for v in per_layer.values())
    return sum(v["zeros"] for v in per_layer.values()) / total if total else 0.0


def gzipped_tflite_size(model) -> dict[str, int]:
    """Float32 TFLite size, raw and gzip-compressed: zeros only shrink the download
    once compressed (TFLite stores dense tensors)."""
    import tensorflow as tf

    flatbuffer = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    return {"tflite_bytes": len(flatbuffer), "tflite_gzip_bytes": len(gzip.compress(flatbuffer, compresslevel=9))}


def sparsity_summary(stripped_model, *, spec, wrapped: list[str], unpruned_size: dict[str, int]) -> dict[str, Any]:
    """What `run_dir/train/sparsity.json` holds."""
    per_layer = layer_sparsity(stripped_model, wrapped, structured=spec.structured)
    return {
        "target_sparsity": spec.target_sparsity,
        "structured": "2:4" if spec.structured else None,
        "schedule": spec.sparsity_schedule,
        "achieved_sparsity": overall_sparsity(per_layer),
        "layers": per_layer,
        "size": {"unpruned": unpruned_size, "pruned": gzipped_tflite_size(stripped_model)},
    }
