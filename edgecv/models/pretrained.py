"""ImageNet-pretrained backbones from keras' own weight files, loaded offline.

edgecv never downloads. A family names, per variant, the file keras.applications
would fetch (`KerasWeights`: file name, published URL, hash when keras publishes one);
`weights="imagenet"` looks for that file in keras' cache (`$KERAS_HOME/models/` or
`~/.keras/models/`, and `/tmp/.keras/models/` which keras uses when the first is not
writable), `weights=PATH` reads the given file. The file's weight tensors are mapped
onto the model's backbone position by position (keras' own `load_weights` by topology
does the same), every shape checked; the classifier head keeps its fresh initialisation.

A family whose keras model has weights edgecv's builder folds differently declares an
adapter: EfficientNet's in-graph Normalization becomes edgecv's `stem_norm` layer.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

from edgecv.errors import ModelError

IMAGENET = "imagenet"
HEAD_LAYERS = ("logits",)    # blocks.classifier_head: the one head layer with weights


@dataclass(frozen=True)
class KerasWeights:
    """The include_top=False file keras.applications publishes for one configuration."""

    file: str                              # keras' exact file name
    url: str                               # where keras publishes it
    file_hash: Optional[str] = None        # keras' hash (md5: 32 hex, sha256: 64); None = keras has none
    adapter: Optional[str] = None          # key into ADAPTERS
    build_kwargs: tuple[tuple[str, object], ...] = ()   # extra builder arguments the file needs


def keras_cache_dirs() -> list[Path]:
    """Folders keras' get_file(cache_subdir="models") reads, in its order."""
    base = Path(os.environ.get("KERAS_HOME") or Path("~/.keras").expanduser())
    dirs = [base / "models"]
    tmp = Path("/tmp/.keras/models")   # keras' fallback when `base` is not writable
    if tmp not in dirs:
        dirs.append(tmp)
    return dirs


def file_digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def hash_algorithm(file_hash: str) -> str:
    """keras' get_file(hash_algorithm="auto"): sha256 for 64 hex digits, else md5."""
    return "sha256" if len(file_hash) == 64 else "md5"


def find_imagenet_file(model: str, source: KerasWeights) -> Path:
    """The cached keras file, hash-checked; ModelError naming file, folder and URL if absent."""
    dirs = keras_cache_dirs()
    found = next((d / source.file for d in dirs if (d / source.file).is_file()), None)
    if found is None:
        raise ModelError(f"model.weights: imagenet weights for {model} need {source.file} in {dirs[0]} "
                         f"(published at {source.url}); edgecv never downloads")
    if source.file_hash:
        algorithm = hash_algorithm(source.file_hash)
        got = file_digest(found, algorithm)
        if got != source.file_hash:
            raise ModelError(f"model.weights: {found} has {algorithm} {got}, keras publishes "
                             f"{source.file_hash}: replace it with the file from {source.url}")
    return found


def _attribute(group, name: str) -> list[str]:
    """An HDF5 attribute list, including keras' chunked form (name0, name1, ...)."""
    if name in group.attrs:
        values = list(group.attrs[name])
    else:
        values, chunk = [], 0
        while f"{name}{chunk}" in group.attrs:
            values.extend(group.attrs[f"{name}{chunk}"])
            chunk += 1
    return [v.decode("utf8") if hasattr(v, "decode") else str(v) for v in values]


def read_h5_weights(path: Path, *, where: str = "model.weights") -> list[tuple[str, list]]:
    """(layer name, [arrays]) for every layer with weights, in file order.

    Reads keras' weights-only files (save_weights, the applications files) and the
    `model_weights` group of full-model .h5 files.
    """
    import h5py
    import numpy as np

    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise ModelError(f"{where}: {path} is not a readable HDF5 weights file ({exc.__class__.__name__})") from None
    with handle:
        group = handle["model_weights"] if "model_weights" in handle else handle
        names = _attribute(group, "layer_names")
        if not names:
            raise ModelError(f"{where}: {path} holds no keras layer weights (no layer_names)")
        layers = []
        for name in names:
            weight_names = _attribute(group[name], "weight_names")
            if weight_names:
                layers.append((name, [np.asarray(group[name][w]) for w in weight_names]))
    return layers


def weighted_layers(model, *, skip: Sequence[str] = HEAD_LAYERS) -> list:
    """The model's layers that own weights, in model order, without the head."""
    return [layer for layer in model.layers if layer.weights and layer.name not in skip]


def _normalization_to_stem_norm(arrays: list, *, imagenet: bool) -> list:
    """keras EfficientNet: pixel/255 -> Normalization(mean, var) [-> * 1/sqrt(std) for
    imagenet, keras' fix for tensorflow#49930]. edgecv feeds x = pixel/127.5 - 1, i.e.
    pixel/255 = (x + 1) / 2, so the same normalised input is x * a + b per channel.
    Exact, padding included: both graphs pad the normalised tensor with zeros."""
    import numpy as np

    from edgecv.models.efficientnet import IMAGENET_STDDEV_RGB

    mean, variance = (np.asarray(a, "float64").reshape(-1) for a in arrays[:2])
    scale = 1.0 / np.maximum(np.sqrt(variance), 1e-7)          # keras backend.epsilon()
    if imagenet:
        scale = scale / np.sqrt(np.asarray(IMAGENET_STDDEV_RGB, "float64"))
    return _affine(np.diag(0.5 * scale), (0.5 - mean) * scale)


def _caffe_stem_norm(arrays: list, *, imagenet: bool) -> list:
    """keras ResNet files expect caffe input: BGR pixels minus the ImageNet mean.
    From x = pixel/127.5 - 1: bgr[c] = 127.5 * x[2 - c] + 127.5 - mean[c]."""
    import numpy as np

    from edgecv.models.resnet import CAFFE_MEAN_BGR

    return _affine(127.5 * np.eye(3)[::-1], 127.5 - np.asarray(CAFFE_MEAN_BGR, "float64"))


def _affine(matrix, bias) -> list:
    """Weights of blocks.input_affine (a 1x1 conv): out[j] = sum_i x[i] * matrix[j, i] + bias[j]."""
    import numpy as np

    kernel = np.asarray(matrix, "float64").T.reshape(1, 1, *np.shape(matrix)[::-1])
    return [kernel.astype("float32"), np.asarray(bias, "float32")]


@dataclass(frozen=True)
class Adapter:
    """An edgecv layer standing for what keras does outside its weight list."""

    layer: str                         # the edgecv layer it sets
    convert: Callable                  # (file arrays of the consumed entry or [], imagenet=bool) -> weights
    consumes: Callable                 # (file layers, model targets) -> True when the file's first entry is keras'


ADAPTERS: dict[str, Adapter] = {
    # keras' Normalization layer (mean, variance, count) is the file's first entry
    "normalization": Adapter("stem_norm", _normalization_to_stem_norm,
                             consumes=lambda saved, targets: bool(saved) and len(saved[0][1]) == 3),
    # caffe preprocessing lives outside keras' model: nothing in the file stands for it
    "caffe": Adapter("stem_norm", _caffe_stem_norm, consumes=lambda saved, targets: False),
}


def load_keras_file(model, path: Path, *, name: str, adapter: Optional[str] = None,
                    imagenet: bool = False, echo: Callable[[str], None] = print) -> int:
    """Map a keras weight file onto `model`'s backbone by position; returns tensors loaded.

    Every shape is checked before anything is set: a wrong file changes nothing.
    A file saved from an edgecv model (it holds `stem_norm` itself) maps one to one.
    """
    # a file saved from an edgecv classifier carries its head: the model keeps a fresh one
    saved = [entry for entry in read_h5_weights(path) if entry[0] not in HEAD_LAYERS]
    targets = weighted_layers(model)
    assignments = []
    if adapter:
        rule = ADAPTERS[adapter]
        layer = model.get_layer(rule.layer)
        rest = [t for t in targets if t is not layer]
        if rule.consumes(saved, targets):
            (_, arrays), saved = saved[0], saved[1:]
            assignments.append((layer, rule.convert(arrays, imagenet=imagenet), f"{path.name}[0]"))
            targets = rest
        elif len(saved) == len(rest):
            assignments.append((layer, rule.convert([], imagenet=imagenet), "(input preprocessing)"))
            targets = rest
    if len(saved) != len(targets):
        raise ModelError(f"model.weights: {path} holds {len(saved)} layers with weights, {name}'s backbone "
                         f"has {len(targets)}: not the file of this model")
    for layer, (saved_name, arrays) in zip(targets, saved):
        assignments.append((layer, arrays, saved_name))
    for layer, arrays, saved_name in assignments:
        ours = [tuple(w.shape) for w in layer.weights]
        theirs = [tuple(a.shape) for a in arrays]
        if ours != theirs:
            raise ModelError(f"model.weights: {path}: layer {saved_name!r} has shapes {theirs}, {name}'s "
                             f"{layer.name!r} needs {ours}")
    for layer, arrays, _ in assignments:
        layer.set_weights(arrays)
    tensors = sum(len(arrays) for _, arrays, _ in assignments)
    fresh = [n for n in HEAD_LAYERS if any(layer.name == n for layer in model.layers)]
    echo(f"weights: loaded {tensors} tensors ({len(assignments)} layers) from {path}"
         + (f"; fresh head: {', '.join(fresh)}" if fresh else ""))
    return tensors


def keras_source(name: str, kwargs: dict) -> Optional[KerasWeights]:
    """The keras file for model `name` built with `kwargs`, or None when keras has none."""
    from edgecv.models.zoo import MODELS

    locate = MODELS.entry(name).info.get("keras_weights")
    return locate(kwargs) if locate else None


def resolve_weights(name: str, weights, kwargs: dict) -> tuple[Path, Optional[KerasWeights]]:
    """(file to read, keras source or None) for `weights` = "imagenet" or a path."""
    if weights != IMAGENET:
        path = Path(os.fspath(weights)).expanduser()
        if not path.is_file():
            raise ModelError(f"model.weights: no such file: {path} (expected 'imagenet' or a keras .h5 weights file)")
        try:   # a keras file of this family needs its adapter; any other file maps one to one
            return path, keras_source(name, kwargs)
        except ModelError:   # e.g. an alpha keras does not publish: an edgecv-saved file
            return path, None
    source = keras_source(name, kwargs)
    if source is None:
        raise ModelError(f"model.weights: {name} has no published keras imagenet weights; "
                         "give a weights file path or train it from scratch")
    return find_imagenet_file(name, source), source


def build_with_weights(name: str, builder, kwargs: dict, weights, echo: Callable[[str], None] = print):
    """Build model `name` and load `weights` ("imagenet" or a path) onto its backbone."""
    path, source = resolve_weights(name, weights, kwargs)
    extra = dict(source.build_kwargs) if source else {}
    model = builder(**{**extra, **kwargs})
    load_keras_file(model, path, name=name, adapter=source.adapter if source else None,
                    imagenet=weights == IMAGENET, echo=echo)
    return model
