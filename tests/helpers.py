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


def invoke_cli(args):
    """`edgecv ARGS` in-process; a crash (not an exit code) fails with its traceback."""
    from click.testing import CliRunner

    from edgecv.cli import cli

    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=True)
    if result.exception and not isinstance(result.exception, SystemExit):
        import traceback

        raise AssertionError(result.output + "".join(traceback.format_exception(result.exception)))
    return result
