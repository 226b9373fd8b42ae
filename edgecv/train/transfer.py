"""Transfer learning and per-layer set-up: BN momentum, init_from, freeze."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import tf_keras as keras

from edgecv.errors import ModelError
from edgecv.models.layers import walk_layers

# A run directory's model, in order. The whole trained model is kept as TRAINED_MODEL_FILE
# where the shipped model.keras is cut from it (embedding `features:`), so it comes first.
TRAINED_MODEL_FILE = "model_trained.keras"
MODEL_FILES = (TRAINED_MODEL_FILE, "model.keras", "model.h5")
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


def block_of(layer_name: str) -> str:
    """A layer's block: its name up to the first '_' (stem, block3, mixed7, head), the
    fixed layer names every edgecv family gives (blocks.py)."""
    return layer_name.split("_", 1)[0]


def backbone_blocks(model: keras.Model) -> list[str]:
    """The backbone's blocks that own weights, input to output (the head excluded)."""
    head = set(head_layers(model))
    blocks: list[str] = []
    for layer in model.layers:
        key = block_of(layer.name)
        if layer.weights and layer.name not in head and key not in blocks:
            blocks.append(key)
    return blocks


def unfreeze_top(model: keras.Model, blocks, echo: Callable[[str], None] = print, *,
                 train_bn: bool = True) -> list[str]:
    """Fine-tuning regime: the head and the top `blocks` backbone blocks train, the rest
    stays frozen (its BatchNorm layers in inference mode); "all" = full fine-tune.
    `train_bn=False` keeps every backbone BatchNorm frozen in inference mode too (the
    keras guide's advice for small data: the pretrained statistics survive).
    Returns the frozen layer names."""
    for layer in model.layers:
        layer.trainable = layer.name not in FIXED_LAYERS
    order = backbone_blocks(model)
    if blocks == "all":
        keep = set(order)
    elif isinstance(blocks, int) and not isinstance(blocks, bool) and blocks >= 0:
        keep = set(order[len(order) - blocks:]) if blocks else set()
    else:
        raise ModelError(f"finetune.unfreeze: expected a number of blocks or 'all', got {blocks!r}")
    head = set(head_layers(model))
    frozen = [layer.name for layer in model.layers
              if layer.weights and layer.name not in head
              and (block_of(layer.name) not in keep
                   or (not train_bn and isinstance(layer, keras.layers.BatchNormalization)))]
    for name in frozen:
        model.get_layer(name).trainable = False
    trainable = sum(int(w.shape.num_elements()) for w in model.trainable_weights)
    top = [b for b in order if b in keep]
    echo(f"finetune: training the head and {len(top)}/{len(order)} backbone blocks"
         + (f" ({top[0]}..{top[-1]})" if top else "") + f", {trainable:,} trainable parameters")
    return frozen


def resolve_init_file(path: Path) -> Path:
    """A run directory (its model_trained.keras, model.keras or model.h5) or a .keras/.h5 file."""
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


MIN_MATCH = 0.5   # init_from refuses when fewer of the model's weight tensors find a match


def init_from(model: keras.Model, source: Path, echo: Callable[[str], None] = print) -> dict[str, list[str]]:
    """Copy weights by layer name from a saved model or a weights-only .h5; layers whose
    shapes differ (typically the classifier head for a new class count) keep their fresh
    init. Refuses when most of the model's weight tensors find no match: a keras file
    with other layer names belongs in `model.weights` (loaded by position)."""
    path = resolve_init_file(source)
    saved_layers = _saved_weights(path)
    loaded, mismatched, missing = [], [], []
    total = matched = 0
    for layer in model.layers:
        if not layer.weights:
            continue
        ours = layer.get_weights()
        total += len(ours)
        theirs = saved_layers.get(layer.name)
        if theirs is None:
            missing.append(layer.name)
            continue
        if len(ours) != len(theirs) or any(a.shape != b.shape for a, b in zip(ours, theirs)):
            mismatched.append(layer.name)
            continue
        layer.set_weights(theirs)
        loaded.append(layer.name)
        matched += len(ours)
    trained = path.with_name(TRAINED_MODEL_FILE)
    whole = f" ({trained} is the run's model as trained)" if trained != path and trained.is_file() else ""
    if matched < MIN_MATCH * total:
        raise ModelError(f"model.init_from: {path} matches only {matched} of {model.name}'s {total} weight "
                         f"tensors by layer name and shape ({len(loaded)} layers){whole}; for keras' files "
                         "use model.weights, which maps by position")
    echo(f"init_from {path}: loaded {matched} of {total} tensors ({len(loaded)} layers)")
    if mismatched:
        echo(f"note: init_from kept fresh weights for shape-mismatched layers: {', '.join(mismatched)}")
    if missing:
        echo(f"note: init_from found no saved weights for: {', '.join(missing)}{whole}")
    return {"loaded": loaded, "mismatched": mismatched, "missing": missing}


def _saved_weights(path: Path) -> dict[str, list]:
    """layer name -> weight arrays, from a saved model or a weights-only .h5 file."""
    if path.suffix == ".h5" and not _has_model_config(path):
        from edgecv.models.pretrained import read_h5_weights

        return dict(read_h5_weights(path, where="model.init_from"))
    saved = _load_saved_model(path)
    return {layer.name: layer.get_weights() for layer in walk_layers(saved) if layer.weights}


def _has_model_config(path: Path) -> bool:
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            return "model_config" in handle.attrs
    except OSError:
        return True   # not HDF5: let load_model say what it is


def _load_saved_model(path: Path) -> keras.Model:
    from edgecv.optimize.qat import load_keras_model  # the one loader (QAT models included)

    return load_keras_model(path, error=ModelError, what="model.init_from's saved model")
