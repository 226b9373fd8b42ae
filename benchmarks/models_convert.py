"""Time the edge path of every registered model at the test size (64x64, 3 classes):
build, float32 TFLite conversion, QAT wrapping and full-int8 conversion, and
count operators that are not on integer tensors.

    python benchmarks/models_convert.py [PATTERN]

Prints a table; use it to decide which variants the default test run converts.
"""
from __future__ import annotations

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
    row["float_ops"] = len(float_ops(int8))
    return row


def main() -> None:
    pattern = sys.argv[1] if len(sys.argv) > 1 else "*"
    cols = ("name", "build_s", "float_s", "qat_wrap_s", "int8_s", "float_ops")
    print("  ".join(f"{c:>18}" if i else f"{c:<20}" for i, c in enumerate(cols)), flush=True)
    for name in list_models(pattern):
        row = measure(name)
        print("  ".join(f"{row[c]:>18.1f}" if isinstance(row[c], float) else
                        (f"{row[c]:<20}" if i == 0 else f"{row[c]:>18}") for i, c in enumerate(cols)),
              flush=True)


if __name__ == "__main__":
    main()
