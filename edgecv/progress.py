"""Progress inside long steps (training steps, calibration images, benchmark runs, remote
copies): a tqdm bar when its stream is a terminal, otherwise a plain line at most every
PLAIN_EVERY_SECONDS, so a CI log shows that a long step moves without filling up with bars.

Bars go to the user's stderr (`edgecv.console.user_stderr()`: the terminal even while
TensorFlow's output is captured), like tqdm's own default, so stdout keeps only edgecv's
lines and tables. `bar(total, desc, ...)` returns an object with `update(n)` and `close()` (and is a context
manager) either way; callers print their own summary line when the step ends, the bar
itself leaves nothing behind (tqdm `leave=False`).
"""
from __future__ import annotations

import time
from typing import Any, Callable, Iterable, Iterator, Optional, TextIO

PLAIN_EVERY_SECONDS = 10.0


def is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, OSError, ValueError):
        return False


class PlainProgress:
    """`desc: 120/1000 steps (12%)` at most every `every` seconds; nothing for short steps."""

    def __init__(self, total: Optional[int], desc: str, *, unit: str, write: Callable[[str], None],
                 every: float = PLAIN_EVERY_SECONDS, clock: Callable[[], float] = time.monotonic):
        self.total, self.desc, self.unit, self.write = total, desc, unit, write
        self.every, self.clock = every, clock
        self.n = 0
        self._last = clock()

    def update(self, n: int = 1) -> None:
        self.n += n
        now = self.clock()
        if now - self._last >= self.every:
            self._last = now
            self.write(self.line())

    def line(self) -> str:
        if self.total:
            return f"{self.desc}: {self.n}/{self.total} {self.unit} ({100 * self.n / self.total:.0f}%)"
        return f"{self.desc}: {self.n} {self.unit}"

    def close(self) -> None:
        pass

    def __enter__(self) -> "PlainProgress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def bar(total: Optional[int], desc: str, *, unit: str = "it", stream: Optional[TextIO] = None,
        enabled: bool = True, unit_scale: bool = False) -> Any:
    """A tqdm bar on `stream` (default: the user's stderr) when it is a terminal, else
    PlainProgress lines there."""
    if stream is None:
        from edgecv.console import user_stderr

        stream = user_stderr()
    if enabled and is_terminal(stream):
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit=unit, file=stream, leave=False,
                    dynamic_ncols=True, mininterval=0.2, unit_scale=unit_scale)

    def write(line: str) -> None:
        stream.write(line + "\n")
        stream.flush()

    return PlainProgress(total, desc, unit=unit, write=write if enabled else (lambda line: None))


def iterate(items: Iterable, total: Optional[int], desc: str, *, unit: str = "it",
            stream: Optional[TextIO] = None) -> Iterator:
    """Yield from `items`, advancing a bar by one per item."""
    with bar(total, desc, unit=unit, stream=stream) as progress:
        for item in items:
            yield item
            progress.update(1)


__all__ = ["PLAIN_EVERY_SECONDS", "PlainProgress", "bar", "is_terminal", "iterate"]
