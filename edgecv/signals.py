"""SIGTERM handled like Ctrl-C: the command unwinds, so every `finally` and `with` runs.

Python's default SIGTERM action kills the process on the spot: atomic writes left their
0-byte `.tmp-*` files, `/tmp/edgecv-bench-*` folders stayed and the runner child kept
running. Raising KeyboardInterrupt (a subclass, so the cause is visible) instead makes
`kill PID` (systemd, Docker, CI timeouts) take the same path as Ctrl-C: temp files and
folders are removed, child processes are killed by subprocess.run, locks are released,
and `edgecv` exits 130.

Ctrl-C (SIGINT) is recorded the same way. Either signal can land inside TensorFlow's C++
(the TFLite converter calling back into Python, a tf.data function): there the raise
becomes some other exception (`SystemError: ... bad argument to internal function`) or
is dropped. Any exception that ends the block after a signal arrived is therefore the
interrupt (re-raised as one), and `raise_if_terminated` re-raises a dropped one.
"""
from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived."""


_RECEIVED: list[int] = []   # signals seen: a raise that C++ code swallowed is raised again


def _interrupt(signum: int) -> KeyboardInterrupt:
    if signum == signal.SIGINT:
        return KeyboardInterrupt()
    return Terminated(f"terminated by signal {signum}")


def _raise(signum, frame):  # noqa: ARG001 - the signal-handler signature
    _RECEIVED.append(signum)
    raise _interrupt(signum)


def interrupted() -> bool:
    """True once SIGTERM or Ctrl-C arrived inside `sigterm_as_interrupt`."""
    return bool(_RECEIVED)


def raise_if_terminated() -> None:
    """Raise Terminated (SIGTERM) or KeyboardInterrupt (Ctrl-C) if one arrived. The handler's
    own raise can be swallowed when it lands inside TensorFlow's C++ -> Python bridge (a
    tf.data or numpy_function call, the converter): the training loop calls this after every
    batch, the export loop after every file, so the run still unwinds (seen under load)."""
    if _RECEIVED:
        raise _interrupt(_RECEIVED[0])


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """For the block, SIGTERM raises Terminated and Ctrl-C is recorded too, in the main
    thread (no-op elsewhere); an exception after either is re-raised as the interrupt."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise)
    # A SIGINT the parent set to be ignored (nohup, `cmd &` in a script) stays ignored.
    previous_int = signal.getsignal(signal.SIGINT)
    if previous_int is signal.default_int_handler:
        signal.signal(signal.SIGINT, _raise)
    try:
        yield
    except Exception as exc:
        if _RECEIVED:   # the interrupt, mangled by the C++ code it landed in
            raise _interrupt(_RECEIVED[0]) from exc
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
        if previous_int is signal.default_int_handler:
            signal.signal(signal.SIGINT, previous_int)
        _RECEIVED.clear()
