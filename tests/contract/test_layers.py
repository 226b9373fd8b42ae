"""The layering contract (pyproject.toml [tool.importlinter], docs/ARCHITECTURE.md) holds,
and fails on a deliberate upward import."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    """import-linter on the edgecv package found under `root` (its grimp graph is built from
    the package on sys.path, so PYTHONPATH picks the tree to check)."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    script = ("import sys; from importlinter.cli import lint_imports; "
              "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True))")
    return subprocess.run([sys.executable, "-c", script], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)


def test_no_package_imports_a_higher_layer():
    result = _lint_imports(REPO)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "1 kept, 0 broken" in result.stdout


def test_an_upward_import_breaks_the_contract(tmp_path):
    shutil.copytree(REPO / "edgecv", tmp_path / "edgecv", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    check = tmp_path / "edgecv" / "data" / "check.py"
    # The data layer reaching up to the workflow, inside a function (lazy imports count too).
    check.write_text(check.read_text() + "\n\ndef _upward():\n    from edgecv.workflow import run_recipe\n"
                     "    return run_recipe\n")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    assert "0 kept, 1 broken" in result.stdout
    assert "edgecv.data is not allowed to import edgecv.workflow" in result.stdout
    assert "edgecv.data.check -> edgecv.workflow" in result.stdout
