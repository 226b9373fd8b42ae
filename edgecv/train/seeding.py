"""One place that makes a run repeatable: Python/NumPy/TF seeds, deterministic ops, threads.

What a rerun with the same seed reproduces bit for bit (measured, benchmarks/README.md
"Reproducibility"): the same recipe, edgecv and TensorFlow build, CPU model and thread
counts. The thread count alone changes the numbers from the first epoch on (TF splits a
reduction over its intra-op threads, so the summation order follows the pool size), and
TF's default pool is one thread per CPU: a 2-core and a 16-core machine differ unless the
recipe fixes `train.threads`. oneDNN picks kernels by the CPU's instruction set (AVX2,
AVX-512, AMX): across CPU models results differ in the last bits and drift apart over
epochs; that cannot be fixed from here (TF_ENABLE_ONEDNN_OPTS=0 trades it for Eigen's
kernels, whose blocking still follows the cache sizes).
"""
from __future__ import annotations

import os
from typing import Any

# Opt-out for GPU users who prefer speed over bit-identical reruns.
DETERMINISM_ENV = "EDGECV_DETERMINISTIC"


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow, and make TF pick deterministic kernels.

    Call before the model is built: initial weights come from these seeds.
    Determinism is process-wide and cannot be switched off again once enabled.
    """
    import tensorflow as tf
    import tf_keras as keras

    keras.utils.set_random_seed(int(seed))
    if os.environ.get(DETERMINISM_ENV, "1") != "0":
        tf.config.experimental.enable_op_determinism()


def pin_threads(threads: int | None) -> None:
    """Fix TF's intra- and inter-op pools to `threads` (None: leave TF's default).

    Must run before TensorFlow executes its first op; in a process where TF already ran
    (a second run in one Python session) the pools are as they are, and `runtime_facts`
    records what was really used."""
    if not threads:
        return
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(int(threads))
        tf.config.threading.set_inter_op_parallelism_threads(int(threads))
    except RuntimeError:   # "cannot be modified after initialization"
        pass


def runtime_facts(seed: int) -> dict[str, Any]:
    """What decides whether two runs can be bit-identical (train/runtime.json)."""
    import platform

    import tensorflow as tf

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()

    def pool(configured: int, env: str) -> int:
        # 0 = TF's default: the variable if set, else one thread per CPU.
        return configured or int(os.environ.get(env) or 0) or int(cpus or 1)

    return {
        "seed": int(seed),
        "op_determinism": os.environ.get(DETERMINISM_ENV, "1") != "0",
        "intra_op_threads": pool(tf.config.threading.get_intra_op_parallelism_threads(),
                                 "TF_NUM_INTRAOP_THREADS"),
        "inter_op_threads": pool(tf.config.threading.get_inter_op_parallelism_threads(),
                                 "TF_NUM_INTEROP_THREADS"),
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1") != "0",
        "tensorflow": tf.__version__,
        "cpu": _cpu_model() or platform.processor() or platform.machine(),
        "cpus": cpus,
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""
