"""Benchmark gates: named limits a report entry must meet (exit code 1 when one fails)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from edgecv.bench.entry import BenchEntry, as_entry
from edgecv.errors import BenchError
from edgecv.registry import suggest

MIB = 2 ** 20


def _accuracy(entry: BenchEntry, key: str):
    return (entry.accuracy or {}).get(key)


def _drop(entry: BenchEntry):
    value, reference = _accuracy(entry, "value"), _accuracy(entry, "reference")
    if value is None or reference is None:
        return None
    return float(reference) - float(value)


def _latency(key: str) -> Callable[[BenchEntry], float | None]:
    return lambda entry: (entry.latency_ms or {}).get(key)


@dataclass(frozen=True)
class Gate:
    name: str
    kind: str  # "max": value <= limit passes; "min": value >= limit passes
    value: Callable[[BenchEntry], float | None]
    needs: str  # what the user must supply when the value is missing
    description: str


GATES: dict[str, Gate] = {g.name: g for g in (
    Gate("max_accuracy_drop", "max", _drop, "eval data (--data) and the float reference model",
         "reference metric minus the exported file's metric"),
    Gate("min_metric", "min", lambda e: _accuracy(e, "value"), "eval data (--data)",
         "the exported file's metric (top1 / mAP / mIoU)"),
    Gate("max_p50_ms", "max", _latency("p50"), "a latency run", "median latency in ms"),
    Gate("max_p90_ms", "max", _latency("p90"), "a latency run", "90th percentile latency in ms"),
    Gate("max_size_mb", "max", lambda e: None if e.size_bytes is None else e.size_bytes / MIB,
         "the model file", "file size in MiB"),
)}


def check_gate_names(gates: dict) -> None:
    """Keys are gate names, or export format names holding that format's own gates
    (`{min_metric: 0.9, int8: {max_size_mb: 1}}`). The recipe schema checks with this too."""
    from edgecv.export.formats import FORMATS

    for name, value in gates.items():
        if not isinstance(value, dict):
            _check_gate_name(name, "")
            continue
        if name not in FORMATS:
            raise BenchError(f"gates.{name}: per-format gates need an export format name"
                             f"{suggest(name, list(FORMATS))} (formats: {', '.join(FORMATS)})")
        for inner, limit in value.items():
            if isinstance(limit, dict):
                raise BenchError(f"gates.{name}.{inner}: per-format gates hold numbers, not mappings")
            _check_gate_name(inner, f"gates.{name}: ")


def _check_gate_name(name: str, where: str) -> None:
    if name not in GATES:
        raise BenchError(f"{where}unknown gate {name!r}{suggest(name, list(GATES))} "
                         f"(gates: {', '.join(GATES)})")


def gates_for(gates: dict, fmt: "str | None") -> dict[str, float]:
    """The gates one file must meet: the shared ones, then its format's own on top."""
    shared = {name: limit for name, limit in (gates or {}).items() if not isinstance(limit, dict)}
    own = (gates or {}).get(fmt) if fmt else None
    return {**shared, **(own if isinstance(own, dict) else {})}


def merge_gates(recipe_gates: dict, extra: dict) -> dict:
    """Recipe gates with command-line ones on top: `--gate max_size_mb=5` replaces that gate
    for every format (the recipe's per-format limits included); `--gate int8.max_size_mb=5`
    for one format."""
    merged = {k: dict(v) if isinstance(v, dict) else v for k, v in (recipe_gates or {}).items()}
    for name, limit in (extra or {}).items():
        if isinstance(limit, dict):
            merged.setdefault(name, {}).update(limit)
            continue
        merged[name] = limit
        for section in merged.values():
            if isinstance(section, dict):
                section.pop(name, None)
    return {k: v for k, v in merged.items() if v != {}}


def parse_gate_args(items) -> dict:
    """`["max_p90_ms=50", "int8.max_size_mb=1"]` -> {"max_p90_ms": 50.0, "int8": {"max_size_mb": 1.0}};
    bad items raise BenchError."""
    gates: dict = {}
    for item in items or ():
        name, sep, raw = str(item).partition("=")
        name = name.strip()
        if not sep:
            raise BenchError(f"--gate {item!r}: expected NAME=VALUE or FORMAT.NAME=VALUE, e.g. max_p90_ms=50")
        try:
            limit = float(raw)
        except ValueError:
            raise BenchError(f"--gate {name}: {raw!r} is not a number") from None
        fmt, dot, gate = name.rpartition(".")
        if dot:
            gates.setdefault(fmt, {})[gate] = limit
        else:
            gates[name] = limit
    check_gate_names(gates)
    return gates


def evaluate_gates(entry: "BenchEntry | dict", gates: dict) -> dict[str, dict]:
    """-> {name: {limit, value, passed}}; a gate whose value cannot be measured raises.
    entry: a BenchEntry or a (partial) report.json entry."""
    check_gate_names(gates)
    entry = as_entry(entry)
    results = {}
    for name, limit in (gates or {}).items():
        gate = GATES[name]
        value = gate.value(entry)
        if value is None:
            raise BenchError(f"gate {name} cannot be checked for {entry.path or 'this model'}:"
                             f" it needs {gate.needs}")
        value = float(value)
        passed = value <= float(limit) if gate.kind == "max" else value >= float(limit)
        results[name] = {"limit": float(limit), "value": value, "passed": bool(passed)}
    return results
