"""Time the edge path of every registered model at the test size (64x64, 3 classes):
build, float32 TFLite conversion, QAT wrapping and full-int8 conversion, and
count operators that are not on integer tensors.

    python benchmarks/models_convert.py [PATTERN ...]      # e.g. "efficientnet_lite*" unet

Prints a table; use it to decide which variants the default test run converts.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import edgecv  # noqa: E402,F401
from edgecv.models import list_models  # noqa: E402
from tests.models_helpers import build_small, float_ops, sample_images, to_tflite  # noqa: E402


def measure(name: str) -> dict:
    from edgecv.optimize.qat import quantize

    row = {"name": name}
    t = time.perf_counter()
    model = build_small(name)
    row["build_s"] = time.perf_counter() - t
    t = time.perf_counter()
    to_tflite(model)
    row["float_s"] = time.perf_counter() - t
    t = time.perf_counter()
    qat = quantize(model)
    row["qat_wrap_s"] = time.perf_counter() - t
    t = time.perf_counter()
    int8 = to_tflite(qat, int8=True, calibration=sample_images(4))
    row["int8_s"] = time.perf_counter() - t
    row["params"] = model.count_params()
    row["int8_kib"] = len(int8) / 1024
    row["float_ops"] = len(float_ops(int8))
    return row


def measure_in_subprocess(name: str) -> dict:
    """One model per process: TF and the TFLite converter keep memory between conversions
    (one process converting every variant in turn was OOM-killed at B7 on 24 GiB)."""
    out = subprocess.run([sys.executable, __file__, "--one", name], capture_output=True, text=True)
    for line in out.stdout.splitlines():
        if line.startswith("ROW "):
            return json.loads(line[4:])
    return {"name": name, "error": (out.stderr.strip().splitlines() or ["no output"])[-1][:80]}


def main() -> None:
    if sys.argv[1:2] == ["--one"]:
        print("ROW " + json.dumps(measure(sys.argv[2])), flush=True)
        return
    patterns = sys.argv[1:] or ["*"]
    names = list(dict.fromkeys(n for pattern in patterns for n in list_models(pattern)))
    cols = ("name", "params", "build_s", "float_s", "qat_wrap_s", "int8_s", "int8_kib", "float_ops")
    print("  ".join(f"{c:>18}" if i else f"{c:<20}" for i, c in enumerate(cols)), flush=True)
    started = time.perf_counter()
    for name in names:
        row = measure_in_subprocess(name)
        if "error" in row:
            print(f"{name:<20}  failed: {row['error']}", flush=True)
            continue
        print("  ".join(f"{row[c]:>18.1f}" if isinstance(row[c], float) else
                        (f"{row[c]:<20}" if i == 0 else f"{row[c]:>18}") for i, c in enumerate(cols)),
              flush=True)
    print(f"whole table: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
