"""Shared, expensive fixtures: built once per test session."""
from __future__ import annotations

import os

import pytest

import edgecv  # noqa: F401  (sets TF_USE_LEGACY_KERAS before any test imports TensorFlow)

from tests.helpers import REPO, TINY_QUICKSTART  # noqa: E402,F401  (shared constants)


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
