"""Helpers for the data-safety tests (issue 22): folder hashes and the one-line error check."""
from __future__ import annotations

import hashlib
import os
import resource
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = REPO / "recipes" / "quickstart.yaml"


def tree_hash(folder: Path) -> dict[str, str]:
    """relative path -> sha256 of every file (and "dir" for every folder) under `folder`."""
    folder = Path(folder)
    found = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            found[os.path.relpath(os.path.join(root, name), folder)] = "dir"
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as handle:
                found[os.path.relpath(path, folder)] = hashlib.sha256(handle.read()).hexdigest()
    return found


def one_error_line(err: str, *needles: str) -> str:
    """The single `error:` line of stderr; fails on a traceback, more lines, or missing needles."""
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def env() -> dict:
    """Environment for `python -m edgecv.cli` subprocesses: this worktree first on the path."""
    path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "edgecv.cli", *map(str, args)]


def limit_memory(limit_bytes: int = 2 * 1024 ** 3):
    """preexec_fn: cap a child's address space, so a regression fails instead of eating the machine."""
    def apply():
        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))
    return apply
