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


_RECEIVED: list[int] = []   # signals seen: a raise that C++ code swallowed is raised again


def _raise(signum, frame):  # noqa: ARG001 - the signal-handler signature
    _RECEIVED.append(signum)
    raise Terminated(f"terminated by signal {signum}")


def raise_if_terminated() -> None:
    """Raise Terminated if SIGTERM arrived. The handler's own raise can be swallowed when it
    lands inside TensorFlow's C++ -> Python bridge (a tf.data or numpy_function call): the
    training loop calls this after every batch so the run still unwinds (seen under load)."""
    if _RECEIVED:
        raise Terminated(f"terminated by signal {_RECEIVED[0]}")


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
        _RECEIVED.clear()
