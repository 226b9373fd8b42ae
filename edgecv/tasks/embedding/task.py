"""Embedding: one-shot verification (Siamese networks) with identities as classes.

- Model: any backbone without its classifier + `head.embedding_model` (an L2-normalised
  `embedding.dim` vector); outputs `(N, dim)`.
- Training: PK batches (`batch_sampler`: P = data.batch_size / images_per_identity
  identities x K images, edgecv.data.sampling) and the recipe's loss (`loss.py`:
  batch-hard or semi-hard triplet, or contrastive, with `embedding.margin`; or prototype,
  a softmax to the batch's identity centroids, with `embedding.temperature`).
- Scoring (`metrics.py`, numpy): verification ROC AUC (the report's metric), TAR@FAR,
  the best-threshold accuracy and its threshold, recall@1/@5; `compare_outputs` gives the
  int8-vs-float cosine fidelity the bench reports.
- Best epoch: `validation.ValidationAUC` adds the verification ROC AUC of the validation
  split (`val_roc_auc`, metrics.py) to every epoch's logs.
- `adapt_to_model`, on the validation split with the trained float model: the layer the
  run ships (`embedding.features`: the head, a named layer, or `auto`: the best-scoring
  residual merge), its centre (`embedding.center`) and principal directions
  (`embedding.project`), which `final_model` puts in the graph (head.features_model);
  then the same/different threshold of that model. `export_metadata` writes them, so an app decides without the recipe and
  `make_task(metadata)` scores a file at the threshold it ships with.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

import numpy as np

from edgecv.tasks.base import Task
from edgecv.tasks.embedding.config import AUTO, HEAD, EmbeddingSpec
from edgecv.tasks.embedding.metrics import cosine_fidelity, embedding_scores

THRESHOLD_SAMPLES = 5000    # validation images embedded to pick the threshold (and the centre)
SELECTION_SAMPLES = 2000    # of those, scored per candidate layer (~2 M pairs, all of them)


@dataclass(frozen=True)
class EmbeddingTask(Task):
    spec: EmbeddingSpec = field(default_factory=EmbeddingSpec)
    threshold: float | None = None           # squared distance: "same" iff d <= threshold
    # Set by adapt_to_model when the run ships other features than the trained head:
    layer: str | None = None                 # the layer final_model reads
    center: tuple[float, ...] | None = None  # subtracted before the L2 normalisation
    projection: tuple[tuple[float, ...], ...] | None = None   # `project`: features x dims
    layer_scores: dict | None = None         # `features: auto`: validation AUC per candidate
    output_dim: int | None = None            # the shipped embedding's size
    input_shape: tuple[int, int, int] | None = None
    resize: str = "stretch"
    name: str = "embedding"
    # Verification AUC on the validation identities (validation.py), not val_loss, which
    # kept falling while the AUC fell; without a validation split: the training loss.
    monitor: str = "val_roc_auc"
    mode: str = "max"
    monitor_without_val: str = "loss"

    # ------------------------------------------------------------ model and training
    def build_model(self, builder: Callable, **kwargs: Any):
        from edgecv.tasks.embedding.head import embedding_model

        kwargs.pop("num_classes", None)     # identities are not outputs
        return embedding_model(builder, dim=self.spec.dim, **kwargs)

    def batch_sampler(self, batch_size: int):
        from edgecv.data.sampling import PKSampler
        from edgecv.errors import RecipeError

        k = self.spec.images_per_identity
        if batch_size % k or batch_size // k < 2:
            raise RecipeError(f"embedding.images_per_identity: data.batch_size {batch_size} must be a "
                              f"multiple of {k} holding at least 2 identities")
        return PKSampler(batch_size // k, k, where="embedding: data.batch_size / images_per_identity")

    def validation_callbacks(self, val_data: Any) -> list:
        from edgecv.tasks.embedding.validation import ValidationAUC

        if not self._ships_other_features():
            return [ValidationAUC(val_data)]
        # the epoch whose features, as they will ship, score best: the best candidate's AUC
        return [ValidationAUC(val_data, layers=self.feature_layers, centered=self.spec.center == "validation")]

    def loss(self, recipe: Any = None):
        from edgecv.tasks.embedding.loss import EmbeddingLoss

        return EmbeddingLoss(self.spec.loss, self.spec.margin, self.spec.temperature)

    # ------------------------------------------------------------ scoring
    def score(self, outputs: Sequence[np.ndarray], targets: Any, class_names: Sequence[str]) -> dict:
        return embedding_scores(_first(outputs), np.asarray(targets), threshold=self.threshold)

    def chance_level(self, targets: Any, class_names: Sequence[str]) -> float | None:
        """ROC AUC of embeddings that tell no pair apart."""
        return 0.5

    def compare_outputs(self, outputs: Sequence[np.ndarray], reference: Sequence[np.ndarray]) -> dict:
        return cosine_fidelity(_first(outputs), _first(reference))

    def adapt_to_model(self, model: Any, val_set: Any) -> "EmbeddingTask":
        """On (up to THRESHOLD_SAMPLES of) the validation split, i.e. on identities training
        never saw when classes are held out: the shipped features and their centre (when
        the recipe asks for them), then the best threshold of the model that ships them."""
        from edgecv.data import eval_arrays
        from edgecv.data.normalize import normalize
        from edgecv.errors import RecipeError
        from edgecv.tasks.embedding.head import shipped_layer

        if val_set is None or not len(val_set):
            raise RecipeError("embedding: the same/different threshold (and embedding.features / "
                              "center) need a validation split; it is empty")
        shape = self.input_shape or tuple(model.input_shape[1:])
        if len(val_set) > THRESHOLD_SAMPLES:   # a seeded draw: a folder set is in identity order
            val_set = val_set.subset(np.random.default_rng(0).permutation(len(val_set))[:THRESHOLD_SAMPLES])
        x, labels = eval_arrays(val_set, input_shape=shape, resize=self.resize)
        x = normalize(x)
        task = self
        if shipped_layer(model) is not None:    # model.keras of a run: features already in it
            task = replace(self, layer=shipped_layer(model))
        elif self._ships_other_features():
            task = self._with_features(model, x, labels)
            model = task.final_model(model)
        embeddings = model.predict(x, batch_size=64, verbose=0)
        result = embedding_scores(embeddings, labels)
        return replace(task, threshold=round(result["best_threshold"], 6),
                       output_dim=int(embeddings.shape[-1]))

    def final_model(self, model: Any) -> Any:
        from edgecv.tasks.embedding.head import features_model, shipped_layer

        if self.layer is None or shipped_layer(model) is not None:
            return model

        return features_model(model, self.layer, self.center, self.projection)

    def feature_layers(self, model: Any) -> list[str]:
        """The layers `embedding.features` chooses from (one unless `auto`)."""
        from edgecv.tasks.embedding.head import HEAD_LAYER, candidate_layers

        if self.spec.features == AUTO:
            return candidate_layers(model)
        return [HEAD_LAYER if self.spec.features == HEAD else self.spec.features]

    def _ships_other_features(self) -> bool:
        return self.spec.features != HEAD or self.spec.center != "none"

    def _with_features(self, model: Any, x: np.ndarray, labels: np.ndarray) -> EmbeddingTask:
        """The layer (`auto`: the candidate whose features, centred as the recipe says,
        score the highest verification AUC on x) and its centre on x."""
        from edgecv.tasks.embedding.head import layer_features
        from edgecv.tasks.embedding.metrics import features_auc

        centered = self.spec.center == "validation"
        names = self.feature_layers(model)
        features = layer_features(model, names).predict(x, batch_size=64, verbose=0)
        features = dict(zip(names, features if len(names) > 1 else [features]))
        # on the first SELECTION_SAMPLES images (all pairs), as ValidationAUC scored the epochs
        scores = {name: round(features_auc(features[name][:SELECTION_SAMPLES], labels[:SELECTION_SAMPLES],
                                           centered=centered), 4) for name in names}
        layer = max(names, key=lambda name: scores[name])   # ties: the earlier layer
        mean = features[layer].mean(axis=0)     # the centre: over all of x
        center = tuple(float(v) for v in mean) if centered else None
        projection = None
        if self.spec.project is not None:
            projection = tuple(map(tuple, principal_directions(features[layer] - mean, self.spec.project,
                                                               layer).tolist()))
        return replace(self, layer=layer, center=center, projection=projection,
                       layer_scores=scores if self.spec.features == AUTO else None)

    def app_outputs(self, keys):
        from edgecv.tasks.app_outputs import AppOutputs, OutputTensor, only_key

        same = "" if self.threshold is None else \
            f"; same identity iff squared distance <= {self.threshold:g}"
        return AppOutputs((OutputTensor(
            key=only_key(keys, self.name), name="embedding",
            description=f"L2-normalised {self.output_dim or self.spec.dim}-d embedding{same}",
            value_bounds=(-1.0, 1.0)),), summary="image embedder")

    def export_metadata(self) -> dict:
        part = {"dim": self.output_dim or self.spec.dim, "l2_normalized": True,
                "distance": "squared_euclidean", "loss": self.spec.loss}
        part.update({"temperature": self.spec.temperature} if self.spec.loss == "prototype"
                    else {"margin": self.spec.margin})
        if self.layer is not None:   # not the head: which layer, centred on what
            part["features"] = {"layer": self.layer, "center": self.spec.center}
            if self.spec.project is not None:
                part["features"]["project"] = self.spec.project
            if self.layer_scores:
                part["features"]["validation_auc"] = self.layer_scores
        if self.threshold is not None:
            # same identity iff ||a - b||^2 <= threshold, i.e. cosine >= 1 - threshold / 2
            part["threshold"] = self.threshold
            part["cosine_threshold"] = round(1.0 - self.threshold / 2.0, 6)
        return {"embedding": part}


def make_task(source: Any = None) -> EmbeddingTask:
    """From a recipe (its `embedding:` section), a .tflite metadata dict (its `embedding`
    part: the threshold the file ships with), or None (defaults)."""
    if source is None:
        return EmbeddingTask()
    if isinstance(source, dict):
        part = source.get("embedding") or {}
        spec = EmbeddingSpec(**{k: part[k] for k in ("dim", "loss", "margin", "temperature") if k in part})
        return EmbeddingTask(spec=spec, threshold=part.get("threshold"))
    spec = getattr(source, "embedding", None) or EmbeddingSpec()
    return EmbeddingTask(spec=spec, input_shape=tuple(source.model.input_shape), resize=source.data.resize)


def principal_directions(centered: np.ndarray, dims: int, layer: str) -> np.ndarray:
    """The top `dims` principal directions of `centered` (images x features) as columns,
    each signed so its largest entry is positive (the SVD leaves signs to chance; this keeps
    a re-run's file the same)."""
    from edgecv.errors import RecipeError

    if dims > min(centered.shape):
        raise RecipeError(f"embedding.project: {dims} dimensions, but {layer!r} has "
                          f"{centered.shape[1]} features over {centered.shape[0]} validation images")
    _, _, rows = np.linalg.svd(centered.astype(np.float64), full_matrices=False)
    top = rows[:dims]
    signs = np.sign(top[np.arange(dims), np.abs(top).argmax(axis=1)])
    return (top * signs[:, None]).T.astype(np.float32)


def _first(outputs: Any) -> np.ndarray:
    if isinstance(outputs, (list, tuple)):
        if len(outputs) != 1:
            raise ValueError(f"embedding models have one output, got {len(outputs)}")
        return np.asarray(outputs[0])
    return np.asarray(outputs)
