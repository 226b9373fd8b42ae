"""What a user sees on stderr: edgecv's own lines; TensorFlow's chatter goes into a log file.

TensorFlow, oneDNN, the CUDA stub, XLA, absl and the TFLite converter write from C++
straight to file descriptor 2 (`failed call to cuInit`, `oneDNN custom operations are on`,
`fully_quantize: 0, inference_type: 6`), some of it before absl::InitializeLog, so neither
TF_CPP_MIN_LOG_LEVEL nor Python's warning filters reach all of it. `capture_stderr()`
points fd 2 at a log file for the whole command instead: C++ prints, Python warnings and
absl/tensorflow logging all land there, whatever stream object they captured at import.
edgecv's own stderr lines (errors, warnings, bench progress) go to the terminal through
`user_stderr()`, a stream on a copy of the original fd 2. The log starts as an unlinked
temp file; `keep_log(path)` moves it into the run folder once the command knows it
(`RUN_DIR/edgecv.log`). `edgecv --verbose` skips all of this.

Hand-written (a dup2 and a copy) because no library redirects a descriptor that C++ code
writes to while keeping a handle on the terminal: contextlib.redirect_stderr only swaps
Python's sys.stderr object.
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Sequence, TextIO

LOG_NAME = "edgecv.log"


@dataclass
class _Capture:
    terminal_fd: int            # a copy of the original fd 2 (the user's terminal or file)
    terminal: TextIO
    log_fd: int                 # what fd 2 points at now
    log_path: Optional[Path]    # None while the log is an unlinked temp file


_ACTIVE: Optional[_Capture] = None


def user_stderr() -> TextIO:
    """The stream edgecv's own stderr lines go to: the terminal, also while fd 2 is captured."""
    return _ACTIVE.terminal if _ACTIVE is not None else sys.stderr


def warn(message: str) -> None:
    """One `warning: ...` line on the user's stderr."""
    stream = user_stderr()
    stream.write(f"warning: {message}\n")
    stream.flush()


def log_path() -> Optional[Path]:
    """Where captured output is kept (None: no capture, or not kept in a run folder yet)."""
    return None if _ACTIVE is None else _ACTIVE.log_path


@contextlib.contextmanager
def capture_stderr(command: Sequence[str] = ()) -> Iterator[None]:
    """For the block, fd 2 (and so sys.stderr) writes into a log; see the module docstring."""
    global _ACTIVE
    if _ACTIVE is not None:
        yield
        return
    sys.stderr.flush()
    with tempfile.TemporaryFile(prefix="edgecv-log-") as temp:
        log_fd = os.dup(temp.fileno())          # unlinked: nothing is left behind
    terminal_fd = os.dup(2)
    if _writes_to_fd2(sys.stderr):
        terminal = open(terminal_fd, "w", buffering=1, encoding=getattr(sys.stderr, "encoding", None)
                        or "utf-8", errors="replace", closefd=False)
    else:   # sys.stderr was already swapped for another stream (a test's capture): keep it
        terminal = sys.stderr
    header = f"== edgecv {' '.join(command)}  ({time.strftime('%Y-%m-%d %H:%M:%S')}) ==\n"
    os.write(log_fd, header.encode("utf-8", "replace"))
    os.dup2(log_fd, 2)
    _ACTIVE = _Capture(terminal_fd, terminal, log_fd, None)
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        capture, _ACTIVE = _ACTIVE, None
        os.dup2(capture.terminal_fd, 2)
        if capture.terminal is not sys.stderr:
            capture.terminal.close()
        os.close(capture.terminal_fd)
        os.close(capture.log_fd)


def _writes_to_fd2(stream: TextIO) -> bool:
    try:
        return stream.fileno() == 2
    except (AttributeError, OSError, ValueError):
        return False


def keep_log(path: Path) -> Optional[Path]:
    """Append what was captured so far to `path` and keep capturing into it. Call it only
    where the command may write (a run folder it holds the lock of). No-op without a capture."""
    if _ACTIVE is None:
        return None
    path = Path(path)
    sys.stderr.flush()
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o666)
    offset = 0
    try:
        while chunk := os.pread(_ACTIVE.log_fd, 1 << 16, offset):
            os.write(fd, chunk)
            offset += len(chunk)
    except OSError as exc:      # a full disk: name the log, not a bare errno (os.write has no path)
        os.close(fd)
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    os.dup2(fd, 2)
    os.close(_ACTIVE.log_fd)
    _ACTIVE.log_fd, _ACTIVE.log_path = fd, path
    return path


def captured_text(limit: int = 1 << 16) -> str:
    """The last `limit` bytes captured (shown when a command crashes with a bug)."""
    if _ACTIVE is None:
        return ""
    sys.stderr.flush()
    size = os.fstat(_ACTIVE.log_fd).st_size
    start = max(0, size - limit)
    return os.pread(_ACTIVE.log_fd, size - start, start).decode("utf-8", "replace")


__all__ = ["LOG_NAME", "capture_stderr", "captured_text", "keep_log", "log_path", "user_stderr",
           "warn"]
