"""The recipe's `embedding:` section (pydantic only; no TensorFlow)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from edgecv.schema import KeyProblem, Strict

# batch_hard / semi_hard: the triplet loss max(d(A,P) - d(A,N) + margin, 0) with the
# hardest, or the semi-hard, negative of each anchor in the PK batch; contrastive: pairs;
# prototype: a softmax over cosine to each identity's batch centroid (uses temperature).
LOSS_KINDS = ("batch_hard", "semi_hard", "contrastive", "prototype")
HEAD = "head"       # `features`: the trained embedding head (Dense(dim) -> L2)
AUTO = "auto"       # `features`: the residual merge (or the head) the validation split scores best


class EmbeddingSpec(Strict):
    """Embedding head and metric-learning loss. Training batches hold
    P = data.batch_size / images_per_identity identities x images_per_identity images."""

    dim: int = Field(128, gt=0, le=4096)                 # embedding size (L2-normalised)
    # semi_hard by default: batch-hard from random weights collapsed to one point in trials
    # (recipes/fashion_mnist_embedding.yaml); it suits pretrained backbones.
    loss: Literal[LOSS_KINDS] = "semi_hard"  # type: ignore[valid-type]
    margin: float = Field(0.2, gt=0.0, le=4.0)          # on squared distances (contrastive: distance)
    temperature: float = Field(0.05, gt=0.0, le=1.0)    # prototype: cosine / temperature are the logits
    images_per_identity: int = Field(4, ge=2)           # K of the PK batch

    # What the shipped model outputs (head.py, features_model). "head": the trained head.
    # A backbone layer's name, or "auto" (every residual merge and the head, scored on the
    # validation split): that layer's output, flattened and L2-normalised; the backbone
    # after it is dropped. Trained on 7 Fashion-MNIST classes, a middle layer keeps apart
    # unseen classes the head maps together (benchmarks/README.md, "Embedding").
    features: str = Field(HEAD, min_length=1)
    # "validation": subtract the mean feature vector of the validation images (no labels
    # used) before the L2 normalisation, in the graph: in-domain mean normalisation, as
    # speaker verification does before cosine scoring. With held-out classes those are
    # other images of the identities to verify, so say so when reporting a number.
    center: Literal["none", "validation"] = "none"
    # With center: validation, a number of dimensions: the centred features projected onto
    # their top principal directions on the validation images (PCA, folded into one Dense
    # layer, the centre its bias). A 288-d layer's int8 file kept a cosine of 0.989 to the
    # float model; projected to 32 dims, 0.993-0.996 at the same AUC (benchmarks/README.md).
    project: int | None = Field(None, gt=0, le=4096)

    @field_validator("project")
    @classmethod
    def _project_needs_center(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and info.data.get("center") != "validation":
            raise ValueError("the projection is found on the centred validation features; "
                             "it needs center: validation")
        return value

    def check_stages(self, *, qat: bool) -> None:
        """KeyProblem when the shipped features would be layers a QAT stage never trained."""
        if qat and (self.features != HEAD or self.center != "none"):
            key = "features" if self.features != HEAD else "center"   # project needs center
            raise KeyProblem(("embedding", key), f"{getattr(self, key)} is applied to the float model after "
                             "training; a qat stage's int8 file cannot hold it (remove the qat stage, or "
                             "use features: head, center: none)")
