"""Training stages: train -> prune -> qat, resumable, seeded, distributed.

Public API (see docs/ARCHITECTURE.md): `run_stages`, `StagesResult`,
`seed_everything`, and `edgecv.train.distribute.get_strategy`. Attributes are
resolved lazily so `import edgecv.train` does not import TensorFlow.
"""
from __future__ import annotations

import importlib

_LAZY = {
    "run_stages": "edgecv.train.stages",
    "StagesResult": "edgecv.train.stages",
    "seed_everything": "edgecv.train.seeding",
    "get_strategy": "edgecv.train.distribute",
}

__all__ = list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'edgecv.train' has no attribute {name!r}")
