"""`edgecv export RUN_DIR|MODEL` and `edgecv info MODEL.tflite`."""
from __future__ import annotations

import json
from pathlib import Path

import click

from edgecv.errors import ExportError
from edgecv.export.formats import FORMATS, IO_TYPES, get_format
from edgecv.export.pipeline import size_text
from edgecv.tasks.table import task_names

MODEL_SUFFIXES = (".keras", ".h5")


# ---------------------------------------------------------------- edgecv export
@click.command("export")
@click.argument("source", metavar="RUN_DIR|MODEL", type=click.Path(path_type=Path))
@click.option("--format", "formats", multiple=True, metavar="F",
              help=f"Format to export (repeatable): {', '.join(FORMATS)}. "
                   "Default: the recipe's export.formats, or float32 for a model file.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path),
              help="Output folder (default: RUN_DIR/export, or ./export for a model file).")
@click.option("--recipe", "recipe_path", type=click.Path(path_type=Path),
              help="Recipe naming the calibration data, for int8/edgetpu from a model file.")
@click.option("--io-type", type=click.Choice(IO_TYPES), default=None,
              help="Input/output type of int8 models (default: the recipe's, else uint8).")
@click.option("--calibration-samples", type=click.IntRange(min=1), default=None,
              help="Training images used to calibrate int8 (default: the recipe's).")
@click.option("--task", "task_name", type=click.Choice(task_names()), default=None,
              help="Task of a model file exported without a recipe (written into the metadata).")
@click.option("--labels", "labels_arg", metavar="A,B,...|FILE", default=None,
              help="Class names of a model file exported without a recipe: a comma list or a "
                   "text file with one name per line.")
def export_command(source: Path, formats: tuple[str, ...], out_dir: Path | None,
                   recipe_path: Path | None, io_type: str | None,
                   calibration_samples: int | None, task_name: str | None,
                   labels_arg: str | None) -> None:
    """Export a run directory's model (or a .keras/.h5 file) to TFLite formats."""
    from edgecv.export.pipeline import export_run, source_model
    from edgecv.export.tflite import is_qat_model
    from edgecv.optimize.qat import load_keras_model

    model_path, recipe, stem = _resolve_source(source, recipe_path)
    if recipe is not None and (task_name or labels_arg):
        raise click.UsageError("--task/--labels are for a model file without a recipe; the recipe "
                               f"{'given' if recipe_path else 'beside it'} names both")
    names = list(dict.fromkeys(formats)) or (list(recipe.export.formats) if recipe else ["float32"])
    fmts = [get_format(n) for n in names]
    if out_dir is None:
        out_dir = source / "export" if source.is_dir() else Path("export")
    if source.is_dir() and out_dir.resolve().is_relative_to(source.resolve()):
        from edgecv.rundir import guard_write  # writing into the run folder: one writer at a time

        click.get_current_context().with_resource(guard_write(source))
        from edgecv import console

        console.keep_log(source / console.LOG_NAME)    # beside training's, appended

    model = load_keras_model(model_path, error=ExportError)
    # A run that ended with QAT keeps its QAT model beside the float one: integer formats
    # come from it (learnt ranges), float formats from the float model.
    qat_path = source / "model_qat.h5" if source.is_dir() else None
    qat_model = load_keras_model(qat_path, error=ExportError) \
        if qat_path is not None and qat_path.is_file() else None

    needs_data = [f.name for f in fmts
                  if f.needs_calibration and not is_qat_model(source_model(f, model, qat_model))]
    if needs_data and recipe is None:
        raise ExportError(f"{model_path}: format(s) {', '.join(needs_data)} need calibration "
                          "images; export from a run directory, or pass --recipe RECIPE "
                          "naming the training data (or export a QAT-trained model)")
    task, task_metadata, dataset, labels = None, None, None, None
    if recipe is None:     # a bare model file: its task and labels must come from the user
        task, labels = _given_task_and_labels(model_path, model, task_name, labels_arg)
    else:
        task, task_metadata, dataset = _trained_task(
            recipe, calibrate=any(f.needs_calibration for f in fmts),
            export_dirs=[out_dir] + ([source / "export"] if source.is_dir() else []), model=model,
            run_dir=source if source.is_dir() else None)
        _check_labels(model, recipe, dataset.class_names, model_path)
    exports = export_run(model, qat_model=qat_model, recipe=recipe, task=task,
                         task_metadata=task_metadata, dataset=dataset, labels=labels,
                         out_dir=out_dir, stem=stem, formats=fmts, io_type=io_type,
                         calibration_samples=calibration_samples, echo=click.echo)
    failed = [e for e in exports if e["status"] != "ok"]
    if failed:  # each was reported as it happened; the command still fails (exit 2)
        raise ExportError(failed[0]["error"] if len(failed) == 1 else
                          "; ".join(f"{e['format']}: {e['error']}" for e in failed))


def _resolve_source(source: Path, recipe_path: Path | None):
    """RUN_DIR -> (model file, recipe, run name); MODEL -> (file, --recipe or None, stem)."""
    from edgecv.recipe import load_recipe

    if not source.exists():
        raise ExportError(f"{source}: no such run directory or model file")
    if source.is_dir():
        model_path = next((source / f"model{s}" for s in MODEL_SUFFIXES
                           if (source / f"model{s}").is_file()), None)
        if model_path is None:
            raise ExportError(f"{source}: run directory has no model.keras or model.h5")
        recipe_file = recipe_path or source / "recipe.yaml"
        if not recipe_file.is_file():
            raise ExportError(f"{source}: run directory has no recipe.yaml")
        recipe = load_recipe(recipe_file)
        return model_path, recipe, recipe.name
    if source.suffix not in MODEL_SUFFIXES:
        raise ExportError(f"{source}: expected a run directory or a Keras model file "
                          f"({', '.join(MODEL_SUFFIXES)}), got {source.suffix or 'no suffix'!r}")
    if recipe_path is None and _run_recipe_beside(source) is not None:
        # runs/<name>/model.keras: the run's own recipe.yaml tells its task, labels, data
        recipe_path = _run_recipe_beside(source)
        click.echo(f"export: task and labels from {recipe_path}")
    recipe = load_recipe(recipe_path) if recipe_path else None
    return source, recipe, source.stem


def _run_recipe_beside(model_file: Path) -> Path | None:
    """The recipe.yaml of the edgecv run folder holding `model_file`, if it is in one."""
    from edgecv.rundir import is_edgecv_run

    folder = model_file.parent
    recipe = folder / "recipe.yaml"
    return recipe if recipe.is_file() and is_edgecv_run(folder) else None


def _given_task_and_labels(model_path: Path, model, task_name: str | None, labels_arg: str | None):
    """(Task, labels) for a model file without a recipe, from --task / --labels: the exported
    metadata must not say "task unknown, 0 labels" of a model an app has to decode."""
    if task_name is None or labels_arg is None:
        raise ExportError(f"{model_path}: no recipe names this model's task and labels (no "
                          "edgecv run folder around it); pass --recipe RECIPE, or --task TASK "
                          "--labels A,B,... (or a file with one class name per line)")
    path = Path(labels_arg)
    if path.is_file():
        text = path.read_text(encoding="utf-8", errors="replace")
        labels = [line.strip() for line in text.splitlines() if line.strip()]
    else:
        labels = [name.strip() for name in labels_arg.split(",") if name.strip()]
    if not labels or len(set(labels)) != len(labels):
        raise ExportError(f"--labels {labels_arg!r}: expected distinct class names "
                          f"(got {len(labels)} name(s), {len(set(labels))} distinct)")
    from edgecv.tasks import get_task

    task = get_task(task_name, None)
    width = model.output_shape[-1] if not isinstance(model.output_shape, list) else None
    if task_name == "classification" and width is not None and width != len(labels):
        raise ExportError(f"{model_path}: model outputs {width} classes but --labels names "
                          f"{len(labels)}")
    return task, labels


def _trained_task(recipe, *, calibrate: bool, export_dirs: list[Path], model=None,
                  run_dir: Path | None = None):
    """(task, its recorded metadata part or None, training dataset), as training left them.

    Data-driven task settings (detection `anchors: auto`) must be the ones the model was
    trained with: read back from an earlier export of the same recipe when there is one,
    else recomputed as training did (`task.adapt_to_data` on the same training split; the
    k-means is seeded). Calibration also draws from that split, so a re-export of a run
    is the file `edgecv train` wrote. Settings from the trained model (embedding threshold:
    `task.adapt_to_model`) are recomputed on the run's validation split the same way."""
    from edgecv.tasks import get_task
    from edgecv.tasks.base import adapts_to_data, adapts_to_model

    task = get_task(recipe.task, recipe)
    adapts = adapts_to_data(task)
    recorded = _recorded_task_metadata(export_dirs, recipe) if adapts else None
    if recorded is not None:
        task = task.restore(recorded)
    if calibrate or (adapts and recorded is None):
        # The training split exactly as `edgecv train` made it (split, then decoded).
        from edgecv.data.splits import load_splits

        dataset, val_set = load_splits(recipe.data, task=recipe.task, channels=recipe.model.input_shape[-1],
                                       seed=recipe.seed, echo=click.echo)
        if adapts and recorded is None:
            task = task.adapt_to_data(dataset)
            if adapts_to_model(task) and model is not None:
                task = task.adapt_to_model(_model_as_trained(run_dir, model), val_set)
    else:  # only the class names are needed
        from edgecv.data import load_dataset

        dataset = load_dataset(recipe.data.train, task=recipe.task)
    return task, recorded, dataset


def _model_as_trained(run_dir: Path | None, model):
    """The run's whole trained model where its model.keras is cut from it (embedding
    `features:`: the shipped layer is chosen among the trained model's), else `model`."""
    from edgecv.optimize.qat import load_keras_model
    from edgecv.train.transfer import TRAINED_MODEL_FILE

    path = run_dir / TRAINED_MODEL_FILE if run_dir is not None else None
    return load_keras_model(path, error=ExportError) if path is not None and path.is_file() else model


def _recorded_task_metadata(export_dirs: list[Path], recipe) -> dict | None:
    """The task's part of the metadata of an earlier export of this recipe, or None."""
    from edgecv.export.metadata import read_metadata, recorded_task_part, sidecar_path

    digest = recipe.digest()
    for folder in dict.fromkeys(export_dirs):
        for path in sorted(Path(folder).glob("*.tflite")):
            sidecar = sidecar_path(path)
            try:
                meta = json.loads(sidecar.read_text()) if sidecar.is_file() else read_metadata(path)
            except (OSError, ValueError, ExportError):
                continue  # an unreadable earlier file is not evidence either way
            if meta and meta.get("recipe_hash") == digest and meta.get("task") == recipe.task:
                return recorded_task_part(meta)
    return None


def _check_labels(model, recipe, labels, model_path: Path) -> None:
    """A classifier's output width must match the label list written into metadata."""
    if recipe is None or recipe.task != "classification" or not labels:
        return
    width = model.output_shape[-1] if not isinstance(model.output_shape, list) else None
    if width is not None and width != len(labels):
        raise ExportError(f"{model_path}: model outputs {width} classes but the recipe's data "
                          f"has {len(labels)} labels")


# ---------------------------------------------------------------- edgecv info
@click.command("info")
@click.argument("path", metavar="MODEL.tflite", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
def info_command(path: Path, as_json: bool) -> None:
    """Show a .tflite file's size, I/O, operators, float ops and Edge TPU verdict."""
    from edgecv.export.info import inspect_tflite

    info = inspect_tflite(path)
    if as_json:
        slim = {k: v for k, v in info.items() if k != "operators"}
        if slim.get("standard_metadata"):   # packed files (labels.txt) as text
            std = slim["standard_metadata"]
            slim["standard_metadata"] = dict(std, files={
                name: data.decode("utf-8", "replace") for name, data in std["files"].items()})
        click.echo(json.dumps(slim, indent=2, default=str))
        return
    for line in format_info(info):
        click.echo(line)


def format_info(info: dict) -> list[str]:
    """The human-readable `edgecv info` report, line by line."""
    meta = info.get("metadata") or {}
    kind = "integer (int8)" if info["integer"] else "float"
    lines = [f"{info['path']}: {size_text(info['size_bytes'])}, {kind} model, "
             f"{len(info['operators'])} operators, {info['subgraphs']} subgraph(s)"]
    if meta:
        labels = meta.get("labels") or []
        lines.append(f"metadata: task {meta.get('task')}, format {meta.get('format')}, "
                     f"{len(labels)} labels, normalization {meta.get('normalization')}, "
                     f"edgecv {meta.get('edgecv_version')}"
                     + (f", recipe {meta['recipe_hash']}" if meta.get("recipe_hash") else ""))
        if meta.get("output_layout"):
            lines.append(f"outputs: {meta['output_layout']}")
        from edgecv.export.metadata import recorded_task_part

        for key, value in recorded_task_part(meta).items():   # the task's own part (anchors, threshold)
            lines.append(f"{key}: {_short_value(value)}")
    else:
        lines.append("metadata: none (not exported by edgecv)")
    from edgecv.export.standard.summary import summary_lines

    lines += summary_lines(info.get("standard_metadata"))
    for label, tensors in (("input", info["inputs"]), ("output", info["outputs"])):
        for t in tensors:
            lines.append(f"{label}: {t['name']}  {t['dtype']}  {t['shape_signature']}  "
                         f"{_quant_text(t['quantization'])}")
    lines.append("operators:")
    width = max([len(r["op"]) for r in info["op_table"]] + [2])
    lines.append(f"  {'op':<{width}}  count  inputs [weights] -> outputs")
    for row in info["op_table"]:
        flag = "  FLOAT" if info["integer"] and any(
            d.startswith("float") for d in row["input_dtypes"] + row["output_dtypes"]) else ""
        weights = f" [{','.join(row['weight_dtypes'])}]" if row["weight_dtypes"] else ""
        lines.append(f"  {row['op']:<{width}}  {row['count']:>5}  "
                     f"{','.join(row['input_dtypes']) or '-'}{weights} -> "
                     f"{','.join(row['output_dtypes']) or '-'}{flag}")
    if info["integer"]:
        if info["float_ops"]:
            lines.append(f"float ops in an integer model: {len(info['float_ops'])}")
            for op in info["float_ops"]:
                lines.append(f"  #{op['index']} {op['op']}: {op['reason']}")
        else:
            lines.append("float ops: none (every op computes on integers)")
    tpu = info.get("edgetpu")
    if tpu:
        lines.append(f"Edge TPU: {tpu['verdict']}")
        if not info["integer"]:
            return lines  # every op of a float model fails; the verdict says why
        for problem in tpu.get("model_problems", []):
            lines.append(f"  model: {problem}")
        for op in tpu["unmappable"]:
            lines.append(f"  #{op['index']} {op['op']}: {'; '.join(op['reasons'])}")
    return lines


def _short_value(value) -> str:
    if isinstance(value, dict):
        text = ", ".join(f"{k} {v}" for k, v in value.items())
    else:
        text = json.dumps(value, default=str)
    return text if len(text) <= 160 else text[:157] + "..."


def _quant_text(q) -> str:
    if not q:
        return "not quantized"
    if isinstance(q["scale"], list):
        return f"per-channel ({len(q['scale'])} scales, axis {q.get('axis')})"
    return f"scale {q['scale']:.6g}, zero point {q['zero_point']}"
