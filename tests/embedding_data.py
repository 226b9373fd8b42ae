"""A tiny generated identity set (one folder per identity, two identities held out of
training) and `edgecv train` of an embedding recipe on it: tests/e2e/test_embedding_cli.py
and the emulated Pi's test share it."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from tests.helpers import invoke_cli

SIZE = 32
IDENTITIES = ["ada", "bob", "cyd", "dee", "eve", "fay"]
HELD_OUT = ["eve", "fay"]
PER_IDENTITY = 8


def write_identity_folder(root: Path, seed: int = 0) -> None:
    """root/<identity>/NN.png: each identity a fixed colour pattern, each image a noisy,
    shifted view of it."""
    import cv2

    rng = np.random.default_rng(seed)
    for index, name in enumerate(IDENTITIES):
        (root / name).mkdir(parents=True)
        base = np.zeros((SIZE, SIZE, 3), np.uint8)
        colour = tuple(int(c) for c in rng.integers(40, 255, 3))
        cv2.circle(base, (10 + 2 * index, 16), 6 + index, colour, -1)
        cv2.rectangle(base, (18, 4 + 3 * index), (28, 12 + 3 * index), colour[::-1], -1)
        for n in range(PER_IDENTITY):
            shifted = np.roll(base, tuple(int(s) for s in rng.integers(-2, 3, 2)), axis=(0, 1))
            noisy = np.clip(shifted.astype(int) + rng.integers(-25, 25, shifted.shape), 0, 255)
            assert cv2.imwrite(str(root / name / f"{n:02d}.png"), noisy.astype(np.uint8))


def train_identities(root: Path, name: str, embedding: dict, **sections):
    """`edgecv train` of a tiny recipe on a fresh identity folder under root:
    (exit code, output, run dir)."""
    write_identity_folder(root / "faces")
    recipe = {
        "name": name,
        "task": "embedding",
        "model": {"arch": "mobilenet_v2", "alpha": 0.35, "input_shape": [SIZE, SIZE, 3]},
        "data": {"train": {"format": "folder", "path": "faces"}, "holdout_classes": HELD_OUT,
                 "batch_size": 8},
        "embedding": {"dim": 16, "images_per_identity": 2, **embedding},
        "train": {"epochs": 1, "learning_rate": 0.005},
        "bench": {"runs": 2, "warmup": 1},
        **sections,
    }
    recipe_path = root / f"{name}.yaml"
    recipe_path.write_text(yaml.safe_dump(recipe))
    run_dir = root / "run"
    result = invoke_cli(["train", recipe_path, "--out", run_dir])
    return result.exit_code, result.output, run_dir
