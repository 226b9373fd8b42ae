"""Harness overhead: edgecv's runner vs a bare `interpreter.invoke()` loop, same process.

    python benchmarks/harness_overhead.py [--model M.tflite] [--runs 200] [--rounds 5] [--threads 1]

Without --model it converts an int8 MobileNetV2 (alpha 0.35, 96x96, random weights — no
download) once. Rounds alternate runner / bare loop so that a noisy neighbour on a shared
machine hits both alike; the table shows each round and the median p50s. Target: the
runner's p50 within 3% of the bare loop's.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import edgecv  # noqa: F401  (TF_USE_LEGACY_KERAS)
from edgecv.bench import runner


def make_model(path: Path) -> Path:
    import tensorflow as tf
    import tf_keras as keras

    model = keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, weights=None,
                                           classes=10)
    rng = np.random.default_rng(0)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: (
        [rng.uniform(-1, 1, (1, 96, 96, 3)).astype(np.float32)] for _ in range(16))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.uint8
    converter.inference_output_type = tf.uint8
    path.write_bytes(converter.convert())
    return path


def bare_loop_p50(model_path: Path, runs: int, warmup: int, threads: int) -> float:
    """The simplest possible measurement: invoke() between two perf_counter calls."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(model_path), num_threads=threads)
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
    for _ in range(warmup + 1):
        interpreter.invoke()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        interpreter.invoke()
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.percentile(times, 50))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or make_model(Path(tmp) / "mobilenet_v2_035_96_int8.tflite")
        print(f"model: {model.name} ({model.stat().st_size / 1024:.0f} KiB), {args.runs} runs x "
              f"{args.rounds} rounds, threads {args.threads}")
        print(f"{'round':>5} {'bare p50 ms':>12} {'runner p50 ms':>14} {'overhead':>9}")
        bare, harness = [], []
        for i in range(args.rounds):
            bare.append(bare_loop_p50(model, args.runs, args.warmup, args.threads))
            result = runner.benchmark(model, runs=args.runs, warmup=args.warmup, threads=args.threads)
            harness.append(result["latency_ms"]["p50"])
            print(f"{i + 1:>5} {bare[-1]:>12.4f} {harness[-1]:>14.4f} "
                  f"{100 * (harness[-1] / bare[-1] - 1):>+8.2f}%")
    b, h = statistics.median(bare), statistics.median(harness)
    overhead = 100 * (h / b - 1)
    print(f"{'median':>5} {b:>12.4f} {h:>14.4f} {overhead:>+8.2f}%")
    verdict = "within" if abs(overhead) <= 3 else "OUTSIDE"
    print(f"runner p50 {h:.4f} ms vs bare invoke() loop {b:.4f} ms: {overhead:+.2f}% "
          f"({verdict} the 3% target)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
