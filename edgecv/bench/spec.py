"""The recipe's `bench:` section; gate and delegate names come from the tables the bench
uses (edgecv.bench.gates, edgecv.bench.runner), so the schema never drifts from them."""
from __future__ import annotations

from typing import Literal, Optional, Union

from pydantic import Field, field_validator

from edgecv.bench.gates import check_gate_names
from edgecv.bench.runner import DELEGATES, MAX_THREADS
from edgecv.errors import BenchError
from edgecv.schema import Strict


class BenchSpec(Strict):
    runs: int = Field(50, gt=0)
    warmup: int = Field(5, ge=0)
    threads: Optional[int] = Field(None, gt=0, le=MAX_THREADS)
    delegate: Literal[DELEGATES] = "auto"  # type: ignore[valid-type]
    samples: Optional[int] = Field(None, gt=0)          # eval samples; default: the whole val set
    # {gate: limit} for every format, and {format: {gate: limit}} for one format only,
    # e.g. {max_accuracy_drop: 0.01, int8: {max_size_mb: 1.0}}.
    gates: dict[str, Union[float, dict[str, float]]] = {}

    @field_validator("gates")
    @classmethod
    def _known_gates(cls, value: dict) -> dict:
        try:
            check_gate_names(value)     # the same check `edgecv bench --gate` runs
        except BenchError as exc:
            raise ValueError(str(exc)) from None
        return value
