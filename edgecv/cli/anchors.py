"""`edgecv data anchors SPEC|RECIPE -k N`: YOLO anchors by k-means (1 - IoU) on the boxes.

Attached to the `data` group by edgecv/cli/data.py. Prints the anchors (w, h in input
pixels, smallest first), how well they fit (mean IoU of each box with its best
anchor) and the `detection.anchors` line to paste into a recipe.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import click

from edgecv.errors import DataError, RecipeError

DEFAULT_INPUT = (416, 416)
DEFAULT_K = 6


def _parse_size(text: Optional[str]) -> Optional[tuple[int, int]]:
    """'416' or '320x416' (height x width) -> (H, W)."""
    if text is None:
        return None
    parts = text.lower().split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or min(values, default=0) <= 0:
        raise RecipeError(f"--input-size: expected N or HxW positive integers, got {text!r}")
    return (values[0], values[-1])


@click.command("anchors")
@click.argument("spec_file", metavar="SPEC|RECIPE", type=click.Path(path_type=Path))
@click.option("-k", "--num-anchors", "k", type=click.IntRange(1, 30), default=None,
              help=f"How many anchors (default: a recipe's anchors_per_scale x heads, else {DEFAULT_K}).")
@click.option("--input-size", "input_size", metavar="N|HxW", default=None,
              help="Input size the anchors are for (default: the recipe's model input, else 416).")
@click.option("--limit", type=click.IntRange(1), default=2000, show_default=True,
              help="Read the boxes of at most this many training images.")
@click.option("--seed", type=int, default=0, show_default=True)
def anchors_command(spec_file: Path, k: Optional[int], input_size: Optional[str], limit: int, seed: int) -> None:
    """Compute YOLO anchors for a detection dataset spec file or a recipe's data.train."""
    import numpy as np

    from edgecv.data import load_dataset
    from edgecv.recipe import load_recipe, read_yaml_mapping
    from edgecv.tasks.detection import training_box_sizes
    from edgecv.tasks.detection.anchors import kmeans_anchors, mean_best_iou

    raw = read_yaml_mapping(spec_file, what="dataset spec or recipe")
    size = _parse_size(input_size)
    if "data" in raw and "format" not in raw:
        recipe = load_recipe(spec_file)
        if recipe.task != "detection":
            raise RecipeError(f"{spec_file}: task is {recipe.task!r}; anchors are for detection recipes")
        dataset = load_dataset(recipe.data.train, task="detection", where="data.train")
        size = size or tuple(recipe.model.input_shape[:2])
        resize = recipe.data.resize
        if k is None:
            from edgecv.tasks.detection import make_task

            task = make_task(recipe)
            k = task.spec.anchors_per_scale * len(task._grids())
    else:
        spec = {key: value for key, value in raw.items() if key != "task"}
        dataset = load_dataset(spec, task="detection", base_dir=spec_file.resolve().parent,
                               where=str(spec_file))
        resize = "stretch"
    size = size or DEFAULT_INPUT
    k = k or DEFAULT_K
    wh = training_box_sizes(dataset, (size[0], size[1], 3), limit=limit, resize=resize)
    try:
        anchors = kmeans_anchors(wh, k, seed=seed)
    except ValueError as exc:
        raise DataError(f"{spec_file}: {exc} ({len(wh)} boxes)") from None
    fit = mean_best_iou(wh, anchors)
    click.echo(f"{len(wh)} boxes, input {size[0]}x{size[1]}, {k} anchors (w x h pixels, smallest first):")
    for w, h in anchors:
        click.echo(f"  {w:7.1f} x {h:7.1f}")
    click.echo(f"mean IoU of each box with its best anchor: {fit:.3f}")
    pairs = ", ".join(f"[{w:.1f}, {h:.1f}]" for w, h in np.round(anchors, 1))
    click.echo(f"recipe: detection: {{anchors: [{pairs}]}}")
