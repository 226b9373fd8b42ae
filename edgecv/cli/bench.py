"""`edgecv bench MODEL.tflite|RUN_DIR`: latency, accuracy vs the float model, gates, report.

Exit codes: 0 every gate passed, 1 a gate failed (after the report is written),
2 a user error (raised as BenchError and printed by edgecv.cli).
"""
from __future__ import annotations

from pathlib import Path

import click

from edgecv import console
from edgecv.bench.runner import DELEGATES
from edgecv.errors import BenchError
from edgecv.tasks.table import task_names


def _echo_progress(message: str) -> None:
    click.echo(message, file=console.user_stderr())


@click.command("bench")
@click.argument("target", type=click.Path(path_type=Path))
@click.option("--data", "data", type=click.Path(path_type=Path),
              help="Eval set: an eval .npz written by edgecv, or a dataset spec YAML.")
@click.option("--reference", type=click.Path(path_type=Path),
              help="Float Keras model scored on the same samples (default: RUN_DIR/model.*).")
@click.option("--runs", type=click.IntRange(min=1), help="Timed runs (default: recipe, else 50).")
@click.option("--warmup", type=click.IntRange(min=0), help="Warmup runs (default: recipe, else 5).")
@click.option("--min-seconds", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Keep timing until this many seconds have passed too.")
@click.option("--threads", type=click.IntRange(min=1), help="Interpreter threads.")
@click.option("--delegate", type=click.Choice(DELEGATES), help="auto (default), xnnpack, none, edgetpu.")
@click.option("--remote", metavar="USER@HOST[:PORT]", help="Run on a device over SSH.")
@click.option("--remote-python", default="python3", show_default=True,
              help="Python interpreter on the remote device (needs numpy + LiteRT).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path),
              help="Report folder for a RUN_DIR (default: RUN_DIR/bench-<time>/; the "
                   "report training wrote is never overwritten).")
@click.option("--json", "json_out", type=click.Path(path_type=Path), help="Also write the report JSON here.")
@click.option("--gate", "gate_args", multiple=True, metavar="[FORMAT.]NAME=VALUE",
              help="max_accuracy_drop, min_metric, max_p50_ms, max_p90_ms, max_size_mb; "
                   "FORMAT.NAME (e.g. int8.max_size_mb=1) for one format only.")
@click.option("--task", type=click.Choice(task_names()),
              help="Task of a --data YAML spec when the model has no edgecv metadata.")
def bench_command(target, data, reference, runs, warmup, min_seconds, threads, delegate, remote,
                  remote_python, out_dir, json_out, gate_args, task):
    """Benchmark a .tflite file or every export of a run directory."""
    from edgecv.bench.gates import parse_gate_args
    from edgecv.bench.pipeline import bench_single
    from edgecv.workflow import bench_run_dir

    from edgecv.bench.options import check_options

    check_options(threads=threads, json_out=json_out)   # before anything runs
    gates = parse_gate_args(gate_args)
    target_remote = None
    if remote:
        from edgecv.bench.remote import RemoteTarget
        target_remote = RemoteTarget.parse(remote, python=remote_python)
    options = dict(runs=runs, warmup=warmup, min_seconds=min_seconds, threads=threads,
                   delegate=delegate, gates=gates, remote=target_remote, data=data,
                   reference=reference, task=task, echo=_echo_progress, warn=console.warn)
    if target.is_dir():
        from edgecv.rundir import guard_write  # it writes report.*, eval.npz: one writer at a time

        click.get_current_context().with_resource(guard_write(target))
        report, md_path = bench_run_dir(target, out_dir=out_dir, **options)
        _echo_progress(f"report: {md_path}")
    elif out_dir is not None:
        raise BenchError(f"--out {out_dir}: only for a RUN_DIR; a single file's report is "
                         "printed (use --json FILE to keep it)")
    elif target.is_file():
        report = bench_single(target, **options)
    else:
        raise BenchError(f"{target}: no such .tflite file or run directory")

    from edgecv.bench.report import render_table
    from edgecv.fileio import write_json

    click.echo(render_table(report["entries"]))
    emulated = next((e for e in report["entries"] if e.get("emulated")), None)
    if emulated is not None:  # timings from qemu are not a device's: say so where they are read
        from edgecv.bench.report import device_line, emulated_note

        click.echo(f"{emulated_note(emulated).replace('**', '')} Ran {device_line(emulated)}.", err=True)
    if json_out is not None:
        write_json(json_out, report)
    failed = [f"{e['format']}:{name}" for e in report["entries"]
              for name, g in (e.get("gates") or {}).items() if not g["passed"]]
    if failed:
        click.echo(f"gate failed: {', '.join(failed)}", file=console.user_stderr())
        raise SystemExit(1)


__all__ = ["bench_command"]
