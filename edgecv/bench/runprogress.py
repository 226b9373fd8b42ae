"""The runner's `--progress-lines` on the host: one bar per phase (timed runs, eval samples),
for a runner in a child process or on a device over SSH alike."""
from __future__ import annotations

from typing import Any

from edgecv.bench.runner import PROGRESS_PREFIX

UNITS = {"timing": "run", "eval": "sample"}


class RunnerProgress:
    """Feed it the runner's stderr lines; progress lines move the bars, `feed` returns False
    for every other line (the caller keeps those: an error line names the failure)."""

    def __init__(self, label: str):
        self.label = label
        self.bars: dict[str, Any] = {}

    def feed(self, line: str) -> bool:
        if not line.startswith(PROGRESS_PREFIX):
            return False
        try:
            phase, done, total = line[len(PROGRESS_PREFIX):].split()
            done, total = int(done), int(total)
        except ValueError:
            return True     # a garbled progress line is still not an error line
        bar = self.bars.get(phase)
        if bar is None:
            from edgecv.progress import bar as new_bar

            for other in self.bars.values():   # one phase at a time: timing, then eval
                other.close()
            bar = self.bars[phase] = new_bar(total, f"bench: {self.label} {phase}",
                                             unit=UNITS.get(phase, "it"))
        bar.update(done - bar.n)
        return True

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()

    def __enter__(self) -> "RunnerProgress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


__all__ = ["RunnerProgress"]
