"""MediaPipe's own virtual environment, made once per machine, for tests that prove
edgecv's files run in MediaPipe Tasks as they are.

Why a second venv: mediapipe 1.2.x needs absl-py ~= 2.3 while tfmot pins absl-py ~= 1.2,
and an unpinned joint install downgrades TensorFlow and numpy. `.ci/run` makes it before
the suite (`python -m tests.mediapipe_env`); the test fixture makes it when missing and
skips, with the reason, where pip cannot.
"""
from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

MEDIAPIPE = "mediapipe==1.2.3"      # newest release that installs here (pip index, 2026)
CACHE = Path(os.environ.get("EDGECV_TEST_CACHE", Path.home() / ".cache" / "edgecv-tests"))
VENV = CACHE / f"venv-{MEDIAPIPE.replace('==', '-')}"


def venv_python() -> Path:
    return VENV / "bin" / "python"


def ensure_venv(timeout: float = 900) -> "tuple[Path | None, str]":
    """(the venv's python, "") when MediaPipe imports there, else (None, why not)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".mediapipe.lock", "w") as lock:   # one maker at a time per machine
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _works():
            return venv_python(), ""
        steps = [[sys.executable, "-m", "venv", "--clear", str(VENV)],
                 [str(venv_python()), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                  MEDIAPIPE]]
        for step in steps:
            try:
                done = subprocess.run(step, capture_output=True, text=True, timeout=timeout)
            except (OSError, subprocess.TimeoutExpired) as exc:
                return None, f"cannot make MediaPipe's venv ({' '.join(step[:3])}): {exc}"
            if done.returncode:
                tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["?"]
                return None, f"cannot make MediaPipe's venv ({' '.join(step[-2:])}): {tail[0]}"
        if not _works():
            return None, f"{MEDIAPIPE} installed in {VENV} but does not import"
        return venv_python(), ""


def _works() -> bool:
    python = venv_python()
    if not python.exists():
        return False
    check = subprocess.run([str(python), "-c", "import mediapipe.tasks.python.vision"],
                           capture_output=True, timeout=300)
    return check.returncode == 0


if __name__ == "__main__":
    start = time.perf_counter()
    python, reason = ensure_venv()
    print(f"MediaPipe venv: {python or reason} ({time.perf_counter() - start:.0f} s)")
