"""The recipe's `embedding:` section (pydantic only; no TensorFlow)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from edgecv.schema import Strict

# batch_hard / semi_hard: the triplet loss max(d(A,P) - d(A,N) + margin, 0) with the
# hardest, or the semi-hard, negative of each anchor in the PK batch; contrastive: pairs;
# prototype: a softmax over cosine to each identity's batch centroid (uses temperature).
LOSS_KINDS = ("batch_hard", "semi_hard", "contrastive", "prototype")


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
