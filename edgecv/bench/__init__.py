"""Benchmark harness: latency, accuracy against the float model, gates, report.

`bench_file` produces one report entry (DESIGN.md "report.json"); `report.write_report`
writes report.json / report.md; `runner.py` is the standalone part that runs on a device.
Importing this package is cheap (numpy only); LiteRT, TF, matplotlib and paramiko load on use.
"""
from __future__ import annotations

import os
from pathlib import Path

from edgecv.errors import BenchError

def format_from_path(path) -> str:
    """`runs/x/export/quickstart_int8.tflite` -> "int8" (else the file stem)."""
    stem = Path(path).stem
    from edgecv.export.formats import FORMATS

    names = sorted(FORMATS, key=len, reverse=True)
    for name in names:
        if stem == name or stem.endswith("_" + name):
            return name
    return stem


def _reference_value(reference):
    """reference: None | number | score dict | Keras model | saved model path -> score dict."""
    if reference is None:
        return None
    if isinstance(reference, (int, float)):
        return {"value": float(reference)}
    if isinstance(reference, dict):
        return reference
    return reference  # a model or path: scored once the eval set is known


def bench_file(tflite_path, eval_npz=None, *, task=None, reference=None, runs=50, warmup=5,
               min_seconds=0.0, threads=None, delegate="auto", gates=None, fmt=None,
               remote=None, progress=None, isolate=True) -> dict:
    """Benchmark one .tflite file -> one report entry.

    eval_npz: eval set written by `evalset.write_eval_set` (None: latency only).
    task: a task name (checked against the eval set) or a configured Task object; without
    an object the task is configured from the file's edgecv metadata.
    reference: the float model's score on the same samples — a number, a score dict from
    `accuracy.reference_score`, a Keras model, or a saved model path (scored here).
    gates: {name: limit}, plus {format: {name: limit}} for one format only; remote: "user@host[:port]" or a `remote.RemoteTarget`.
    isolate: run the runner in a fresh `python runner.py` process (as on a device), so peak
    RSS and timings are not those of a host process that has TensorFlow loaded.
    Runner/remote failures raise BenchError.
    """
    from edgecv.bench import accuracy, runner
    from edgecv.bench.evalset import read_eval_set
    from edgecv.bench.gates import check_gate_names, evaluate_gates, gates_for

    tflite_path = Path(tflite_path)
    fmt = fmt or format_from_path(tflite_path)
    gates = dict(gates or {})
    check_gate_names(gates)
    gates = gates_for(gates, fmt)
    if not tflite_path.is_file():
        raise BenchError(f"{tflite_path}: model file not found")
    evalset = read_eval_set(eval_npz) if eval_npz is not None else None
    task_name = task if task is None or isinstance(task, str) else task.name
    if evalset is not None and task_name is not None and task_name != evalset.task:
        raise BenchError(f"{eval_npz}: eval set is for task {evalset.task!r}, not {task_name!r}")
    if evalset is not None:  # task, input size, output shape and classes agree, or one line
        from edgecv.bench.compat import check_tflite

        check_tflite(tflite_path, evalset, eval_npz)

    if remote is not None:
        from edgecv.bench.remote import remote_benchmark
        result = remote_benchmark(remote, tflite_path, eval_npz, runs=runs, warmup=warmup,
                                  min_seconds=min_seconds, threads=threads, delegate=delegate,
                                  progress=progress)
    elif isolate:
        result = _subprocess_benchmark(tflite_path, eval_npz, runs=runs, warmup=warmup,
                                       min_seconds=min_seconds, threads=threads,
                                       delegate=delegate, progress=progress)
    else:
        try:
            result = runner.benchmark(tflite_path, data=None if eval_npz is None else os.fspath(eval_npz),
                                      runs=runs, warmup=warmup, min_seconds=min_seconds,
                                      threads=threads, delegate=delegate, progress=progress)
        except runner.RunnerError as exc:
            raise BenchError(str(exc)) from None

    latency = result["latency_ms"]
    entry = {
        "format": fmt,
        "path": os.fspath(tflite_path),
        "size_bytes": int(result["size_bytes"]),
        "latency_ms": latency,
        "accuracy": None,
        "gates": {},
        "passed": True,
        "status": "ok",
        "fps": 1000.0 / latency["p50"] if latency["p50"] > 0 else None,
        "peak_rss_mb": result.get("peak_rss_mb"),
        "delegate": result.get("delegate", delegate),
        "runtime": result.get("runtime"),
        "machine": result.get("machine"),
        "host": result.get("host", "local"),
        "latency_samples_ms": result.get("latency_samples_ms", []),
    }
    if evalset is not None:
        if task is None or isinstance(task, str):
            from edgecv.export.metadata import read_metadata

            task = accuracy.resolve_task(evalset.task, read_metadata(tflite_path))
        reference = _reference_value(reference)
        if reference is not None and not isinstance(reference, dict):
            reference = accuracy.reference_score(reference, evalset, task)
        shapes = (reference or {}).get("output_shapes") or []
        outputs = accuracy.align_outputs(result["outputs"], shapes)
        scored = accuracy.score(task, outputs, evalset.targets, evalset.class_names)
        ref_value = None if reference is None else float(reference["value"])
        entry["accuracy"] = {
            "metric": scored["metric"],
            "value": scored["value"],
            "reference": ref_value,
            "delta": None if ref_value is None else scored["value"] - ref_value,
            "samples": len(evalset),
            **{k: v for k, v in scored.items() if k not in ("metric", "value")},
        }
        if evalset.class_names:
            entry["accuracy"]["class_names"] = list(evalset.class_names)
    entry["gates"] = evaluate_gates(entry, gates)
    entry["passed"] = all(g["passed"] for g in entry["gates"].values())
    entry["status"] = "ok" if entry["passed"] else "gate failed"
    return entry


def _subprocess_benchmark(tflite_path, eval_npz, *, runs, warmup, min_seconds, threads,
                          delegate, progress) -> dict:
    """runner.py in a child process with this Python; the result read back from its files."""
    import json
    import subprocess
    import sys

    import numpy as np

    from edgecv.bench import runner

    from edgecv.tempdirs import temp_dir

    with temp_dir("bench") as work:  # pid-named: a killed run's folder is swept next time
        args = [sys.executable, runner.__file__, os.fspath(tflite_path), "--runs", str(runs),
                "--warmup", str(warmup), "--min-seconds", str(min_seconds),
                "--delegate", delegate, "--json", f"{work}/result.json", "--quiet"]
        if threads is not None:
            args += ["--threads", str(threads)]
        if eval_npz is not None:
            args += ["--data", os.fspath(eval_npz), "--outputs", f"{work}/outputs.npz"]
        if progress:
            progress(f"timing {runs} runs" + (" + eval" if eval_npz is not None else ""))
        proc = subprocess.run(args, capture_output=True, text=True)
        if proc.returncode != 0:
            from edgecv.bench.failures import runner_failure  # a crash is named, not LiteRT's INFO line

            raise BenchError(runner_failure(proc.returncode, proc.stderr, threads=threads))
        result = json.loads(Path(work, "result.json").read_text(encoding="utf-8"))
        if eval_npz is not None:
            with np.load(f"{work}/outputs.npz", allow_pickle=False) as npz:
                result["outputs"] = [npz[f"output_{i}"] for i in range(len(npz.files))]
    return result


def failed_entry(fmt: str, error: str, *, status="export failed", path=None) -> dict:
    """A report entry for a format that could not be exported or benchmarked."""
    return {"format": fmt, "path": None if path is None else os.fspath(path), "size_bytes": None,
            "latency_ms": None, "accuracy": None, "gates": {}, "passed": False,
            "status": status, "error": str(error)}


def write_run_eval_set(run_dir, dataset, *, task: str, input_shape, limit=None, resize="stretch") -> Path:
    """Write run_dir/eval.npz from a dataset (edgecv.data.eval_arrays) and return its path."""
    from edgecv.bench.evalset import write_eval_set
    from edgecv.data import eval_arrays
    from edgecv.memory import check_eval_fits

    check_eval_fits(min(len(dataset), limit or len(dataset)), input_shape)  # before allocating
    x, targets = eval_arrays(dataset, input_shape=tuple(input_shape), limit=limit, resize=resize)
    return write_eval_set(Path(run_dir) / "eval.npz", x_uint8=x, task=task, targets=targets,
                          class_names=list(dataset.class_names))


def bench_run(*, recipe, model, dataset, exports, run_dir, task=None, echo=print,
              remote=None, gates=None) -> list[dict]:
    """The workflow's bench stage: eval set -> float reference -> every export -> report.

    exports: [{"format", "path", "status": "ok"|"export failed", "error"?}]. Writes
    run_dir/eval.npz, report.json, report.md and plots; returns the entries. Gate
    failures are marked in the entries (the caller decides the exit code).
    """
    from edgecv.bench.accuracy import reference_score
    from edgecv.bench.evalset import read_eval_set
    from edgecv.bench.gates import merge_gates
    from edgecv.bench.report import write_report

    run_dir = Path(run_dir)
    spec = recipe.bench
    eval_path = write_run_eval_set(run_dir, dataset, task=recipe.task,
                                   input_shape=recipe.model.input_shape, limit=spec.samples,
                                   resize=recipe.data.resize)
    evalset = read_eval_set(eval_path)
    echo(f"bench: float Keras reference on {len(evalset)} samples ...")
    task = task or recipe.task
    reference = reference_score(model, evalset, task)
    echo(f"bench: reference {reference['metric']} = {reference['value']:.4f}")
    all_gates = merge_gates(spec.gates, gates)
    entries = []
    for item in exports:
        if item.get("status", "ok") != "ok":
            entries.append(failed_entry(item["format"], item.get("error", "export failed"),
                                        status=item.get("status", "export failed"),
                                        path=item.get("path")))
            continue
        echo(f"bench: {item['format']} ({spec.runs} runs) ...")
        try:
            entry = bench_file(item["path"], eval_path, task=task, reference=reference,
                               runs=spec.runs, warmup=spec.warmup, threads=spec.threads,
                               delegate=spec.delegate, gates=all_gates, fmt=item["format"],
                               remote=remote)
        except BenchError as exc:
            echo(f"bench: {item['format']} failed: {exc}")
            entries.append(failed_entry(item["format"], str(exc), status="bench failed",
                                        path=item["path"]))
            continue
        echo("bench: " + summary_line(entry))
        entries.append(entry)
    json_path, md_path = write_report(run_dir, entries, title=recipe.name)
    echo(f"bench: report -> {md_path}")
    return entries


def summary_line(entry: dict) -> str:
    """One line per entry for progress output."""
    if entry.get("latency_ms") is None:
        return f"{entry['format']}: {entry['status']} ({entry.get('error', '')})"
    lat = entry["latency_ms"]
    acc = entry.get("accuracy") or {}
    text = f"{entry['format']}: p50 {lat['p50']:.3f} ms, p90 {lat['p90']:.3f} ms"
    if acc:
        text += f", {acc['metric']} {acc['value']:.4f}"
        if acc.get("delta") is not None:
            text += f" ({acc['delta']:+.4f} vs float)"
    failed = [name for name, g in entry.get("gates", {}).items() if not g["passed"]]
    if failed:
        text += f"; gate failed: {', '.join(failed)}"
    return text


__all__ = ["bench_file", "bench_run", "failed_entry", "format_from_path", "summary_line",
           "write_run_eval_set"]
