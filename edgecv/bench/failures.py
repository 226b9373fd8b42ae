"""One line for a runner that did not succeed: its own `error:` line, or how it died.

The runner prints `error: ...` for every failure it understands (exit 2). Anything else
is a crash: a negative return code locally (killed by a signal; LiteRT segfaults with
`--threads 100000`), 128 + signal through a remote shell. Its last stderr line is then
LiteRT noise ("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.") and must not
pose as the error.
"""
from __future__ import annotations

import signal
from typing import Optional


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def runner_failure(returncode: int, stderr: str, *, threads: Optional[int] = None,
                   remote: bool = False) -> str:
    """The message for a runner process that exited with `returncode` (non-zero)."""
    lines = [line.strip() for line in (stderr or "").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    if errors and returncode in (1, 2):
        return errors[-1].removeprefix("error: ")
    number = -returncode if returncode < 0 else returncode - 128 if remote and 128 < returncode < 160 else None
    with_threads = f" with --threads {threads}" if threads is not None else ""
    if number is not None:
        return f"the runner crashed (signal {number}, {_signal_name(number)}){with_threads}"
    if errors:
        return errors[-1].removeprefix("error: ")
    return f"the runner failed (exit {returncode}){with_threads} without an error message"
