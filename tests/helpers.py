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


def bench_folders(run_dir: Path) -> list[Path]:
    """The report folders `edgecv bench RUN_DIR` wrote (RUN_DIR/bench-<time>[-N]/), oldest first."""
    return sorted((p for p in Path(run_dir).glob("bench-*") if p.is_dir()),
                  key=lambda p: p.stat().st_mtime_ns)


def latest_bench_report(run_dir: Path) -> Path:
    """report.json of the newest `edgecv bench RUN_DIR` folder."""
    folders = bench_folders(run_dir)
    assert folders, f"no bench-* folder in {run_dir}"
    return folders[-1] / "report.json"


def invoke_cli(args):
    """`edgecv ARGS` in-process; a crash (not an exit code) fails with its traceback."""
    from click.testing import CliRunner

    from edgecv.cli import cli

    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=True)
    if result.exception and not isinstance(result.exception, SystemExit):
        import traceback

        raise AssertionError(result.output + "".join(traceback.format_exception(result.exception)))
    return result
