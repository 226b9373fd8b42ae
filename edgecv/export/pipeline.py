"""The one export pipeline: a trained model -> every requested format, as `edgecv train`
(workflow.run_recipe) and `edgecv export` (cli/export.py) both run it.

It builds the metadata once (recipe facts + the task's own part), picks the QAT model for
integer formats and the float model for the others, calibrates only for the formats that
need it, names files with `formats.output_name`, and reports a failed format instead of
stopping (the other formats and the benchmark still run).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable, Optional

from edgecv.errors import EdgecvError
from edgecv.export.formats import Format, get_format, output_name
from edgecv.signals import raise_if_terminated

Echo = Callable[[str], None]


def source_model(fmt: "str | Format", model: Any, qat_model: Any = None) -> Any:
    """Integer formats come from the QAT model when there is one (its learnt ranges),
    every other format from the float model."""
    return qat_model if get_format(fmt).integer and qat_model is not None else model


def export_run(model: Any, *, out_dir: "str | Path", stem: str,
               formats: "Optional[Iterable[str | Format]]" = None, qat_model: Any = None,
               recipe: Any = None, task: Any = None, task_metadata: "dict | None" = None,
               dataset: Any = None, labels: "list[str] | None" = None, io_type: "str | None" = None,
               calibration_samples: "int | None" = None, echo: Echo = print) -> list[dict]:
    """Export `model` (float) / `qat_model` to each format as `out_dir/<stem>_<format><suffix>`.

    `recipe` (or None for a bare model file) gives the metadata, the default `formats`,
    `io_type` and `calibration_samples`, and the calibration preprocessing; `task` adds its
    own metadata (`task.export_metadata()`) unless `task_metadata` is given; `dataset` is
    the training set: its class names become the labels (unless `labels` are given: a bare
    model file's --labels), and formats that need calibration draw their representative
    samples from it. Returns one `{format, path, status: "ok" |
    "export failed", error?}` per format, in order."""
    from edgecv.export.metadata import run_metadata
    from edgecv.export.tflite import export_model

    export = getattr(recipe, "export", None)
    fmts = [get_format(f) for f in dict.fromkeys(
        formats if formats is not None else (export.formats if export else ["float32"]))]
    io_type = io_type or (export.io_type if export else "uint8")
    samples = calibration_samples or (export.calibration_samples if export else None)
    if labels is None and dataset is not None:
        labels = list(dataset.class_names)
    metadata = run_metadata(recipe=recipe, task=task, labels=labels, model=model,
                            task_metadata=task_metadata)
    representative = None
    if dataset is not None and recipe is not None and any(f.needs_calibration for f in fmts):
        from edgecv.data import representative_dataset

        count = min(samples, len(dataset))
        echo(f"export: calibrating on {count} training images")
        representative = with_progress(representative_dataset(
            dataset, input_shape=recipe.model.input_shape, samples=samples, seed=recipe.seed,
            resize=recipe.data.resize), count)

    exports = []
    wrapped: dict[tuple, Any] = {}   # the task's exported model, once per source model
    for f in fmts:
        out = Path(out_dir) / output_name(stem, f)
        echo(f"export: {f.name} ...")
        try:
            source = source_model(f, model, qat_model)
            key = (id(source), f.integer)
            if task is not None and key not in wrapped:
                wrapped[key] = task.exported_model(source, integer=f.integer)
            result = export_model(wrapped.get(key, source), f, out,
                                  representative=representative if f.needs_calibration else None,
                                  io_type=io_type, metadata=metadata)
        except EdgecvError as exc:
            echo(f"export: {f.name} failed: {exc}")
            exports.append({"format": f.name, "path": str(out), "status": "export failed",
                            "error": str(exc)})
            continue
        echo(f"export: {f.name} -> {result.path} ({size_text(result.size_bytes)}, "
             f"{result.seconds:.1f} s)")
        if result.report.get("verdict"):
            echo(f"  Edge TPU: {result.report['verdict']}")
        for note in result.notes:
            echo(f"  {note}")
        exports.append({"format": f.name, "path": str(result.path), "status": "ok"})
        raise_if_terminated()   # a Ctrl-C the converter swallowed stops before the next format
    return exports


def with_progress(representative: Any, count: int) -> Callable[[], Iterable]:
    """The converter's representative_dataset (a callable or an array of samples, as
    export_model takes), drawing a bar over its images: the converter calls it once per
    calibrated format and runs the float model on every image."""
    from edgecv.export.tflite import as_representative
    from edgecv.progress import iterate

    samples = as_representative(representative)

    def generate():
        return iterate(samples(), count, "export: calibrating", unit="img")

    return generate


def size_text(n: int) -> str:
    return f"{n / 1024:.0f} KiB" if n < 10 * 1024 * 1024 else f"{n / 1024 / 1024:.1f} MiB"
