"""The one bench pipeline: eval set + float reference + exported files -> entries -> report.

`bench_files` is the loop every bench runs. Three thin front doors feed it:
  bench_run      the workflow's bench stage (`edgecv train`): eval.npz from the dataset
  bench_run_dir  `edgecv bench RUN_DIR`: settings from the run's recipe.yaml, eval.npz
                 reused or rebuilt, earlier "export failed" rows kept, the report written
                 into a new RUN_DIR/bench-<time>/ folder (training's report stays)
  bench_single   `edgecv bench FILE`: nothing written
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional

from edgecv.bench.benchfile import bench_file, format_from_path, resolve_reference
from edgecv.bench.entry import BenchEntry, failed_entry, summary_line
from edgecv.errors import BenchError

Echo = Callable[[str], None]
Warn = Callable[[str], None]       # one warning about the data (no "warning: " prefix)
DEFAULT_RUNS = 50
DEFAULT_WARMUP = 5
REFERENCE_NAMES = ("model.keras", "model.h5")


@dataclass(frozen=True)
class BenchSettings:
    """How every file is timed and judged. `resolve` fills it from given values, then the
    recipe's `bench:` section, then the defaults."""
    runs: int = DEFAULT_RUNS
    warmup: int = DEFAULT_WARMUP
    threads: Optional[int] = None
    delegate: str = "auto"
    min_seconds: float = 0.0
    gates: dict = field(default_factory=dict)     # recipe gates with the CLI's on top
    remote: Any = None                            # None | "user@host[:port]" | RemoteTarget

    @classmethod
    def resolve(cls, spec=None, *, runs=None, warmup=None, threads=None, delegate=None,
                min_seconds=None, gates=None, remote=None) -> "BenchSettings":
        from edgecv.bench.gates import merge_gates

        def pick(value, key, default):
            if value is not None:
                return value
            recipe_value = getattr(spec, key, None)
            return default if recipe_value is None else recipe_value

        return cls(runs=pick(runs, "runs", DEFAULT_RUNS),
                   warmup=pick(warmup, "warmup", DEFAULT_WARMUP),
                   threads=pick(threads, "threads", None),
                   delegate=pick(delegate, "delegate", "auto"),
                   min_seconds=0.0 if min_seconds is None else min_seconds,
                   gates=merge_gates(getattr(spec, "gates", None) or {}, gates),
                   remote=remote)


@dataclass(frozen=True)
class ExportedFile:
    """One file to bench, with how its export went (a failed export becomes a failed row)."""
    format: str
    path: Optional[str] = None
    status: str = "ok"
    error: Optional[str] = None

    @classmethod
    def of(cls, item: "ExportedFile | Mapping[str, Any] | str | os.PathLike") -> "ExportedFile":
        """An ExportedFile, a workflow export dict {format, path, status, error?}, or a path."""
        if isinstance(item, ExportedFile):
            return item
        if isinstance(item, Mapping):
            path = item.get("path")
            return cls(format=item["format"], path=None if path is None else os.fspath(path),
                       status=item.get("status", "ok"), error=item.get("error"))
        return cls(format=format_from_path(item), path=os.fspath(item))


def bench_files(files: Iterable, eval_path=None, *, reference=None, task=None,
                settings: BenchSettings = BenchSettings(), echo: Echo = print,
                progress: bool = False, stop_on_error: bool = False) -> list[BenchEntry]:
    """Bench every file against one eval set and one float reference -> one entry each.

    files: `ExportedFile.of` items; ones whose export failed become failed rows.
    eval_path: an eval npz (None: latency only). reference: a score dict, a number, a Keras
    model or a saved model path (scored once here, on eval_path). task: a configured Task,
    a task name, or None (each file's edgecv metadata configures it).
    progress: also echo the runner's progress lines. stop_on_error: a BenchError stops the
    loop (one file, or a remote target whose connection problem would hit every file);
    otherwise it becomes a "bench failed" row.
    """
    files = [ExportedFile.of(item) for item in files]
    reference = _score_reference(reference, eval_path, task, files, echo)
    entries = []
    for item in files:
        if item.status != "ok":
            entries.append(failed_entry(item.format, item.error or "export failed",
                                        status=item.status, path=item.path))
            continue
        echo(f"bench: {item.format} ({settings.runs} runs) ...")
        try:
            entry = bench_file(item.path, eval_path, task=task, reference=reference,
                               runs=settings.runs, warmup=settings.warmup,
                               min_seconds=settings.min_seconds, threads=settings.threads,
                               delegate=settings.delegate, gates=settings.gates, fmt=item.format,
                               remote=settings.remote, progress=echo if progress else None)
        except BenchError as exc:
            if stop_on_error:
                raise
            echo(f"bench: {item.format} failed: {exc}")
            entries.append(failed_entry(item.format, str(exc), status="bench failed", path=item.path))
            continue
        echo("bench: " + summary_line(entry))
        entries.append(entry)
    return entries


def _score_reference(reference, eval_path, task, files: list[ExportedFile], echo: Echo):
    """The float reference scored once on the eval set, for every file to compare with."""
    if eval_path is None:
        return None
    if reference is None or isinstance(reference, (dict, int, float)):
        return resolve_reference(reference, None)
    from edgecv.bench.evalset import read_eval_set

    evalset = read_eval_set(eval_path)
    if hasattr(reference, "predict"):
        echo(f"bench: float Keras reference on {len(evalset)} samples ...")
    else:
        echo(f"bench: float reference {reference} on {len(evalset)} samples ...")
    like = next((f.path for f in files if f.status == "ok"), None)
    score = resolve_reference(reference, evalset, task, like=like)
    echo(f"bench: reference {score['metric']} = {score['value']:.4f}")
    return score


# ------------------------------------------------------------------ front doors
def bench_run(*, recipe, model, dataset, exports, run_dir, task=None, echo: Echo = print,
              remote=None, gates=None, warn: "Warn | None" = None,
              warnings: Iterable[str] = ()) -> list[BenchEntry]:
    """The workflow's bench stage: run_dir/eval.npz from `dataset`, the float `model` as the
    reference, every `exports` item ({format, path, status, error?}), report.json/.md and
    plots. Gate failures are marked in the entries (the caller decides the exit code).
    Warnings about degenerate data (`warnings` found earlier, plus bench.sanity's) go to
    `warn` and into the report."""
    warn = warn or _echo_warning(echo)
    from edgecv.bench.evaldata import write_run_eval_set
    from edgecv.bench.report import write_report

    run_dir = Path(run_dir)
    spec = recipe.bench
    eval_path = write_run_eval_set(run_dir, dataset, task=recipe.task,
                                   input_shape=recipe.model.input_shape, limit=spec.samples,
                                   resize=recipe.data.resize)
    settings = BenchSettings.resolve(spec, gates=gates, remote=remote)
    entries = bench_files(exports, eval_path, reference=model, task=task or recipe.task,
                          settings=settings, echo=echo)
    found = list(warnings) + report_warnings(eval_path, settings, entries, task or recipe.task, warn)
    _, md_path = write_report(run_dir, entries, title=recipe.name, warnings=found)
    echo(f"bench: report -> {md_path}")
    return entries


def report_warnings(eval_path, settings: BenchSettings, entries, task, warn: Warn) -> list[str]:
    """bench.sanity's warnings about the eval set and the scores, each also passed to warn."""
    if eval_path is None:
        return []
    from edgecv.bench.evalset import read_eval_set
    from edgecv.bench.sanity import data_warnings

    found = data_warnings(read_eval_set(eval_path), settings.gates, entries, task)
    for line in found:
        warn(line)
    return found


def default_bench_dir(run_dir) -> Path:
    """RUN_DIR/bench-YYYYmmdd-HHMMSS (a -N suffix when that second is taken): `edgecv bench
    RUN_DIR` writes beside the report training wrote, never over it."""
    base = Path(run_dir) / f"bench-{time.strftime('%Y%m%d-%H%M%S')}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def bench_run_dir(run_dir, *, out_dir=None, recipe=None, runs=None, warmup=None, min_seconds=0.0,
                  threads=None, delegate=None, gates=None, remote=None, data=None, reference=None,
                  task=None, echo: Echo = print, warn: "Warn | None" = None) -> tuple[dict, Path]:
    """Bench every run_dir/export/*.tflite against the run's eval set; write the report into
    `out_dir` (default `default_bench_dir(run_dir)`), a new folder: the report, plots and
    eval set training wrote stay as they are.

    `recipe` is the run's recipe.yaml, loaded by the caller (the recipe sits above the bench
    layer: `edgecv.workflow.bench_run_dir` loads it). Settings not given fall back to its
    `bench:` section; gates are the recipe's merged with `gates`. The eval set is --data
    (a spec YAML converted into out_dir), else run_dir/eval.npz (written into out_dir from
    the recipe's validation data when missing); the reference is run_dir/model.keras|.h5.
    "export failed" rows of the training report are kept. A bench that fails leaves no
    folder behind. Returns (report dict, report.md path).
    """
    run_dir = Path(run_dir)
    tflites = sorted((run_dir / "export").glob("*.tflite"))
    if not tflites:
        raise BenchError(f"{run_dir / 'export'}: no .tflite files (run `edgecv export {run_dir}`)")
    out_dir = Path(out_dir) if out_dir is not None else default_bench_dir(run_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise BenchError(f"--out {out_dir}: exists and is not an empty folder; edgecv bench writes "
                         "a new report folder, choose another --out")
    created = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    from edgecv import console

    console.keep_log(out_dir / console.LOG_NAME)
    try:
        return _bench_into(run_dir, out_dir, tflites, recipe=recipe, runs=runs, warmup=warmup,
                           min_seconds=min_seconds, threads=threads, delegate=delegate,
                           gates=gates, remote=remote, data=data, reference=reference, task=task,
                           echo=echo, warn=warn or _echo_warning(echo))
    except BaseException:
        if created:     # everything in it is this command's: no half-written report stays
            shutil.rmtree(out_dir, ignore_errors=True)
        raise


def _bench_into(run_dir: Path, out_dir: Path, tflites: list[Path], *, recipe, runs, warmup,
                min_seconds, threads, delegate, gates, remote, data, reference, task, echo: Echo,
                warn: Warn) -> tuple[dict, Path]:
    from edgecv.bench.evaldata import rebuild_run_eval_set, resolve_eval
    from edgecv.bench.report import write_report

    eval_path = resolve_eval(data, out_dir, tflite=tflites[0], task=task)
    if eval_path is None and (run_dir / "eval.npz").is_file():
        eval_path = run_dir / "eval.npz"
    if eval_path is None and recipe is not None:
        eval_path = rebuild_run_eval_set(out_dir, recipe, echo)
    if eval_path is None:
        echo(f"bench: {run_dir} has no eval.npz or recipe.yaml: latency only")
    ref_path = reference or next((run_dir / n for n in REFERENCE_NAMES if (run_dir / n).exists()), None)
    if eval_path is not None and ref_path is None:
        echo(f"bench: no model.keras in {run_dir}: accuracy without a float reference")

    settings = BenchSettings.resolve(recipe.bench if recipe is not None else None, runs=runs,
                                     warmup=warmup, threads=threads, delegate=delegate,
                                     min_seconds=min_seconds, gates=gates, remote=remote)
    entries = bench_files(tflites, eval_path, reference=ref_path, settings=settings, echo=echo,
                          progress=True, stop_on_error=remote is not None)
    entries += _previous_export_failures(run_dir, {e.format for e in entries})
    found = report_warnings(eval_path, settings, entries, task, warn)
    json_path, md_path = write_report(out_dir, entries, title=recipe.name if recipe else run_dir.name,
                                      warnings=found)
    return json.loads(json_path.read_text(encoding="utf-8")), md_path


def bench_single(tflite, *, runs=None, warmup=None, min_seconds=0.0, threads=None, delegate=None,
                 gates=None, remote=None, data=None, reference=None, task=None,
                 echo: Echo = print, warn: "Warn | None" = None) -> dict:
    """Bench one .tflite file -> {"edgecv", "passed", "entries": [entry]} (no files written);
    any BenchError is raised."""
    from edgecv.bench.evaldata import resolve_eval
    from edgecv.bench.report import report_dict

    tflite = Path(tflite)
    if tflite.suffix != ".tflite":
        raise BenchError(f"{tflite}: expected a .tflite file or a run directory")
    from edgecv.tempdirs import temp_dir

    with temp_dir("bench") as work:
        eval_path = resolve_eval(None if data is None else Path(data), Path(work),
                                 tflite=tflite, task=task)
        if reference is not None and eval_path is None:
            raise BenchError(f"--reference {reference}: needs --data to score both models on")
        if reference is not None and not Path(reference).exists():
            raise BenchError(f"--reference {reference}: file not found")
        settings = BenchSettings.resolve(None, runs=runs, warmup=warmup, threads=threads,
                                         delegate=delegate, min_seconds=min_seconds,
                                         gates=gates, remote=remote)
        entries = bench_files([tflite], eval_path, reference=reference, task=task,
                              settings=settings, echo=echo, progress=True, stop_on_error=True)
        found = report_warnings(eval_path, settings, entries, task, warn or _echo_warning(echo))
    return report_dict(entries, warnings=found)


def _echo_warning(echo: Echo) -> Warn:
    return lambda line: echo(f"warning: {line}")


def _previous_export_failures(run_dir: Path, benched: set[str]) -> list[BenchEntry]:
    """Keep "export failed" rows of an earlier report: re-benching must not hide them."""
    path = run_dir / "report.json"
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    entries = old.get("entries", []) if isinstance(old, dict) else []
    return [BenchEntry.from_dict(e) for e in entries if isinstance(e, dict)
            and e.get("status") == "export failed" and e.get("format") not in benched]


__all__ = ["BenchSettings", "ExportedFile", "bench_files", "bench_run", "bench_run_dir",
           "bench_single", "default_bench_dir", "report_warnings"]
