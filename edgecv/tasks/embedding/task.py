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
- `adapt_to_model` picks the same/different threshold on the validation split with the
  trained float model; `export_metadata` writes it, so an app decides without the recipe
  and `make_task(metadata)` scores a file at the threshold it ships with.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Optional, Sequence

import numpy as np

from edgecv.tasks.base import Task
from edgecv.tasks.embedding.config import EmbeddingSpec
from edgecv.tasks.embedding.metrics import cosine_fidelity, embedding_scores

THRESHOLD_SAMPLES = 5000    # validation images embedded to pick the threshold


@dataclass(frozen=True)
class EmbeddingTask(Task):
    spec: EmbeddingSpec = field(default_factory=EmbeddingSpec)
    threshold: Optional[float] = None           # squared distance: "same" iff d <= threshold
    input_shape: Optional[tuple[int, int, int]] = None
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

        return [ValidationAUC(val_data)]

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
        """The best-threshold of the float model on (up to THRESHOLD_SAMPLES of) the
        validation split, i.e. on identities training never saw when classes are held out."""
        from edgecv.data import eval_arrays
        from edgecv.data.normalize import normalize

        shape = self.input_shape or tuple(model.input_shape[1:])
        x, labels = eval_arrays(val_set, input_shape=shape, limit=THRESHOLD_SAMPLES, resize=self.resize)
        embeddings = model.predict(normalize(x), batch_size=64, verbose=0)
        result = embedding_scores(embeddings, labels)
        return replace(self, threshold=round(result["best_threshold"], 6))

    def app_outputs(self, keys):
        from edgecv.tasks.app_outputs import AppOutputs, OutputTensor, only_key

        same = "" if self.threshold is None else \
            f"; same identity iff squared distance <= {self.threshold:g}"
        return AppOutputs((OutputTensor(
            key=only_key(keys, self.name), name="embedding",
            description=f"L2-normalised {self.spec.dim}-d embedding{same}",
            value_bounds=(-1.0, 1.0)),), summary="image embedder")

    def export_metadata(self) -> dict:
        part = {"dim": self.spec.dim, "l2_normalized": True, "distance": "squared_euclidean",
                "loss": self.spec.loss}
        part.update({"temperature": self.spec.temperature} if self.spec.loss == "prototype"
                    else {"margin": self.spec.margin})
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


def _first(outputs: Any) -> np.ndarray:
    if isinstance(outputs, (list, tuple)):
        if len(outputs) != 1:
            raise ValueError(f"embedding models have one output, got {len(outputs)}")
        return np.asarray(outputs[0])
    return np.asarray(outputs)
