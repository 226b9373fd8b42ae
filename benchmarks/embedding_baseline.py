"""What a trained embedding must beat on the open-set Fashion-MNIST protocol (issue 17).

Scores, with edgecv's own metrics (edgecv/tasks/embedding/metrics.py), embeddings that need no
training: the raw pixels of the t10k images of the held-out classes 7, 8, 9 (Sneaker, Bag,
Ankle boot), and their projection on the top-k principal components of the *training* images
of classes 0-6 (what the embedding recipe trains on). The same 3,000 images and 4.5 M pairs as
benchmarks/embedding.py, so the numbers compare.

    python benchmarks/embedding_baseline.py [--path /usr/share/datasets/fashion-mnist] [--pca 16 64]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgecv.data.readers.idx import read_idx_split
from edgecv.tasks.embedding.metrics import embedding_scores

HELD_OUT = (7, 8, 9)
PCA_FIT_IMAGES = 20_000      # of the 42,000 training images of classes 0-6: enough for the top 64


def read_split(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    images, labels = read_idx_split(root, split)
    return images.reshape(len(labels), -1).astype(np.float64) / 255.0, labels


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", type=Path, default=Path("/usr/share/datasets/fashion-mnist"))
    parser.add_argument("--pca", type=int, nargs="*", default=[16, 64])
    args = parser.parse_args(argv)

    test_x, test_y = read_split(args.path, "t10k")
    keep = np.isin(test_y, HELD_OUT)
    test_x, test_y = test_x[keep], test_y[keep]
    train_x, train_y = read_split(args.path, "train")
    fit = train_x[train_y < min(HELD_OUT)][:PCA_FIT_IMAGES]
    mean = fit.mean(0)
    _, _, components = np.linalg.svd(fit - mean, full_matrices=False)

    rows = [("raw pixels (784-d, L2-normalised)", test_x)]
    rows += [(f"PCA-{k} of training classes 0-6", (test_x - mean) @ components[:k].T) for k in args.pca]
    print(f"held-out classes {HELD_OUT} of t10k: {len(test_y)} images")
    print("| embedding | ROC AUC | TAR@1e-2 | TAR@1e-3 | R@1 | R@5 |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, emb in rows:
        s = embedding_scores(emb, test_y)
        print(f"| {name} | {s['value']:.4f} | {s['tar_at_far_1e-2']:.4f} | {s['tar_at_far_1e-3']:.4f} "
              f"| {s['recall_at_1']:.4f} | {s['recall_at_5']:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
