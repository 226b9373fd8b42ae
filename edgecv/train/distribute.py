"""Pick the tf.distribute strategy for this process, once.

- TF_CONFIG naming several workers -> MultiWorkerMirroredStrategy (the recipe's
  batch size is the *global* batch; only the chief writes the run directory);
- more than one local GPU -> MirroredStrategy over all of them;
- otherwise the default strategy (one CPU or one GPU).

MultiWorkerMirroredStrategy must exist before TensorFlow runs any op, so a
program that may run multi-worker calls `get_strategy()` first thing (the
`edgecv train` workflow does, before building data or model); `run_stages`
calls it again and gets the same cached object.

Mixed precision and XLA are opt-in and only honoured when a GPU is visible:
EDGECV_MIXED_PRECISION=1 and EDGECV_XLA=1.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from edgecv.errors import EdgecvError

MIXED_PRECISION_ENV = "EDGECV_MIXED_PRECISION"
XLA_ENV = "EDGECV_XLA"


@dataclass(frozen=True)
class StrategyInfo:
    strategy: Any            # tf.distribute.Strategy
    kind: str                # "default" | "mirrored" | "multi_worker"
    num_workers: int
    worker_index: int
    replicas: int            # replicas in sync across all workers
    is_chief: bool           # only the chief writes the run directory
    gpus: int                # GPUs visible to this process
    mixed_precision: bool
    xla: bool

    def describe(self) -> str:
        extras = [name for name, on in (("mixed_float16", self.mixed_precision), ("XLA", self.xla)) if on]
        where = f"{self.gpus} GPU(s)" if self.gpus else "CPU"
        workers = f", worker {self.worker_index + 1}/{self.num_workers}" if self.num_workers > 1 else ""
        return f"strategy {self.kind} ({self.replicas} replica(s) on {where}{workers})" + (
            f" with {' + '.join(extras)}" if extras else "")


_CACHED: StrategyInfo | None = None


def cluster_from_env() -> tuple[int, int, bool]:
    """(num_workers, worker_index, is_chief) from TF_CONFIG; (1, 0, True) when absent."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return 1, 0, True
    try:
        config = json.loads(raw)
        cluster = config.get("cluster", {})
        task = config.get("task", {})
    except (ValueError, AttributeError):
        raise EdgecvError(f"TF_CONFIG: not a JSON object with 'cluster' and 'task', got {raw[:80]!r}") from None
    workers = len(cluster.get("worker", [])) + len(cluster.get("chief", []))
    kind, index = task.get("type", "worker"), int(task.get("index", 0))
    # With an explicit "chief" task that task is the chief; otherwise worker 0 is.
    is_chief = kind == "chief" or (kind == "worker" and index == 0 and "chief" not in cluster)
    global_index = index + (1 if "chief" in cluster and kind == "worker" else 0)
    return max(workers, 1), global_index, is_chief


def get_strategy() -> StrategyInfo:
    """The process-wide strategy (created on first call, then cached)."""
    global _CACHED
    if _CACHED is not None:
        return _CACHED
    import tensorflow as tf

    num_workers, worker_index, is_chief = cluster_from_env()
    if num_workers > 1:
        try:
            strategy = tf.distribute.MultiWorkerMirroredStrategy()
        except RuntimeError as exc:
            raise EdgecvError(
                "TF_CONFIG names several workers but TensorFlow already ran an op; call "
                f"edgecv.train.distribute.get_strategy() before building data or model ({exc})") from None
        kind = "multi_worker"
    else:
        gpus = tf.config.list_logical_devices("GPU")
        if len(gpus) > 1:
            strategy, kind = tf.distribute.MirroredStrategy(), "mirrored"
        else:
            strategy, kind = tf.distribute.get_strategy(), "default"
    gpus = len(tf.config.list_physical_devices("GPU"))
    mixed = bool(gpus) and os.environ.get(MIXED_PRECISION_ENV) == "1"
    xla = bool(gpus) and os.environ.get(XLA_ENV) == "1"
    if not gpus and (os.environ.get(MIXED_PRECISION_ENV) == "1" or os.environ.get(XLA_ENV) == "1"):
        print(f"note: {MIXED_PRECISION_ENV}/{XLA_ENV} ignored: no GPU visible", flush=True)
    _CACHED = StrategyInfo(strategy=strategy, kind=kind, num_workers=num_workers, worker_index=worker_index,
                           replicas=int(strategy.num_replicas_in_sync), is_chief=is_chief, gpus=gpus,
                           mixed_precision=mixed, xla=xla)
    return _CACHED
