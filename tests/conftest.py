"""Shared, expensive fixtures: built once per test session."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

import edgecv  # noqa: F401  (sets TF_USE_LEGACY_KERAS before any test imports TensorFlow)

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


@pytest.fixture(scope="session")
def quickstart_run(tmp_path_factory):
    """Run the shrunken quickstart once through the CLI; yield (exit code, output, run dir)."""
    from click.testing import CliRunner

    from edgecv.cli import cli

    run_dir = tmp_path_factory.mktemp("quickstart") / "run"
    args = ["train", str(REPO / "recipes" / "quickstart.yaml"), "--out", str(run_dir), *TINY_QUICKSTART]
    result = CliRunner().invoke(cli, args, catch_exceptions=True)
    if result.exception and not isinstance(result.exception, SystemExit):
        import traceback

        raise AssertionError("".join(traceback.format_exception(result.exception))) from None
    return result.exit_code, result.output, run_dir


@pytest.fixture(autouse=True, scope="session")
def _quiet_tensorflow():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    yield
