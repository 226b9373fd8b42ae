"""One .tflite file -> one `BenchEntry`: time it (here, in a child process, or over SSH),
score its outputs against the eval set and the float reference, check its gates."""
from __future__ import annotations

import os
from pathlib import Path

from edgecv.bench.entry import BenchEntry
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


def resolve_reference(reference, evalset, task=None, *, like=None):
    """The float reference as a score dict: None | number | score dict | Keras model | saved
    model path. A model is scored once on `evalset` (an EvalSet); without a configured Task
    the task is configured from the edgecv metadata of `like` (an exported file), as the
    files themselves are."""
    if reference is None or isinstance(reference, dict):
        return reference
    if isinstance(reference, (int, float)):
        return {"value": float(reference)}
    from edgecv.bench import accuracy

    if task is None or isinstance(task, str):
        from edgecv.export.metadata import read_metadata

        task = accuracy.resolve_task(task or evalset.task,
                                     None if like is None else read_metadata(like))
    return accuracy.reference_score(reference, evalset, task)


def bench_file(tflite_path, eval_npz=None, *, task=None, reference=None, runs=50, warmup=5,
               min_seconds=0.0, threads=None, delegate="auto", gates=None, fmt=None,
               remote=None, progress=None, isolate=True) -> BenchEntry:
    """Benchmark one .tflite file -> one entry (`.to_dict()`: the report.json entry).

    eval_npz: eval set written by `evalset.write_eval_set` (None: latency only).
    task: a task name (checked against the eval set) or a configured Task object; without
    an object the task is configured from the file's edgecv metadata.
    reference: the float model's score on the same samples — see `resolve_reference`.
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
    scored = None
    if evalset is not None:
        if task is None or isinstance(task, str):
            from edgecv.export.metadata import read_metadata

            task = accuracy.resolve_task(evalset.task, read_metadata(tflite_path))
        reference = resolve_reference(reference, evalset, task)
        shapes = (reference or {}).get("output_shapes") or []
        outputs = accuracy.align_outputs(result["outputs"], shapes)
        score = accuracy.score(task, outputs, evalset.targets, evalset.class_names)
        ref_value = None if reference is None else float(reference["value"])
        scored = {
            "metric": score["metric"],
            "value": score["value"],
            "reference": ref_value,
            "delta": None if ref_value is None else score["value"] - ref_value,
            "samples": len(evalset),
            **{k: v for k, v in score.items() if k not in ("metric", "value")},
            # e.g. embedding: cosine(int8, float) per image; needs the reference's outputs
            **accuracy.fidelity(task, outputs, (reference or {}).get("outputs")),
        }
        if evalset.class_names:
            scored["class_names"] = list(evalset.class_names)
    entry = BenchEntry(
        format=fmt,
        path=os.fspath(tflite_path),
        size_bytes=int(result["size_bytes"]),
        latency_ms=latency,
        accuracy=scored,
        fps=1000.0 / latency["p50"] if latency["p50"] > 0 else None,
        peak_rss_mb=result.get("peak_rss_mb"),
        delegate=result.get("delegate", delegate),
        runtime=result.get("runtime"),
        machine=result.get("machine"),
        cpu=result.get("cpu"),
        emulated=result.get("emulation"),
        host=result.get("host", "local"),
        latency_samples_ms=result.get("latency_samples_ms", []),
    )
    return entry.with_gates(evaluate_gates(entry, gates))


def _subprocess_benchmark(tflite_path, eval_npz, *, runs, warmup, min_seconds, threads,
                          delegate, progress) -> dict:
    """runner.py in a child process with this Python; the result read back from its files."""
    import json
    import sys

    import numpy as np

    from edgecv.bench import runner

    from edgecv.tempdirs import temp_dir

    with temp_dir("bench") as work:  # pid-named: a killed run's folder is swept next time
        args = [sys.executable, runner.__file__, os.fspath(tflite_path), "--runs", str(runs),
                "--warmup", str(warmup), "--min-seconds", str(min_seconds),
                "--delegate", delegate, "--json", f"{work}/result.json", "--quiet",
                "--progress-lines"]
        if threads is not None:
            args += ["--threads", str(threads)]
        if eval_npz is not None:
            args += ["--data", os.fspath(eval_npz), "--outputs", f"{work}/outputs.npz"]
        if progress:
            progress(f"timing {runs} runs" + (" + eval" if eval_npz is not None else ""))
        returncode, stderr = _run_with_progress(args, label=format_from_path(tflite_path))
        if returncode != 0:
            from edgecv.bench.failures import runner_failure  # a crash is named, not LiteRT's INFO line

            raise BenchError(runner_failure(returncode, stderr, threads=threads))
        result = json.loads(Path(work, "result.json").read_text(encoding="utf-8"))
        if eval_npz is not None:
            with np.load(f"{work}/outputs.npz", allow_pickle=False) as npz:
                result["outputs"] = [npz[f"output_{i}"] for i in range(len(npz.files))]
    return result


def _run_with_progress(args: list[str], *, label: str) -> tuple[int, str]:
    """Run the runner, drawing its --progress-lines as bars -> (return code, other stderr)."""
    import subprocess

    from edgecv.bench.runprogress import RunnerProgress

    kept = []
    with subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          errors="replace") as proc:
        try:
            with RunnerProgress(label) as bars:
                for line in proc.stderr:
                    if not bars.feed(line):
                        kept.append(line)
        except BaseException:       # Ctrl-C / SIGTERM: the runner does not outlive us
            proc.kill()
            raise
    return proc.returncode, "".join(kept)


__all__ = ["bench_file", "format_from_path", "resolve_reference"]
