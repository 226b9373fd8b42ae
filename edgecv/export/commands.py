"""`edgecv export RUN_DIR|MODEL` and `edgecv info MODEL.tflite`."""
from __future__ import annotations

import json
from pathlib import Path

import click

from edgecv.errors import ExportError
from edgecv.export.formats import FORMATS, get_format, output_name

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
@click.option("--io-type", type=click.Choice(["uint8", "int8"]), default=None,
              help="Input/output type of int8 models (default: the recipe's, else uint8).")
@click.option("--calibration-samples", type=click.IntRange(min=1), default=None,
              help="Training images used to calibrate int8 (default: the recipe's).")
def export_command(source: Path, formats: tuple[str, ...], out_dir: Path | None,
                   recipe_path: Path | None, io_type: str | None,
                   calibration_samples: int | None) -> None:
    """Export a run directory's model (or a .keras/.h5 file) to TFLite formats."""
    model_path, recipe, stem = _resolve_source(source, recipe_path)
    names = list(dict.fromkeys(formats)) or (list(recipe.export.formats) if recipe else ["float32"])
    fmts = [get_format(n) for n in names]
    if out_dir is None:
        out_dir = source / "export" if source.is_dir() else Path("export")
    io_type = io_type or (recipe.export.io_type if recipe else "uint8")
    if source.is_dir() and out_dir.resolve().is_relative_to(source.resolve()):
        from edgecv.rundir import guard_write  # writing into the run folder: one writer at a time

        click.get_current_context().with_resource(guard_write(source))

    from edgecv.export.tflite import export_model, is_qat_model

    model = load_keras_model(model_path)
    # A run that ended with QAT keeps its QAT model beside the float one: integer formats
    # come from it (learnt ranges), float formats from the float model.
    qat_path = source / "model_qat.h5" if source.is_dir() else None
    qat_model = load_keras_model(qat_path) if qat_path is not None and qat_path.is_file() else None

    def model_for(f):
        return qat_model if f.integer and qat_model is not None else model

    needs_data = [f.name for f in fmts if f.needs_calibration and not is_qat_model(model_for(f))]
    if needs_data and recipe is None:
        raise ExportError(f"{model_path}: format(s) {', '.join(needs_data)} need calibration "
                          "images; export from a run directory, or pass --recipe RECIPE "
                          "naming the training data (or export a QAT-trained model)")
    representative, labels = None, None
    if recipe is not None:
        samples = calibration_samples or recipe.export.calibration_samples
        representative, labels = _calibration(recipe, samples if needs_data else 0)
    _check_labels(model, recipe, labels, model_path)
    metadata = _metadata(recipe, labels, model)
    for f in fmts:
        out = out_dir / output_name(stem, f)
        click.echo(f"export: {f.name} ...")
        result = export_model(model_for(f), f, out, representative=representative, io_type=io_type,
                              metadata=metadata)
        click.echo(f"export: {f.name} -> {result.path} ({_size(result.size_bytes)}, "
                   f"{result.seconds:.1f} s)")
        if result.report.get("verdict"):
            click.echo(f"  Edge TPU: {result.report['verdict']}")
        for note in result.notes:
            click.echo(f"  {note}")


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
    recipe = load_recipe(recipe_path) if recipe_path else None
    return source, recipe, source.stem


def load_keras_model(path: Path):
    """Load a .keras/.h5 model, QAT-wrapped ones included, without compiling it."""
    import tf_keras as keras

    try:
        from edgecv.optimize.qat import quantize_scope
    except ImportError:  # QAT support not installed/built: plain models still load
        import contextlib

        quantize_scope = contextlib.nullcontext
    try:
        with quantize_scope():
            return keras.models.load_model(path, compile=False)
    except Exception as exc:
        first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        hint = ""
        if "quantize" in first and path.suffix == ".keras":
            # tfmot's QuantizeLayer variables do not round-trip through the .keras
            # format in tf_keras 2.21 (they do through .h5).
            hint = "; QAT models saved as .keras do not reload, save them as .h5"
        if len(first) > 160:
            first = first[:157] + "..."
        raise ExportError(f"{path}: cannot load Keras model ({first}){hint}") from None


def _calibration(recipe, samples: int):
    """(representative callable or None, class names) from the recipe's training data."""
    try:
        from edgecv.data import load_dataset, representative_dataset
    except ImportError:
        raise ExportError("int8 calibration from a recipe needs edgecv.data.load_dataset and "
                          "representative_dataset, which are not built yet") from None
    train = load_dataset(recipe.data.train, task=recipe.task)
    if not samples:
        return None, list(train.class_names)
    click.echo(f"export: calibrating on {min(samples, len(train))} training images")
    rep = representative_dataset(train, input_shape=recipe.model.input_shape, samples=samples,
                                 seed=recipe.seed, resize=recipe.data.resize)
    return rep, list(train.class_names)


def _check_labels(model, recipe, labels, model_path: Path) -> None:
    """A classifier's output width must match the label list written into metadata."""
    if recipe is None or recipe.task != "classification" or not labels:
        return
    width = model.output_shape[-1] if not isinstance(model.output_shape, list) else None
    if width is not None and width != len(labels):
        raise ExportError(f"{model_path}: model outputs {width} classes but the recipe's data "
                          f"has {len(labels)} labels")


def _metadata(recipe, labels, model) -> dict:
    from edgecv.export.metadata import build_metadata

    if recipe is None:
        return build_metadata(task="unknown", input_shape=list(model.input_shape[1:]))
    return build_metadata(task=recipe.task, labels=labels, recipe=None,
                          input_shape=list(recipe.model.input_shape), model=recipe.model.arch,
                          recipe_hash=recipe.digest(), resize=recipe.data.resize)


def _size(n: int) -> str:
    return f"{n / 1024:.0f} KiB" if n < 10 * 1024 * 1024 else f"{n / 1024 / 1024:.1f} MiB"


# ---------------------------------------------------------------- edgecv info
@click.command("info")
@click.argument("path", metavar="MODEL.tflite", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
def info_command(path: Path, as_json: bool) -> None:
    """Show a .tflite file's size, I/O, operators, float ops and Edge TPU verdict."""
    from edgecv.export.inspect import inspect_tflite

    info = inspect_tflite(path)
    if as_json:
        slim = {k: v for k, v in info.items() if k != "operators"}
        click.echo(json.dumps(slim, indent=2, default=str))
        return
    for line in format_info(info):
        click.echo(line)


def format_info(info: dict) -> list[str]:
    """The human-readable `edgecv info` report, line by line."""
    meta = info.get("metadata") or {}
    kind = "integer (int8)" if info["integer"] else "float"
    lines = [f"{info['path']}: {_size(info['size_bytes'])}, {kind} model, "
             f"{len(info['operators'])} operators, {info['subgraphs']} subgraph(s)"]
    if meta:
        labels = meta.get("labels") or []
        lines.append(f"metadata: task {meta.get('task')}, format {meta.get('format')}, "
                     f"{len(labels)} labels, normalization {meta.get('normalization')}, "
                     f"edgecv {meta.get('edgecv_version')}"
                     + (f", recipe {meta['recipe_hash']}" if meta.get("recipe_hash") else ""))
    else:
        lines.append("metadata: none (not exported by edgecv)")
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


def _quant_text(q) -> str:
    if not q:
        return "not quantized"
    if isinstance(q["scale"], list):
        return f"per-channel ({len(q['scale'])} scales, axis {q.get('axis')})"
    return f"scale {q['scale']:.6g}, zero point {q['zero_point']}"
