"""Same recipe, seed and thread settings -> the same training, bit for bit (issue 21).

Two fresh processes (op determinism and thread pools are process-wide), run side by side
with one thread each. Every history.csv column but the wall-clock `seconds` must match
exactly, and train/runtime.json must record the settings that make it hold.
"""
from __future__ import annotations

import csv
import json
import subprocess

import pytest

from tests.helpers import REPO, TINY_QUICKSTART
from tests.safety_helpers import cli, env

ARGS = [*TINY_QUICKSTART, "--set", "export.formats=[float32]", "--set", "bench.runs=2",
        "--set", "train.threads=1"]


def history(run_dir):
    with open(run_dir / "train" / "history.csv", newline="", encoding="utf-8") as handle:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(handle)]


@pytest.mark.slow
def test_two_runs_with_the_same_seed_and_threads_train_identically(tmp_path):
    """~60-90 s on 2 loaded cores (two tiny runs in parallel)."""
    runs = [tmp_path / "a", tmp_path / "b"]
    children = [subprocess.Popen(cli("train", REPO / "recipes" / "quickstart.yaml", "--out", run, *ARGS),
                                 env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                for run in runs]
    outputs = [child.communicate(timeout=900)[0] for child in children]
    for child, output in zip(children, outputs):
        assert child.returncode == 0, output
    first, second = (history(run) for run in runs)
    assert len(first) == 2 and first == second
    facts = json.loads((runs[0] / "train" / "runtime.json").read_text(encoding="utf-8"))
    assert facts["intra_op_threads"] == facts["inter_op_threads"] == 1
    assert facts["seed"] == 0 and facts["op_determinism"] is True
    assert "reproducibility: seed 0, 1 intra-op / 1 inter-op threads" in outputs[0]
