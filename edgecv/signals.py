"""SIGTERM handled like Ctrl-C: the command unwinds, so every `finally` and `with` runs.

Python's default SIGTERM action kills the process on the spot: atomic writes left their
0-byte `.tmp-*` files, `/tmp/edgecv-bench-*` folders stayed and the runner child kept
running. Raising KeyboardInterrupt (a subclass, so the cause is visible) instead makes
`kill PID` (systemd, Docker, CI timeouts) take the same path as Ctrl-C: temp files and
folders are removed, child processes are killed by subprocess.run, locks are released,
and `edgecv` exits 130.
"""
from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived."""


def _raise(signum, frame):  # noqa: ARG001 - the signal-handler signature
    raise Terminated(f"terminated by signal {signum}")


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """For the block, SIGTERM raises Terminated in the main thread (no-op elsewhere)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
