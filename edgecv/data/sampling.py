"""Batch samplers: which samples a training batch holds, as a tf.data stream of positions.

The default pipeline shuffles all samples. Metric learning needs batches of P identities x
K images each (PK batches, Hermans et al. 2017) so every anchor has positives and
negatives to mine. `make_pipeline(..., sampler=PKSampler(p, k))` draws them; the class is
TF-free (a task builds it from its recipe section), `positions` imports TensorFlow.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgecv.errors import DataError


@dataclass(frozen=True)
class PKSampler:
    """P identities (labels) x K images per batch.

    Each round of ceil(C / P) batches visits every identity once (a fresh permutation of
    the C identities; the last group is filled with the round's first identities, so a
    batch never holds an identity twice). Images of an identity are drawn from its own
    reshuffled, repeating stream (an identity with fewer than K images repeats some).
    One epoch = max(ceil(N / (P*K)), one round) batches: about one pass over the images.
    Identities with a single image cannot give a positive and are left out.
    Validation (`training=False`): the same draw with a fixed order every epoch and at most
    as many identities per batch as the set has (held-out sets are often small).
    """

    identities: int            # P
    per_identity: int          # K
    where: str = "sampler"     # named in errors (e.g. the recipe keys that set P and K)

    @property
    def batch_size(self) -> int:
        return self.identities * self.per_identity

    def groups(self, ds: Any, training: bool = True) -> list[np.ndarray]:
        """Source indices of each usable identity (2+ images), in label order."""
        labels = ds.labels
        if labels is None:
            raise DataError(f"{self.where}: PK batches need per-image labels; {ds.name} has none")
        members = [ds.indices[labels == c] for c in np.unique(labels)]
        members = [m for m in members if len(m) >= 2]
        if len(members) < (self.identities if training else 2):
            raise DataError(f"{self.where}: a batch holds {self.identities} identities but {ds.name} has "
                            f"{len(members)} with 2+ images; lower the batch size")
        return members

    def steps(self, ds: Any, training: bool = True) -> int:
        groups = self.groups(ds, training)
        p = min(self.identities, len(groups))
        images = sum(len(m) for m in groups)
        return max(math.ceil(images / (p * self.per_identity)), math.ceil(len(groups) / p))

    def positions(self, ds: Any, seed: int = 0, training: bool = True):
        """(tf.data.Dataset of int64 source indices, P*K per batch in order; batches per
        epoch; batch size)."""
        import tensorflow as tf

        groups = self.groups(ds, training)
        count, k = len(groups), self.per_identity
        p = min(self.identities, count)
        rounds = math.ceil(count / p)
        streams = [tf.data.Dataset.from_tensor_slices(m.astype(np.int64))
                   .shuffle(len(m), seed=seed + i, reshuffle_each_iteration=training).repeat()
                   for i, m in enumerate(groups)]

        def one_round(pair):
            order = tf.argsort(tf.random.stateless_uniform([count], seed=pair))
            order = tf.concat([order, order[: rounds * p - count]], 0)   # see the class doc
            return tf.reshape(order, [rounds, p])

        choice = (tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=training).batch(2)
                  .map(one_round).unbatch()
                  .map(lambda group: tf.cast(tf.repeat(group, k), tf.int64)).unbatch())
        steps = self.steps(ds, training)
        picked = tf.data.Dataset.choose_from_datasets(streams, choice).take(steps * p * k)
        return picked, steps, p * k
