"""Bench a whole run directory or one .tflite file (what `edgecv bench` does, as an API)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from edgecv.bench import bench_file, failed_entry, format_from_path, summary_line, write_run_eval_set
from edgecv.bench.gates import merge_gates
from edgecv.errors import BenchError

DEFAULT_RUNS = 50
DEFAULT_WARMUP = 5
REFERENCE_NAMES = ("model.keras", "model.h5")


def _pick(value, recipe_value, default):
    if value is not None:
        return value
    return default if recipe_value is None else recipe_value


def _load_run_recipe(run_dir: Path):
    path = run_dir / "recipe.yaml"
    if not path.is_file():
        return None
    from edgecv import load_recipe
    return load_recipe(path)


def _eval_from_spec(spec_path: Path, out_path: Path, *, task: str | None, input_shape,
                    resize: str = "stretch") -> Path:
    """A dataset spec YAML (`{format: folder, path: ...}`) -> an eval npz at out_path."""
    import yaml

    from edgecv.data import eval_arrays, load_dataset
    from edgecv.bench.evalset import write_eval_set

    if task is None:
        raise BenchError(f"--data {spec_path}: a dataset spec needs the task; pass --task or "
                         "bench a model exported by edgecv (its metadata names the task)")
    from edgecv import yamlsafe

    try:  # the same limits as recipes (alias bombs, file size), reported as --data errors
        spec = yamlsafe.load(yamlsafe.read_text(spec_path, what="dataset spec", error=BenchError),
                             where=f"--data {spec_path}", error=BenchError)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise BenchError(f"--data {spec_path}: cannot read dataset spec ({exc})") from None
    if not isinstance(spec, dict) or "format" not in spec:
        raise BenchError(f"--data {spec_path}: expected a dataset spec mapping with a 'format' key")
    dataset = load_dataset(spec, task=task, base_dir=spec_path.parent)
    from edgecv.memory import check_eval_fits

    check_eval_fits(len(dataset), input_shape)  # [N,H,W,C] uint8 is built in memory next
    x, targets = eval_arrays(dataset, input_shape=tuple(input_shape), resize=resize)
    return write_eval_set(out_path, x_uint8=x, task=task, targets=targets,
                          class_names=list(dataset.class_names))


def _model_facts(tflite: Path) -> tuple[str | None, list[int], str]:
    """(task from edgecv metadata or None, input [H, W, C], resize mode) for building an eval set."""
    task, resize = None, "stretch"
    try:
        from edgecv.export.metadata import read_metadata
        meta = read_metadata(tflite) or {}
        task = meta.get("task")
        resize = meta.get("resize") or resize
    except ImportError:
        pass
    from edgecv.bench.runner import RunnerError, make_interpreter
    try:
        detail = make_interpreter(tflite, delegate="none").get_input_details()[0]
    except RunnerError as exc:
        raise BenchError(str(exc)) from None
    return task, [int(s) for s in detail["shape"][1:]], resize


def resolve_eval(data: Path | None, work_dir: Path, *, tflite: Path, task: str | None) -> Path | None:
    """--data as given: an eval .npz is used as is; a dataset spec YAML is converted."""
    if data is None:
        return None
    if not data.is_file():
        raise BenchError(f"--data {data}: file not found")
    if data.suffix == ".npz":
        return data
    if data.suffix in (".yaml", ".yml"):
        meta_task, shape, resize = _model_facts(tflite)
        return _eval_from_spec(data, work_dir / "eval.npz", task=task or meta_task, input_shape=shape,
                               resize=resize)
    raise BenchError(f"--data {data}: expected an eval .npz or a dataset spec .yaml")


def bench_run_dir(run_dir, *, runs=None, warmup=None, min_seconds=0.0, threads=None,
                  delegate=None, gates=None, remote=None, data=None, reference=None, task=None,
                  echo: Callable[[str], None] = print) -> tuple[dict, Path]:
    """Bench every run_dir/export/*.tflite against the run's eval set; write the report.

    Settings not given fall back to the run's recipe.yaml `bench:` section; gates are the
    recipe's merged with `gates`. The eval set is run_dir/eval.npz (written from the
    recipe's validation data when missing); the reference is run_dir/model.keras|.h5.
    Returns (report dict, report.md path).
    """
    from edgecv.bench.accuracy import reference_score
    from edgecv.bench.evalset import read_eval_set
    from edgecv.bench.report import write_report

    run_dir = Path(run_dir)
    recipe = _load_run_recipe(run_dir)
    spec = recipe.bench if recipe is not None else None
    tflites = sorted((run_dir / "export").glob("*.tflite"))
    if not tflites:
        raise BenchError(f"{run_dir / 'export'}: no .tflite files (run `edgecv export {run_dir}`)")

    eval_path = resolve_eval(data, run_dir, tflite=tflites[0], task=task)
    if eval_path is None and (run_dir / "eval.npz").is_file():
        eval_path = run_dir / "eval.npz"
    if eval_path is None and recipe is not None:
        from edgecv.workflow import load_splits
        echo(f"bench: writing {run_dir / 'eval.npz'} from the recipe's validation data")
        _, val_set = load_splits(recipe, echo, check_train=False)
        eval_path = write_run_eval_set(run_dir, val_set, task=recipe.task,
                                       input_shape=recipe.model.input_shape, limit=spec.samples,
                                       resize=recipe.data.resize)
    if eval_path is None:
        echo(f"bench: {run_dir} has no eval.npz or recipe.yaml: latency only")

    ref = None
    if eval_path is not None:
        ref_path = reference or next((run_dir / n for n in REFERENCE_NAMES if (run_dir / n).exists()), None)
        if ref_path is not None:
            evalset = read_eval_set(eval_path)
            echo(f"bench: float reference {ref_path} on {len(evalset)} samples ...")
            from edgecv.export.metadata import read_metadata

            ref = reference_score(ref_path, evalset, metadata=read_metadata(tflites[0]))
            echo(f"bench: reference {ref['metric']} = {ref['value']:.4f}")
        else:
            echo(f"bench: no model.keras in {run_dir}: accuracy without a float reference")

    all_gates = merge_gates(spec.gates if spec is not None else {}, gates)
    settings = dict(
        runs=_pick(runs, spec and spec.runs, DEFAULT_RUNS),
        warmup=_pick(warmup, spec and spec.warmup, DEFAULT_WARMUP),
        threads=_pick(threads, spec and spec.threads, None),
        delegate=_pick(delegate, spec and spec.delegate, "auto"),
        min_seconds=min_seconds, gates=all_gates, remote=remote, progress=echo)
    entries = []
    for tflite in tflites:
        fmt = format_from_path(tflite)
        echo(f"bench: {fmt} ({settings['runs']} runs) ...")
        try:
            entry = bench_file(tflite, eval_path, reference=ref, fmt=fmt, **settings)
        except BenchError as exc:
            if remote is not None:  # a connection problem hits every file: stop at the first
                raise
            echo(f"bench: {fmt} failed: {exc}")
            entries.append(failed_entry(fmt, str(exc), status="bench failed", path=tflite))
            continue
        echo("bench: " + summary_line(entry))
        entries.append(entry)
    entries += _previous_export_failures(run_dir, {e["format"] for e in entries})
    _, md_path = write_report(run_dir, entries, title=recipe.name if recipe else run_dir.name)
    report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    return report, md_path


def _previous_export_failures(run_dir: Path, benched: set[str]) -> list[dict]:
    """Keep "export failed" rows of an earlier report: re-benching must not hide them."""
    path = run_dir / "report.json"
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    entries = old.get("entries", []) if isinstance(old, dict) else []
    return [e for e in entries if isinstance(e, dict) and e.get("status") == "export failed"
            and e.get("format") not in benched]


def bench_single(tflite, *, runs=None, warmup=None, min_seconds=0.0, threads=None, delegate=None,
                 gates=None, remote=None, data=None, reference=None, task=None,
                 echo: Callable[[str], None] = print) -> dict:
    """Bench one .tflite file -> {"passed", "entries": [entry]} (no files written)."""
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
        if not (Path(reference).exists() if reference is not None else True):
            raise BenchError(f"--reference {reference}: file not found")
        echo(f"bench: {tflite} ...")
        entry = bench_file(tflite, eval_path, task=task, reference=reference,
                           runs=_pick(runs, None, DEFAULT_RUNS),
                           warmup=_pick(warmup, None, DEFAULT_WARMUP), min_seconds=min_seconds,
                           threads=threads, delegate=delegate or "auto", gates=gates,
                           remote=remote, progress=echo)
    return report_dict([entry])
