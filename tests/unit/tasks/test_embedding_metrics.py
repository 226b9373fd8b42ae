"""Verification and retrieval metrics (numpy) against hand values and brute-force references
(sklearn is not a dependency: the references are written out here)."""
from __future__ import annotations

import numpy as np
import pytest

from edgecv.tasks.embedding import metrics as M


def _mann_whitney_auc(d, same):
    """P(d_same < d_different) + 0.5 P(tie), over every (same, different) pair."""
    pos, neg = d[same][:, None], d[~same][None, :]
    return float(((pos < neg) + 0.5 * (pos == neg)).mean())


def _brute_tar(d, same, far):
    best = 0.0
    for t in np.unique(d):
        pred = d <= t
        if pred[~same].mean() <= far:
            best = max(best, pred[same].mean())
    return best


def test_roc_auc_with_ties_by_hand():
    d = np.array([0.1, 0.5, 0.5, 0.9])
    same = np.array([True, True, False, False])
    fpr, tpr, _ = M.roc_curve(d, same)
    # pairs (same, different): (0.1,0.5) win, (0.1,0.9) win, (0.5,0.5) tie, (0.5,0.9) win
    assert M.auc(fpr, tpr) == pytest.approx(3.5 / 4)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_roc_auc_and_tar_at_far_match_brute_force_on_random_scores(seed):
    rng = np.random.default_rng(seed)
    same = rng.random(3000) < 0.3
    d = np.round(rng.normal(1.0, 0.5, 3000) - 0.6 * same, 2)      # rounded: many ties
    fpr, tpr, _ = M.roc_curve(d, same)
    assert M.auc(fpr, tpr) == pytest.approx(_mann_whitney_auc(d, same), abs=1e-12)
    for far in (1e-2, 1e-3, 0.1):
        assert M.tar_at_far(fpr, tpr, far) == pytest.approx(_brute_tar(d, same, far))


def test_best_threshold_is_midway_and_balanced():
    fpr, tpr, t = M.roc_curve(np.array([0.1, 0.3, 0.5, 0.9]), np.array([1, 1, 0, 0], bool))
    assert M.best_threshold(fpr, tpr, t) == pytest.approx((1.0, 0.4))
    # overlap: at 0.1 half the same pairs and no different pair pass: (0.5 + 1) / 2
    d, same = np.array([0.1, 0.6, 0.5, 0.9]), np.array([1, 1, 0, 0], bool)
    fpr, tpr, t = M.roc_curve(d, same)
    assert M.best_threshold(fpr, tpr, t) == pytest.approx((0.75, 0.3))
    assert M.accuracy_at(d, same, 0.3) == pytest.approx(0.75)
    assert M.accuracy_at(d, same, 0.7) == pytest.approx(0.75)     # all same, half different


def _on_circle(degrees):
    rad = np.deg2rad(np.asarray(degrees, float))
    return np.stack([np.cos(rad), np.sin(rad)], 1) * 3.0       # scaled: scoring normalises


def test_recall_at_k_on_a_crafted_set():
    # angle (identity): 0 (a), 30 (a), 15 (b), 180 (b), 90 (c), 100 (c), 300 (d: alone)
    emb = _on_circle([0, 30, 15, 180, 90, 100, 300])
    labels = np.array([0, 0, 1, 1, 2, 2, 3])
    # nearest other image: 0->15 (b) miss, 30->15 (b) miss, 15->0/30 (a) miss,
    # 180->100 (c) miss, 90->100 hit, 100->90 hit; the lone 300 is no query
    # top 2: 0->{15,30} hit, 30->{15,0} hit, 15->{0,30} miss, 180->{100,90} miss, c hits
    recall = M.recall_at_k(emb, labels, ks=(1, 2))
    assert recall[1] == pytest.approx(2 / 6)
    assert recall[2] == pytest.approx(4 / 6)


def test_pairs_all_or_a_seeded_sample():
    emb, labels = _on_circle(range(0, 360, 36)), np.arange(10) % 2
    d, same = M.pair_distances(emb, labels)
    assert len(d) == 45 and same.sum() == 2 * 10      # C(5,2) same pairs per identity
    # neighbours 36 degrees apart on the unit circle: d = 2 - 2 cos(36)
    assert d.min() == pytest.approx(2 - 2 * np.cos(np.deg2rad(36)))
    d1, _ = M.pair_distances(emb, labels, max_pairs=20, seed=3)
    d2, _ = M.pair_distances(emb, labels, max_pairs=20, seed=3)
    assert len(d1) == 20 and np.array_equal(d1, d2) and (d1 > 0).all()   # never i == j


def test_scores_of_separated_identities_and_threshold_accuracy():
    emb = _on_circle([0, 5, 10, 120, 125, 130, 240, 245])
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    result = M.embedding_scores(emb, labels, threshold=0.5)
    assert result["metric"] == "roc_auc" and result["value"] == pytest.approx(1.0)
    assert result["tar_at_far_1e-2"] == result["tar_at_far_1e-3"] == pytest.approx(1.0)
    assert result["best_accuracy"] == pytest.approx(1.0)
    # largest same distance 2 - 2cos(10); smallest different 2 - 2cos(110): threshold midway
    expected = ((2 - 2 * np.cos(np.deg2rad(10))) + (2 - 2 * np.cos(np.deg2rad(110)))) / 2
    assert result["best_threshold"] == pytest.approx(expected)
    assert result["recall_at_1"] == result["recall_at_5"] == 1.0
    assert result["accuracy_at_threshold"] == pytest.approx(1.0)
    assert (result["pairs"], result["same_pairs"], result["samples"]) == (28, 7, 8)
    hist = result["distance_histogram"]
    assert sum(hist["same"]) == 7 and sum(hist["different"]) == 21
    assert result["roc"]["fpr"][0] == 0.0 and result["roc"]["tpr"][-1] == 1.0


def test_cosine_fidelity():
    a = np.array([[1.0, 0.0], [0.0, 2.0]])
    b = np.array([[1.0, 0.0], [1.0, 1.0]])
    result = M.cosine_fidelity(a, b)
    assert result["cosine_min"] == pytest.approx(np.sqrt(0.5))
    assert result["cosine_mean"] == pytest.approx((1 + np.sqrt(0.5)) / 2)
