"""Transfer learning and per-layer set-up: BN momentum, init_from, freeze."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import tf_keras as keras

from edgecv.errors import ModelError
from edgecv.models.layers import walk_layers

MODEL_FILES = ("model.keras", "model.h5")
# Never trained: the input preprocessing a pretrained file expects (blocks.input_affine)
FIXED_LAYERS = ("stem_norm",)


def set_bn_momentum(model: keras.Model, momentum: float) -> int:
    """Set every BatchNormalization's moving-average momentum; returns how many were set.

    tf_keras defaults to 0.999: after a few hundred steps the moving statistics are
    still mostly their initial values, so a short run evaluates far below its
    training accuracy. Must be called before the model is compiled/traced.
    """
    count = 0
    for layer in walk_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = float(momentum)
            count += 1
    return count


def head_layers(model: keras.Model) -> list[str]:
    """Names of the head: for each output, the last layer with weights on its path
    and every layer after it (classifier: `logits` + `predictions`; detection: one
    final conv per scale)."""
    head: list[str] = []
    for output in model.outputs:
        layer = output._keras_history.layer
        trail = []
        while True:
            trail.append(layer.name)
            if layer.weights or not layer._inbound_nodes:
                break
            parents = layer._inbound_nodes[0].inbound_layers
            parents = parents if isinstance(parents, list) else [parents]
            if len(parents) != 1 or isinstance(parents[0], keras.layers.InputLayer):
                break
            layer = parents[0]
        head += [name for name in trail if name not in head]
    return head


def freeze(model: keras.Model, what: str | None, echo: Callable[[str], None] = print) -> list[str]:
    """`backbone`: freeze all but the head; a layer name: freeze every layer up to and
    including it (in model order). Frozen BatchNorm layers run in inference mode.
    Returns the frozen layer names."""
    for layer in model.layers:
        layer.trainable = layer.name not in FIXED_LAYERS
    if not what:
        return []
    names = [layer.name for layer in model.layers]
    if what == "backbone":
        head = set(head_layers(model))
        frozen = [n for n in names if n not in head]
    elif what in names:
        frozen = names[: names.index(what) + 1]
    else:
        from edgecv.registry import suggest

        raise ModelError(f"model.freeze: no layer named {what!r} in {model.name}{suggest(what, names + ['backbone'])}")
    for name in frozen:
        model.get_layer(name).trainable = False
    trainable = sum(int(w.shape.num_elements()) for w in model.trainable_weights)
    echo(f"freeze {what}: {len(frozen)}/{len(names)} layers frozen, {trainable:,} trainable parameters left")
    return frozen


def resolve_init_file(path: Path) -> Path:
    """A run directory (its model.keras/model.h5) or a .keras/.h5 file."""
    path = Path(path)
    if path.is_dir():
        for name in MODEL_FILES:
            if (path / name).exists():
                return path / name
        raise ModelError(f"model.init_from: {path} holds no {' or '.join(MODEL_FILES)}")
    if path.suffix not in (".keras", ".h5"):
        raise ModelError(f"model.init_from: expected a run directory or a .keras/.h5 file, got {path}")
    if not path.exists():
        raise ModelError(f"model.init_from: no such file: {path}")
    return path


def init_from(model: keras.Model, source: Path, echo: Callable[[str], None] = print) -> dict[str, list[str]]:
    """Copy weights by layer name from a saved model; layers whose shapes differ
    (typically the classifier head for a new class count) keep their fresh init."""
    path = resolve_init_file(source)
    saved = _load_saved_model(path)
    saved_layers = {layer.name: layer for layer in walk_layers(saved)}
    loaded, mismatched, missing = [], [], []
    for layer in model.layers:
        if not layer.weights:
            continue
        other = saved_layers.get(layer.name)
        if other is None:
            missing.append(layer.name)
            continue
        ours, theirs = layer.get_weights(), other.get_weights()
        if len(ours) != len(theirs) or any(a.shape != b.shape for a, b in zip(ours, theirs)):
            mismatched.append(layer.name)
            continue
        layer.set_weights(theirs)
        loaded.append(layer.name)
    if not loaded:
        raise ModelError(f"model.init_from: {path} shares no layer (by name and shape) with {model.name}")
    echo(f"init_from {path}: loaded {len(loaded)} layers")
    if mismatched:
        echo(f"note: init_from kept fresh weights for shape-mismatched layers: {', '.join(mismatched)}")
    if missing:
        echo(f"note: init_from found no saved weights for: {', '.join(missing)}")
    return {"loaded": loaded, "mismatched": mismatched, "missing": missing}


def _load_saved_model(path: Path) -> keras.Model:
    from edgecv.optimize.pqat import quantize_scope

    try:
        with quantize_scope():
            return keras.models.load_model(path, compile=False)
    except (OSError, ValueError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"model.init_from: cannot load {path}: {first}") from None
