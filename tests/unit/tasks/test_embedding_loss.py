"""Triplet / contrastive / prototype losses against values computed by hand on a crafted 4x2 batch.

One-dimensional embeddings keep the arithmetic readable: d(a, b) = (a - b)^2.
Identities (P=4 x K=2):  0: {0, 13}   1: {2, 4}   2: {5, 11}   3: {10, 12}
"""
from __future__ import annotations

import numpy as np
import pytest

LABELS = np.array([0, 0, 1, 1, 2, 2, 3, 3], np.int32)
POINTS = np.array([[0.0], [13.0], [2.0], [4.0], [5.0], [11.0], [10.0], [12.0]], np.float32)
MARGIN = 6.0


def _value(fn, labels, points, margin=MARGIN):
    return float(fn(labels, points, margin))


def test_batch_hard_takes_the_farthest_positive_and_nearest_negative():
    from edgecv.tasks.embedding.loss import batch_hard_triplet_loss

    # anchor: hardest d(A,P), nearest d(A,N)  -> max(dAP - dAN + 6, 0)
    #  0: 169 (13),  4 (2)    -> 171      13: 169 (0),  1 (12)   -> 174
    #  2:   4 (4),   4 (0)    ->   6       4:   4 (2),  1 (5)    ->   9
    #  5:  36 (11),  1 (4)    ->  41      11:  36 (5),  1 (10)   ->  41
    # 10:   4 (12),  1 (11)   ->   9      12:   4 (10), 1 (13)   ->   9
    assert _value(batch_hard_triplet_loss, LABELS, POINTS) == pytest.approx(460 / 8)


def test_semi_hard_takes_the_nearest_negative_beyond_the_positive():
    from edgecv.tasks.embedding.loss import semi_hard_triplet_loss

    # (A, P): d(A,P); nearest negative with d(A,N) > d(A,P), else the farthest negative
    # (0, 13): 169; none farther -> farthest 144 (12)  -> 169 - 144 + 6 = 31
    # (13, 0): 169; none farther -> farthest 121 (2)   -> 54
    # (2, 4):    4; 9 (5)                              -> 1
    # (4, 2):    4; 16 (0)                             -> 0
    # (5, 11):  36; 49 (12)                            -> 0
    # (11, 5):  36; 49 (4)                             -> 0
    # (10, 12):  4; 9 (13)                             -> 1
    # (12, 10):  4; 49 (5)                             -> 0
    assert _value(semi_hard_triplet_loss, LABELS, POINTS) == pytest.approx(87 / 8)


def test_anchors_without_a_positive_are_left_out():
    from edgecv.tasks.embedding.loss import batch_hard_triplet_loss

    # Validation batches are not PK-sampled: identity 1 has one image (x=3), no positive.
    # anchor 0: 1 - 9 + 6 -> 0;  anchor 1: 1 - 4 + 6 = 3;  mean over the two valid anchors
    labels, points = np.array([0, 0, 1]), np.array([[0.0], [1.0], [3.0]], np.float32)
    assert _value(batch_hard_triplet_loss, labels, points) == pytest.approx(1.5)
    assert _value(batch_hard_triplet_loss, np.array([0, 1]), points[:2]) == 0.0


def test_contrastive_loss_on_pairs():
    from edgecv.tasks.embedding.loss import contrastive_loss

    # pairs: (0,1) same: d = 1;  (0,2) different, distance 3 >= 2.5: 0;
    #        (1,2) different, distance 2: (2.5 - 2)^2 = 0.25;  mean over ordered pairs = 2.5 / 6
    labels, points = np.array([0, 0, 1]), np.array([[0.0], [1.0], [3.0]], np.float32)
    assert _value(contrastive_loss, labels, points, 2.5) == pytest.approx(2.5 / 6)


def test_prototype_loss_is_a_softmax_over_leave_one_out_centroids():
    from edgecv.tasks.embedding.loss import prototype_loss

    # Unit vectors: identity 0 = {(1,0), (0,1)}, identity 1 = {(-1,0), (0,-1)}. For every image
    # its own centroid without itself is its partner (cosine 0) and the other identity's
    # centroid is at 135 degrees (cosine -1/sqrt2): loss = log(1 + exp(-1/sqrt2 / T)).
    labels = np.array([0, 0, 1, 1])
    points = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]], np.float32)
    assert float(prototype_loss(labels, points, 1.0)) == pytest.approx(np.log1p(np.exp(-2 ** -0.5)), rel=1e-5)
    assert float(prototype_loss(labels, points, 0.5)) == pytest.approx(np.log1p(np.exp(-2 ** 0.5)), rel=1e-5)
    # Identity 2 has one image, (1,0) scaled by 3 (normalised first): no own centroid, so it
    # is not an anchor, but it is a class for the others. Logits per anchor: own centroid 0,
    # the other pair's centroid -1/sqrt2, identity 2: 1 to (1,0), 0 to (0,1), -1 to (-1,0), 0 to (0,-1).
    labels = np.array([0, 0, 1, 1, 2])
    points = np.concatenate([points, [[3.0, 0.0]]]).astype(np.float32)
    others = {0: [-2 ** -0.5, 1.0], 1: [-2 ** -0.5, 0.0], 2: [-2 ** -0.5, -1.0], 3: [-2 ** -0.5, 0.0]}
    expected = np.mean([np.log(1.0 + np.exp(o).sum()) for o in others.values()])   # own logit is 0
    assert float(prototype_loss(labels, points, 1.0)) == pytest.approx(expected, rel=1e-5)
    assert float(prototype_loss(np.array([0, 1]), points[:2], 1.0)) == 0.0    # no anchor has a partner


def test_keras_loss_object_matches_the_functions_and_round_trips():
    import tf_keras as keras

    from edgecv.tasks.embedding.loss import EmbeddingLoss

    loss = EmbeddingLoss("semi_hard", MARGIN)
    assert float(loss(LABELS, POINTS)) == pytest.approx(87 / 8)
    again = keras.losses.deserialize(keras.losses.serialize(loss))
    assert (again.kind, again.margin) == ("semi_hard", MARGIN)
    prototype = keras.losses.deserialize(keras.losses.serialize(EmbeddingLoss("prototype", temperature=0.5)))
    assert (prototype.kind, prototype.temperature) == ("prototype", 0.5)
    assert float(prototype(np.array([0, 0, 1, 1]), np.array([[1, 0], [0, 1], [-1, 0], [0, -1]], np.float32))) \
        == pytest.approx(np.log1p(np.exp(-2 ** 0.5)), rel=1e-5)
    from edgecv.errors import RecipeError

    with pytest.raises(RecipeError, match="embedding.loss"):
        EmbeddingLoss("hardest")
