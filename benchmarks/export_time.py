"""Conversion time and file size per export format.

    python benchmarks/export_time.py [--formats float32,int8] [--calibration-samples 32]
                                     [--models quickstart,mobilenet_v2_1.0_224]

Models: mobilenet_v2 1.0 at 224x224 (1000 classes) and the quickstart model
(mobilenet_v2 alpha 0.35, 64x64, 5 classes), both freshly initialised (conversion
time does not depend on trained weights). Calibration uses random [-1, 1] images.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import edgecv
from edgecv.export import FORMATS, export_model, output_name

MODELS = {
    "quickstart": dict(alpha=0.35, input_shape=(64, 64, 3), num_classes=5),
    "mobilenet_v2_1.0_224": dict(alpha=1.0, input_shape=(224, 224, 3), num_classes=1000),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--calibration-samples", type=int, default=32)
    args = parser.parse_args()

    import numpy as np

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            kwargs = MODELS[name]
            start = time.perf_counter()
            model = edgecv.create_model("mobilenet_v2", **kwargs)
            build = time.perf_counter() - start
            rng = np.random.default_rng(0)
            calib = rng.uniform(-1, 1, (args.calibration_samples, *kwargs["input_shape"]))
            calib = calib.astype(np.float32)
            for fmt in args.formats.split(","):
                result = export_model(model, fmt, Path(tmp) / output_name(name, fmt),
                                      representative=calib)
                rows.append((name, model.count_params(), build, fmt, result.seconds,
                             result.size_bytes))
                print(f"{name:22s} {fmt:12s} {result.seconds:7.1f} s", flush=True)

    print()
    print(f"| model | params | build s | format | convert s | size MiB |")
    print(f"|---|---:|---:|---|---:|---:|")
    for name, params, build, fmt, seconds, size in rows:
        print(f"| {name} | {params:,} | {build:.1f} | {fmt} | {seconds:.1f} | {size / 2**20:.2f} |")


if __name__ == "__main__":
    main()
