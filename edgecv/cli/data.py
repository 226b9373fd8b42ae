"""`edgecv data ...` sub-commands (registered lazily by edgecv/cli)."""
from __future__ import annotations

from pathlib import Path

import click

from edgecv.errors import DataError
from edgecv.tasks.table import target_of, task_names


@click.group("data", help="Validate datasets, write generated sets as files, compute YOLO anchors.")
def data_group() -> None:
    pass


def _datasets_in(file: Path, task: str | None, overrides: tuple[str, ...] = ()
                 ) -> list[tuple[str, object, str, Path]]:
    """(where, spec, task, base_dir) for a recipe (every dataset in it) or a single-spec file;
    --set KEY=VALUE overrides apply to either (`data.train.path=...` / `path=...`)."""
    from edgecv.data.formats import FORMATS
    from edgecv.recipe import apply_override, load_recipe, read_yaml_mapping

    raw = read_yaml_mapping(file, what="dataset spec or recipe")
    if "data" in raw and "format" not in raw:
        recipe = load_recipe(file, overrides)
        return [(f"data.{split}", getattr(recipe.data, split), recipe.task, file.parent)
                for split in ("train", "val", "test") if getattr(recipe.data, split) is not None]
    spec = dict(raw)
    for item in overrides:
        apply_override(spec, item)
    task = task or spec.pop("task", None)
    spec.pop("task", None)
    if task is None:
        fmt = spec.get("format")
        tasks = FORMATS.get(fmt).tasks if fmt in FORMATS else ()
        # Checking reads targets, not tasks: tasks of one target kind (classification and
        # embedding both read labels) check a dataset the same way.
        kinds = {target_of(t) for t in tasks}
        if len(kinds) != 1:
            raise DataError(f"{file}: format {fmt!r} serves several tasks ({', '.join(tasks)}); "
                            f"give --task or a 'task:' key")
        task = tasks[0]
    return [(str(file), spec, task, file.resolve().parent)]


@data_group.command("check")
@click.argument("spec_file", metavar="SPEC|RECIPE", type=click.Path(path_type=Path))
@click.option("--task", type=click.Choice(task_names()),
              help="Task for a single spec whose format serves several (coco, synthetic_shapes).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a key, as `edgecv train --set` does: data.train.path=photos for a "
                   "recipe, path=photos for a spec file (repeatable).")
def check_command(spec_file: Path, task: str | None, overrides: tuple[str, ...]) -> None:
    """Check a dataset spec file (or every dataset of a recipe): class counts, image
    sizes and every bad sample by file name. Exit 0 when clean, 2 when not."""
    from edgecv.data import load_dataset
    from edgecv.data.check import check_dataset

    total = 0
    for where, spec, spec_task, base in _datasets_in(spec_file, task, overrides):
        ds = load_dataset(spec, task=spec_task, base_dir=base, where=where)
        report = check_dataset(ds, where)
        for line in report.lines():
            click.echo(line)
        total += len(report.problems)
    if total:
        raise DataError(f"{spec_file}: {total} problem(s) found; see the list above")
    click.echo("all clean")


def _parse_size(text: str) -> tuple[int, int]:
    """"160" or "WIDTHxHEIGHT" -> (height, width)."""
    parts = text.lower().split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or min(values) <= 0:
        raise DataError(f"--size: expected N or WIDTHxHEIGHT in pixels, got {text!r}")
    width, height = values if len(values) == 2 else values * 2
    return height, width


@data_group.command("write")
@click.argument("spec_file", metavar="SPEC", type=click.Path(path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="New or empty folder for images/, masks/, instances.json (nothing is overwritten).")
@click.option("--size", default="160", show_default=True, metavar="N|WxH", help="Image size in pixels.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a key of the spec (samples=200, seed=3); repeatable.")
def write_command(spec_file: Path, out_dir: Path, size: str, overrides: tuple[str, ...]) -> None:
    """Write a generated dataset spec (format: fashion_composite) as files: a COCO
    instances.json and a masks folder over the same images, readable by the `coco` and
    `masks` formats and `edgecv data check`."""
    from edgecv.data import load_dataset
    from edgecv.data.writer import write_generated
    from edgecv.progress import iterate

    height, width = _parse_size(size)
    datasets = _datasets_in(spec_file, "segmentation", overrides)
    if len(datasets) != 1 or datasets[0][0] != str(spec_file):
        raise DataError(f"{spec_file}: give one dataset spec file (format: fashion_composite), not a recipe")
    where, spec, task, base = datasets[0]
    ds = load_dataset(spec, task=task, base_dir=base, where=where)
    written = write_generated(ds, out_dir, height=height, width=width,
                              progress=lambda items, total: iterate(items, total, "writing", unit="image"))
    click.echo(f"wrote {written.images} images, {written.objects} objects to {written.root}: "
               f"check with `edgecv data check {written.root / 'coco.yaml'} --task detection` "
               f"or `{written.root / 'masks.yaml'}`")


def _attach_anchors() -> None:
    # `data anchors` lives with the detection task (it is YOLO k-means); the module
    # imports only click, so attaching it keeps `edgecv data --help` cheap.
    from edgecv.cli.anchors import anchors_command

    data_group.add_command(anchors_command)


_attach_anchors()
