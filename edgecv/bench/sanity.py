"""Degenerate evaluation data, said out loud: too few samples to measure the gates, a
single class, a metric at chance level. Without a gate, such a run "passed" silently
(issue 23: one class trained and passed at top-1 1.0). Each warning goes to stderr and
into report.json (`warnings`) and report.md."""
from __future__ import annotations

import math
from typing import Any, Iterable

MIN_SAMPLES = 30    # below this one sample moves a metric by > 3 %: too coarse to compare files


def data_warnings(evalset: Any, gates: dict, entries: Iterable[Any], task: Any) -> list[str]:
    """Every warning about the eval set and the scores measured on it."""
    if evalset is None or len(evalset) == 0:
        return []
    return _size_warnings(evalset, gates) + _class_warnings(evalset) + \
        _chance_warnings(evalset, list(entries), task)


def smallest_drop_gate(gates: dict) -> float | None:
    """The tightest max_accuracy_drop of the shared gates and every format's own."""
    limits = [gates.get("max_accuracy_drop")]
    limits += [own.get("max_accuracy_drop") for own in gates.values() if isinstance(own, dict)]
    limits = [float(v) for v in limits if v is not None]
    return min(limits) if limits else None


def _size_warnings(evalset: Any, gates: dict) -> list[str]:
    n = len(evalset)
    step = 1.0 / n
    drop = smallest_drop_gate(gates or {})
    if drop is not None and drop > 0 and step > drop:
        return [f"the eval set has {n} sample(s): one sample moves the metric by {step:.3g}, more "
                f"than the max_accuracy_drop gate {drop:g}, so the gate cannot be measured; "
                f"use at least {math.ceil(1 / drop)} validation samples"]
    if n < MIN_SAMPLES:
        return [f"the eval set has only {n} sample(s) (one sample moves the metric by {step:.3g}): "
                f"too few to tell the files apart; use at least {MIN_SAMPLES} validation samples"]
    return []


def _class_warnings(evalset: Any) -> list[str]:
    import numpy as np

    if evalset.task not in ("classification", "embedding") or evalset.targets is None:
        return []
    present = np.unique(np.asarray(evalset.targets).reshape(-1))
    if len(present) >= 2:
        return []
    names = evalset.class_names or []
    shown = ", ".join(names[int(i)] if int(i) < len(names) else str(int(i)) for i in present)
    return [f"the eval set holds a single class ({shown or 'none'}): any model scores perfectly "
            f"on it, so its metric says nothing; validate on every class"]


def _chance_warnings(evalset: Any, entries: list, task: Any) -> list[str]:
    from edgecv.bench import accuracy
    from edgecv.bench.entry import as_entry

    scored = [as_entry(e) for e in entries]
    scored = [e for e in scored if e.accuracy and e.accuracy.get("value") is not None]
    if not scored:
        return []
    chance = accuracy.resolve_task(task if task is not None else evalset.task) \
        .chance_level(evalset.targets, evalset.class_names)
    if chance is None:
        return []
    metric = scored[0].accuracy.get("metric", "metric")
    values = [("the float model", scored[0].accuracy.get("reference"))]
    values += [(e.format, e.accuracy["value"]) for e in scored]
    at_chance = [name for name, value in values if value is not None and value <= chance + 1e-9]
    if not at_chance:
        return []
    return [f"{metric} of {', '.join(at_chance)} is at chance level ({chance:.4f}, what a model "
            f"that learnt nothing scores on this eval set): it learnt nothing measurable; "
            f"train longer or check the data"]


__all__ = ["MIN_SAMPLES", "data_warnings", "smallest_drop_gate"]
