"""One report row: `BenchEntry`, what the bench pipeline, the gates and the report share.

`to_dict()` is the report.json entry (DESIGN.md "report.json"): the same keys in the same
order as before the type existed, so report.json stays byte-compatible. A timed file also
carries its run facts (fps ... latency_samples_ms); a failed row carries `error` instead.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal, Mapping, Optional

Status = Literal["ok", "gate failed", "bench failed", "export failed"]
STATUSES = ("ok", "gate failed", "bench failed", "export failed")

CORE_KEYS = ("format", "path", "size_bytes", "latency_ms", "accuracy", "gates", "passed", "status")
RUN_KEYS = ("fps", "peak_rss_mb", "delegate", "runtime", "machine", "cpu", "emulated", "host",
            "latency_samples_ms")


@dataclass(frozen=True)
class BenchEntry:
    format: str
    path: Optional[str] = None
    size_bytes: Optional[int] = None
    latency_ms: Optional[dict] = None       # runner.py's latency dict (mean, p50, p90, ...)
    accuracy: Optional[dict] = None         # metric, value, reference, delta, samples, task extras
    gates: dict = field(default_factory=dict)   # name -> {limit, value, passed}
    passed: bool = False
    status: Status = "ok"
    error: Optional[str] = None
    fps: Optional[float] = None
    peak_rss_mb: Optional[float] = None
    delegate: Optional[str] = None
    runtime: Optional[str] = None
    machine: Optional[str] = None
    cpu: Optional[str] = None               # as the device describes it (runner.cpu_name)
    emulated: Optional[str] = None          # how the runner saw itself emulated (runner.emulation)
    host: Optional[str] = None
    latency_samples_ms: list = field(default_factory=list)

    @property
    def timed(self) -> bool:
        """The file ran: latency, size and the run facts are filled in."""
        return self.latency_ms is not None

    def with_gates(self, results: dict) -> "BenchEntry":
        """This entry with its gate results (`gates.evaluate_gates`), passed and status set."""
        passed = all(g["passed"] for g in results.values())
        return replace(self, gates=results, passed=passed, status="ok" if passed else "gate failed")

    def to_dict(self) -> dict:
        """The report.json entry."""
        out = {key: getattr(self, key) for key in CORE_KEYS}
        if self.error is not None:
            out["error"] = self.error
        if self.timed:
            out.update({key: getattr(self, key) for key in RUN_KEYS})
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "BenchEntry":
        """A report.json entry (or a partial one) back into an entry; unknown keys are ignored
        and missing ones take the defaults (an unnamed row is "?")."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values.setdefault("format", "?")
        for key in ("gates", "latency_samples_ms"):   # JSON null -> empty
            if values.get(key) is None:
                values.pop(key, None)
        return cls(**values)


def as_entry(entry: "BenchEntry | Mapping[str, Any]") -> BenchEntry:
    """Entries from the pipeline pass through; report.json dicts are read back."""
    return entry if isinstance(entry, BenchEntry) else BenchEntry.from_dict(entry)


def failed_entry(fmt: str, error: str, *, status: Status = "export failed", path=None) -> BenchEntry:
    """The row of a format that could not be exported or benchmarked."""
    return BenchEntry(format=fmt, path=None if path is None else os.fspath(path),
                      passed=False, status=status, error=str(error))


def summary_line(entry: "BenchEntry | Mapping[str, Any]") -> str:
    """One line per entry for progress output."""
    entry = as_entry(entry)
    if not entry.timed:
        return f"{entry.format}: {entry.status} ({entry.error or ''})"
    lat = entry.latency_ms
    acc = entry.accuracy or {}
    text = f"{entry.format}: p50 {lat['p50']:.3f} ms, p90 {lat['p90']:.3f} ms"
    if acc:
        text += f", {acc['metric']} {acc['value']:.4f}"
        if acc.get("delta") is not None:
            text += f" ({acc['delta']:+.4f} vs float)"
    failed = [name for name, g in entry.gates.items() if not g["passed"]]
    if failed:
        text += f"; gate failed: {', '.join(failed)}"
    return text


__all__ = ["BenchEntry", "STATUSES", "Status", "as_entry", "failed_entry", "summary_line"]
