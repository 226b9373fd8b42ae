"""Benchmark harness: latency, accuracy against the float model, gates, report.

The face of the package; the code lives in its modules:
  entry.py      BenchEntry: one report row (`to_dict()` is the report.json entry)
  benchfile.py  bench_file: one .tflite -> one BenchEntry
  pipeline.py   the one bench loop (bench_files) and its front doors: bench_run (the
                workflow's bench stage), bench_run_dir / bench_single (`edgecv bench`)
  evaldata.py   eval sets from a dataset or a dataset spec; evalset.py the npz format
  gates.py, report.py, accuracy.py; runner.py is the standalone part that runs on a device.
Importing this package is cheap (numpy only); LiteRT, TF, matplotlib and paramiko load on use.
"""
from __future__ import annotations

from edgecv.bench.benchfile import bench_file, format_from_path
from edgecv.bench.entry import BenchEntry, failed_entry, summary_line
from edgecv.bench.evaldata import write_run_eval_set
from edgecv.bench.pipeline import (BenchSettings, ExportedFile, bench_files, bench_run,
                                   bench_run_dir, bench_single)

__all__ = ["BenchEntry", "BenchSettings", "ExportedFile", "bench_file", "bench_files",
           "bench_run", "bench_run_dir", "bench_single", "failed_entry", "format_from_path",
           "summary_line", "write_run_eval_set"]
