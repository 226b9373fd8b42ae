"""The one numpy definition of the embedding metrics: the Keras reference, every TFLite
file and the benchmark script score with these functions (no TensorFlow here).

Embeddings are L2-normalised first (an int8 file's dequantized outputs are only nearly
unit length), then compared by the squared Euclidean distance d = ||a - b||^2 = 2 - 2 cos.
A pair is predicted "same identity" when d <= threshold.

- Verification over image pairs: all i < j pairs of the set, or a fixed seeded sample of
  MAX_PAIRS of them for large sets. ROC AUC (trapezoid over the distinct thresholds, ties
  counted half: sklearn's roc_auc_score), TAR at FAR = the highest true-accept rate whose
  false-accept rate is <= FAR, and the best-threshold accuracy: the balanced accuracy
  (mean of same-pair and different-pair accuracy, as on LFW's balanced pair lists; plain
  accuracy over all pairs rewards answering "different") and the threshold reaching it
  (midway between that distance and the next larger one).
- Retrieval: recall@k = the fraction of queries with at least one same-identity image
  among their k nearest other images (queries whose identity has no other image are left
  out).
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

MAX_PAIRS = 5_000_000       # all pairs up to ~3,160 images; a seeded sample above
ROC_POINTS = 200            # points kept for the report's ROC plot
HIST_BINS = 50              # distance histogram bins over [0, 4]
FARS = {"tar_at_far_1e-2": 1e-2, "tar_at_far_1e-3": 1e-3}
PAIR_CHUNK = 1 << 16        # pairs per step: emb[i] - emb[j] for all 4.5 M pairs at once took
                            # 2 x 4.5 M x dim float64 (7 GB at dim 64, 26 GB for raw pixels)


def l2_normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[len(a), len(b)] squared Euclidean distances, >= 0."""
    d = (a * a).sum(1)[:, None] - 2.0 * a @ b.T + (b * b).sum(1)[None, :]
    return np.maximum(d, 0.0)


def pair_distances(embeddings: np.ndarray, labels: np.ndarray, *, max_pairs: int = MAX_PAIRS,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(distances [M], same [M] bool) over all i < j pairs, or `max_pairs` seeded random
    pairs (i != j) when there are more."""
    emb, labels = l2_normalize(embeddings), np.asarray(labels).reshape(-1)
    n = len(emb)
    if n * (n - 1) // 2 <= max_pairs:
        i, j = np.triu_indices(n, k=1)
    else:
        rng = np.random.default_rng(seed)
        i = rng.integers(0, n, max_pairs)
        j = (i + rng.integers(1, n, max_pairs)) % n          # never i itself
    d = np.empty(len(i))
    for start in range(0, len(i), PAIR_CHUNK):
        part = slice(start, start + PAIR_CHUNK)
        d[part] = ((emb[i[part]] - emb[j[part]]) ** 2).sum(1)
    return np.maximum(d, 0.0), labels[i] == labels[j]


def roc_curve(distances: np.ndarray, same: np.ndarray):
    """(fpr, tpr, thresholds): one point per distinct distance t ("same" iff d <= t), plus
    the (0, 0) point of a threshold below every distance."""
    distances, same = np.asarray(distances, np.float64), np.asarray(same, bool)
    positives, negatives = same.sum(), (~same).sum()
    if positives == 0 or negatives == 0:
        raise ValueError("verification needs same-identity and different-identity pairs")
    order = np.argsort(distances, kind="stable")
    d, s = distances[order], same[order]
    last = np.r_[np.flatnonzero(np.diff(d)), len(d) - 1]     # last index of each distinct value
    tp, fp = np.cumsum(s)[last], np.cumsum(~s)[last]
    tpr = np.r_[0.0, tp / positives]
    fpr = np.r_[0.0, fp / negatives]
    return fpr, tpr, np.r_[-np.inf, d[last]]


def auc(fpr: np.ndarray, tpr: np.ndarray) -> float:
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))


def tar_at_far(fpr: np.ndarray, tpr: np.ndarray, far: float) -> float:
    return float(tpr[fpr <= far].max())


def best_threshold(fpr: np.ndarray, tpr: np.ndarray, thresholds: np.ndarray) -> tuple[float, float]:
    """(best balanced accuracy, its threshold) over the ROC points (see the module doc)."""
    balanced = (tpr + 1.0 - fpr) / 2.0
    k = int(np.argmax(balanced))
    if k == 0:                       # "different" for every pair: below the smallest distance
        threshold = thresholds[1] / 2.0
    elif k + 1 < len(thresholds):
        threshold = (thresholds[k] + thresholds[k + 1]) / 2.0
    else:
        threshold = thresholds[k]
    return float(balanced[k]), float(threshold)


def accuracy_at(distances: np.ndarray, same: np.ndarray, threshold: float) -> float:
    """Balanced accuracy of "same iff d <= threshold"."""
    predicted = np.asarray(distances) <= threshold
    same = np.asarray(same, bool)
    return float((predicted[same].mean() + (~predicted[~same]).mean()) / 2.0)


def recall_at_k(embeddings: np.ndarray, labels: np.ndarray, ks: Sequence[int] = (1, 5),
                chunk: int = 1024) -> dict[int, float]:
    emb, labels = l2_normalize(embeddings), np.asarray(labels).reshape(-1)
    n = len(emb)
    top = min(max(ks), n - 1)
    if top < 1:
        raise ValueError("recall@k needs at least two images")
    hits = {k: 0 for k in ks}
    queries = 0
    counts = {c: int(v) for c, v in zip(*np.unique(labels, return_counts=True))}
    for start in range(0, n, chunk):
        d = squared_distances(emb[start:start + chunk], emb)
        rows = np.arange(len(d))
        d[rows, start + rows] = np.inf                     # a query is not its own neighbour
        nearest = np.argpartition(d, top - 1, axis=1)[:, :top]
        order = np.take_along_axis(d, nearest, 1).argsort(1, kind="stable")
        nearest = np.take_along_axis(nearest, order, 1)
        match = labels[nearest] == labels[start:start + chunk, None]
        has_pair = np.array([counts[c] > 1 for c in labels[start:start + chunk]])
        queries += int(has_pair.sum())
        for k in ks:
            hits[k] += int(match[has_pair, :k].any(axis=1).sum())
    return {k: (hits[k] / queries if queries else 0.0) for k in ks}


def cosine_fidelity(outputs: np.ndarray, reference: np.ndarray) -> dict:
    """Row-wise cosine similarity of two embedding sets (int8 file vs float model)."""
    a, b = l2_normalize(outputs), l2_normalize(reference)
    if a.shape != b.shape:
        raise ValueError(f"embedding shapes differ: {list(a.shape)} vs {list(b.shape)}")
    cos = (a * b).sum(1)
    return {"cosine_mean": float(cos.mean()), "cosine_min": float(cos.min())}


def _curve_points(fpr: np.ndarray, tpr: np.ndarray, points: int = ROC_POINTS) -> dict:
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(points, len(fpr))).round().astype(int))
    return {"fpr": [round(float(v), 6) for v in fpr[keep]], "tpr": [round(float(v), 6) for v in tpr[keep]]}


def _histogram(distances: np.ndarray, same: np.ndarray) -> dict:
    edges = np.linspace(0.0, 4.0, HIST_BINS + 1)
    return {"edges": [float(e) for e in edges],
            "same": np.histogram(np.clip(distances[same], 0, 4), edges)[0].tolist(),
            "different": np.histogram(np.clip(distances[~same], 0, 4), edges)[0].tolist()}


def verification_auc(embeddings: np.ndarray, labels: np.ndarray, *, max_pairs: int = MAX_PAIRS,
                     seed: int = 0) -> float:
    """The ROC AUC of `embedding_scores` alone (what picks the best epoch)."""
    return auc(*roc_curve(*pair_distances(embeddings, labels, max_pairs=max_pairs, seed=seed))[:2])


def features_auc(features: np.ndarray, labels: np.ndarray, *, centered: bool) -> float:
    """`verification_auc` of a layer's raw features as `embedding.features` ships them:
    flattened, minus their own mean when `centered` (embedding.center: validation), then
    L2-normalised."""
    features = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    return verification_auc(l2_normalize(features - features.mean(axis=0) if centered else features), labels)


def embedding_scores(embeddings: np.ndarray, labels: np.ndarray, *, threshold: Optional[float] = None,
                     max_pairs: int = MAX_PAIRS, seed: int = 0) -> dict:
    """Everything the report shows; `value` (the headline) is the verification ROC AUC.
    With `threshold` (the one exported in the metadata) also the accuracy an app gets."""
    labels = np.asarray(labels).reshape(-1)
    if len(labels) < 2:
        raise ValueError("cannot score fewer than two embeddings")
    distances, same = pair_distances(embeddings, labels, max_pairs=max_pairs, seed=seed)
    fpr, tpr, thresholds = roc_curve(distances, same)
    best, best_t = best_threshold(fpr, tpr, thresholds)
    recall = recall_at_k(embeddings, labels)
    result = {
        "metric": "roc_auc",
        "value": auc(fpr, tpr),
        **{key: tar_at_far(fpr, tpr, far) for key, far in FARS.items()},
        "best_accuracy": best,
        "best_threshold": best_t,
        "recall_at_1": recall[1],
        "recall_at_5": recall[5],
        "samples": int(len(labels)),
        "pairs": int(len(distances)),
        "same_pairs": int(same.sum()),
    }
    if threshold is not None:
        result["threshold"] = float(threshold)
        result["accuracy_at_threshold"] = accuracy_at(distances, same, threshold)
    result["roc"] = _curve_points(fpr, tpr)
    result["distance_histogram"] = _histogram(distances, same)
    return result
