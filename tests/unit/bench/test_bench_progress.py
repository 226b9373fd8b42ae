"""Benchmark progress: the runner ticks between bursts of timed runs without changing how
many runs it times; the host turns its --progress-lines into bars and keeps other lines."""
from __future__ import annotations

import time

import pytest

from edgecv.bench import runner
from edgecv.bench.runprogress import RunnerProgress


@pytest.mark.parametrize("runs", [1, 7, 2500])
def test_timed_runs_with_ticks_time_exactly_runs(runs):
    calls = []
    ticks = []
    times = runner._timed_runs(lambda: calls.append(1), runs=runs, min_seconds=0.0, first_ms=0.001,
                               tick=lambda phase, done, total: ticks.append((phase, done, total)))
    assert len(times) == len(calls) == runs
    assert ticks[-1] == ("timing", runs, runs)
    assert [d for _, d, _ in ticks] == sorted(d for _, d, _ in ticks)
    plain = runner._timed_runs(lambda: None, runs=runs, min_seconds=0.0, first_ms=0.001, tick=None)
    assert len(plain) == runs


def test_ticks_come_about_every_tick_seconds(monkeypatch):
    """A 1 ms model timed for 1.2 s: a tick about every TICK_SECONDS, not one per run."""
    monkeypatch.setattr(runner, "TICK_SECONDS", 0.1)
    ticks = []
    start = time.perf_counter()
    # 5 runs, then --min-seconds keeps timing until 1.2 s have passed.
    times = runner._timed_runs(lambda: time.sleep(0.001), runs=5, min_seconds=1.2, first_ms=5.0,
                               tick=lambda p, d, t: ticks.append(time.perf_counter()))
    elapsed = time.perf_counter() - start
    assert elapsed >= 1.2 and len(times) > 5
    assert 4 <= len(ticks) <= 60, len(ticks)      # ~12 at 0.1 s, far fewer than the runs


def test_runner_progress_lines_become_bars_and_other_lines_are_kept():
    seen = []

    class Recorder:
        n = 0

        def __init__(self, total, desc, **kw):
            self.total, self.desc = total, desc
            seen.append(self)

        def update(self, k):
            self.n += k

        def close(self):
            self.closed = True

    import edgecv.progress

    original = edgecv.progress.bar
    edgecv.progress.bar = Recorder
    try:
        with RunnerProgress("int8") as bars:
            kept = [line for line in [runner.progress_line("timing", 30, 100) + "\n",
                                      "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n",
                                      runner.progress_line("timing", 100, 100) + "\n",
                                      runner.progress_line("eval", 8, 8) + "\n",
                                      "@progress garbled\n",
                                      "error: model input is [32, 32, 3]\n"] if not bars.feed(line)]
    finally:
        edgecv.progress.bar = original
    assert kept == ["INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n",
                    "error: model input is [32, 32, 3]\n"]
    assert [(b.desc, b.total, b.n) for b in seen] == [("bench: int8 timing", 100, 100),
                                                      ("bench: int8 eval", 8, 8)]
    assert all(getattr(b, "closed", False) for b in seen)
