"""Metric-learning losses over one batch of embeddings and identity labels (tf_keras).

Imported only when an embedding model is trained (it imports TensorFlow). d(a, b) is the
squared Euclidean distance ||f(a) - f(b)||^2 (the course's definition); on L2-normalised
embeddings it lies in [0, 4] and equals 2 - 2 cos(a, b).

- batch_hard (Hermans et al. 2017): per anchor, its farthest positive and nearest negative
  in the batch; loss = mean over anchors of max(d(A,P) - d(A,N) + margin, 0).
- semi_hard (Schroff et al. 2015, FaceNet; the rule of tfa's TripletSemiHardLoss): per
  (anchor, positive) pair, the nearest negative farther than the positive
  (d(A,N) > d(A,P)); when there is none, the anchor's farthest negative; loss = mean over
  pairs of max(d(A,P) - d(A,N) + margin, 0).
- contrastive (Hadsell et al. 2006): mean over pairs i != j of d for same-identity pairs
  and max(margin - sqrt(d), 0)^2 for different ones.
- prototype (the softmax of GE2E, Wan et al. 2018; prototypical networks, Snell et al.
  2017): per image, a softmax over its cosine similarity to every identity's centroid in
  the batch, divided by a temperature; its own centroid leaves the image out. No mining
  and no learnt class weights (unlike a proxy/normalised-softmax loss, whose per-class
  proxies a Keras loss cannot hold): the PK batch supplies the class centres.

Anchors without a positive or a negative in the batch (possible in validation batches,
which are not PK-sampled) are left out; a batch with none gives 0.
"""
from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

from edgecv.errors import RecipeError
from edgecv.tasks.embedding.config import LOSS_KINDS


def pairwise_distances(embeddings):
    """Squared Euclidean distances [B, B] (>= 0, exactly 0 on the diagonal)."""
    embeddings = tf.cast(embeddings, tf.float32)
    dot = tf.matmul(embeddings, embeddings, transpose_b=True)
    norms = tf.linalg.diag_part(dot)
    distances = tf.maximum(norms[:, None] - 2.0 * dot + norms[None, :], 0.0)
    return tf.linalg.set_diag(distances, tf.zeros_like(norms))


def _masks(labels):
    labels = tf.reshape(tf.cast(labels, tf.int32), [-1])
    same = tf.equal(labels[:, None], labels[None, :])
    not_self = tf.logical_not(tf.eye(tf.shape(labels)[0], dtype=tf.bool))
    return tf.logical_and(same, not_self), tf.logical_not(same)


def batch_hard_triplet_loss(labels, embeddings, margin: float):
    distances = pairwise_distances(embeddings)
    positive, negative = _masks(labels)
    hardest_positive = tf.reduce_max(tf.where(positive, distances, 0.0), axis=1)
    hardest_negative = tf.reduce_min(tf.where(negative, distances, float("inf")), axis=1)
    valid = tf.logical_and(tf.reduce_any(positive, 1), tf.reduce_any(negative, 1))
    losses = tf.where(valid, tf.nn.relu(hardest_positive - hardest_negative + margin), 0.0)
    return tf.math.divide_no_nan(tf.reduce_sum(losses), tf.reduce_sum(tf.cast(valid, tf.float32)))


def semi_hard_triplet_loss(labels, embeddings, margin: float):
    distances = pairwise_distances(embeddings)
    positive, negative = _masks(labels)
    d_ap = distances[:, :, None]                 # [anchor, positive, 1]
    d_an = distances[:, None, :]                 # [anchor, 1, negative]
    farther = tf.logical_and(negative[:, None, :], d_an > d_ap)
    semi_hard = tf.reduce_min(tf.where(farther, d_an, float("inf")), axis=2)
    farthest = tf.reduce_max(tf.where(negative, distances, -float("inf")), axis=1)[:, None]
    chosen = tf.where(tf.reduce_any(farther, axis=2), semi_hard, farthest)
    valid = tf.logical_and(positive, tf.reduce_any(negative, axis=1)[:, None])
    losses = tf.where(valid, tf.nn.relu(distances - chosen + margin), 0.0)
    return tf.math.divide_no_nan(tf.reduce_sum(losses), tf.reduce_sum(tf.cast(valid, tf.float32)))


def contrastive_loss(labels, embeddings, margin: float):
    distances = pairwise_distances(embeddings)
    positive, negative = _masks(labels)
    # sqrt'(0) is infinite: far pairs only need the distance where margin - d > 0 anyway.
    distance = tf.sqrt(tf.maximum(distances, 1e-12))
    losses = tf.where(positive, distances, 0.0) + tf.where(negative, tf.nn.relu(margin - distance) ** 2, 0.0)
    pairs = tf.reduce_sum(tf.cast(tf.logical_or(positive, negative), tf.float32))
    return tf.math.divide_no_nan(tf.reduce_sum(losses), pairs)


def prototype_loss(labels, embeddings, temperature: float):
    labels = tf.reshape(tf.cast(labels, tf.int32), [-1])
    embeddings = tf.math.l2_normalize(tf.cast(embeddings, tf.float32), axis=1)
    _, index = tf.unique(labels)                                       # identity -> 0..U-1
    members = tf.one_hot(index, tf.reduce_max(index) + 1)              # [B, U]
    sums = tf.matmul(members, embeddings, transpose_a=True)            # [U, D]
    # A centroid's direction is its sum's: cosine needs no division by the count.
    similarity = tf.matmul(embeddings, tf.math.l2_normalize(sums, axis=1), transpose_b=True)
    own_sum = tf.gather(sums, index) - embeddings                      # own centroid without self
    own = tf.reduce_sum(embeddings * tf.math.l2_normalize(own_sum, axis=1), axis=1)
    similarity = tf.where(members > 0, own[:, None], similarity)
    own_count = tf.gather(tf.reduce_sum(members, axis=0), index) - 1.0
    valid = tf.logical_and(own_count > 0, tf.reduce_any(members < 1, axis=1))
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(index, similarity / temperature)
    losses = tf.where(valid, losses, 0.0)
    return tf.math.divide_no_nan(tf.reduce_sum(losses), tf.reduce_sum(tf.cast(valid, tf.float32)))


_MARGIN_LOSSES = {"batch_hard": batch_hard_triplet_loss, "semi_hard": semi_hard_triplet_loss,
                  "contrastive": contrastive_loss}


@keras.utils.register_keras_serializable(package="edgecv")
class EmbeddingLoss(keras.losses.Loss):
    """y_true: identity labels [B]; y_pred: embeddings [B, D]. One scalar per batch."""

    def __init__(self, kind: str = "batch_hard", margin: float = 0.2, temperature: float = 0.05,
                 name: str = "embedding_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        if kind not in LOSS_KINDS:
            raise RecipeError(f"embedding.loss: unknown loss {kind!r}; expected one of {list(LOSS_KINDS)}")
        self.kind, self.margin, self.temperature = kind, float(margin), float(temperature)

    def call(self, y_true, y_pred):
        if self.kind == "prototype":
            return prototype_loss(y_true, y_pred, self.temperature)
        return _MARGIN_LOSSES[self.kind](y_true, y_pred, self.margin)

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "margin": self.margin, "temperature": self.temperature}
