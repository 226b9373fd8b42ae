"""Constants the tests share (importable as `tests.helpers` from any test folder)."""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# A quickstart shrunk to seconds: same recipe file, smaller everything.
TINY_QUICKSTART = [
    "--set", "model.input_shape=[32, 32, 3]",
    "--set", "data.train.samples=160",
    "--set", "data.val.samples=48",
    "--set", "data.batch_size=32",
    "--set", "train.epochs=2",
    "--set", "export.calibration_samples=16",
    "--set", "bench.runs=5",
    "--set", "bench.warmup=1",
    "--set", "bench.gates={}",
]
