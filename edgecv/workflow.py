"""`edgecv train`: recipe -> model -> data -> stages -> export -> bench -> report.

This module only orchestrates; each step lives in its own package.
"""
from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from edgecv.errors import EdgecvError, RecipeError
from edgecv.fileio import write_text
from edgecv.recipe import Recipe, dump_recipe

Echo = Callable[[str], None]
EXAMPLE_IMAGES = 8      # predictions drawn next to the truth, for a person to look at
SHOWN_PROBLEMS = 10     # bad samples named at the start of a run; `edgecv data check` names all


@dataclass
class RunResult:
    run_dir: Path
    entries: list[dict] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(entry.get("passed", False) for entry in self.entries)


def default_run_dir(recipe: Recipe) -> Path:
    return Path("runs") / recipe.name


def prepare_run_dir(run_dir: Path, *, resume: bool, force: bool) -> None:
    """Refuse to mix two runs in one folder unless told to resume or start over."""
    if run_dir.exists() and not run_dir.is_dir():
        raise RecipeError(f"--out {run_dir}: exists and is not a directory")
    if run_dir.exists() and any(run_dir.iterdir()) and not resume:
        if not force:
            raise RecipeError(
                f"{run_dir}: run directory already exists; pass --resume to continue it, "
                f"--force to start over, or --out DIR for a new one")
        shutil.rmtree(run_dir)
    from edgecv.train.distribute import cluster_from_env

    is_chief = cluster_from_env()[2]    # only the chief writes recipe.yaml (see run_recipe)
    if resume and is_chief and not (run_dir / "recipe.yaml").exists():
        raise RecipeError(f"--resume: {run_dir} holds no earlier run (no recipe.yaml)")
    run_dir.mkdir(parents=True, exist_ok=True)


def run_recipe(recipe: Recipe, run_dir: Path, *, resume: bool = False, echo: Echo = print) -> RunResult:
    """Run every stage the recipe names and write the run directory."""
    started = time.perf_counter()

    from edgecv.models import create_model
    from edgecv.tasks import get_task
    from edgecv.train import run_stages
    from edgecv.train.distribute import get_strategy

    # TF refuses to set up multi-worker collectives once any op has run: pick it first.
    if get_strategy().is_chief:     # multi-worker: one writer per run directory
        write_text(run_dir / "recipe.yaml", dump_recipe(recipe))
    task = get_task(recipe.task, recipe)
    train_set, val_set = load_splits(recipe, echo)
    task = task.adapt_to_data(train_set)    # e.g. detection: `auto` anchors from the training boxes
    class_names = train_set.class_names
    num_classes = recipe.model.num_classes or len(class_names)

    echo(f"model: {recipe.model.arch} {list(recipe.model.input_shape)}, {num_classes} classes")
    kwargs = recipe.model.builder_kwargs()
    kwargs["num_classes"] = num_classes

    def model_fn():
        return create_model(recipe.model.arch, weights=recipe.model.weights, echo=echo, **kwargs)

    train_data, val_data = make_pipelines(recipe, task, train_set, val_set)
    result = run_stages(recipe, run_dir, model=model_fn, train_data=train_data,
                        val_data=val_data, task=task, resume=resume, echo=echo)
    if not result.is_chief:
        return RunResult(run_dir, [])  # multi-worker: only the chief exports and reports
    # Float formats and the accuracy reference come from the float model; integer formats
    # from the QAT model when a QAT stage ran (its learnt ranges replace calibration).
    model, float_model = result.model, result.float_model or result.model
    save_model(float_model, run_dir / "model.keras")
    if model is not float_model:
        save_model(model, run_dir / "model_qat.h5")
    skipped = getattr(train_set, "skipped", 0) + getattr(val_set, "skipped", 0)
    if skipped:
        echo(f"data: skipped {skipped} unreadable sample(s); see `edgecv data check`")
    echo(f"stages done in {time.perf_counter() - started:.0f} s")

    exports = export_formats(recipe, model, float_model, task, train_set, run_dir, class_names, echo)
    bench_set = val_set
    if recipe.data.test is not None:  # a held-out test split is what the report should score
        bench_set = load_decodable(recipe.data.test, recipe, echo)
        echo(f"bench: scoring the test split ({len(bench_set)} samples)")
    entries = bench_exports(recipe, float_model, bench_set, task, exports, run_dir, echo)
    echo(f"run finished in {time.perf_counter() - started:.0f} s: {run_dir}")
    return RunResult(run_dir, entries)


def save_model(model: Any, path: Path) -> Path:
    """Save a Keras model atomically. QAT models go to .h5: tfmot's quantize wrappers do
    not reload from .keras in tf_keras 2.21; .h5 does, under qat.quantize_scope."""
    from edgecv.fileio import atomic_path

    with atomic_path(path) as tmp:
        model.save(tmp)
    return path


def load_splits(recipe: Recipe, echo: Echo, *, check_train: bool = True):
    """(train, val) datasets. Each part is decoded once (after splitting: `edgecv bench` needs
    only val) so files that fail to decode become named, counted skips."""
    from edgecv.data import load_dataset, split_dataset

    train_set = load_dataset(recipe.data.train, task=recipe.task)
    if recipe.data.val is not None:
        val_set = load_dataset(recipe.data.val, task=recipe.task)
    else:
        train_set, val_set = split_dataset(train_set, recipe.data.val_split, seed=recipe.seed)
    if check_train:
        train_set = decodable(train_set, recipe)
    val_set = decodable(val_set, recipe)
    echo(f"data: {len(train_set)} train / {len(val_set)} val samples, "
         f"{len(train_set.class_names)} classes")
    echo_problems(list(train_set.problems) + list(val_set.problems), echo)
    return train_set, val_set


def load_decodable(spec: Any, recipe: Recipe, echo: Echo):
    """One recipe dataset (e.g. data.test), decoded once, its problems named."""
    from edgecv.data import load_dataset

    dataset = decodable(load_dataset(spec, task=recipe.task), recipe)
    echo_problems(dataset.problems, echo)
    return dataset


def decodable(dataset: Any, recipe: Recipe):
    """`dataset` without the samples that fail to decode (each added to its problems)."""
    from edgecv.data import drop_undecodable

    return drop_undecodable(dataset, channels=recipe.model.input_shape[-1])


def echo_problems(problems: list, echo: Echo) -> None:
    for problem in problems[:SHOWN_PROBLEMS]:
        echo(f"data: {problem}")
    if len(problems) > SHOWN_PROBLEMS:
        echo(f"data: ... and {len(problems) - SHOWN_PROBLEMS} more; `edgecv data check` lists them all")


def make_pipelines(recipe: Recipe, task: Any, train_set: Any, val_set: Any):
    from edgecv.data import make_pipeline

    shape = recipe.model.input_shape
    batch = recipe.data.batch_size
    train_data = make_pipeline(train_set, input_shape=shape, batch_size=batch, training=True,
                               augment=recipe.data.augment, seed=recipe.seed, cache=recipe.data.cache,
                               resize=recipe.data.resize)
    val_data = make_pipeline(val_set, input_shape=shape, batch_size=batch, training=False,
                             cache=recipe.data.cache, resize=recipe.data.resize)
    return task.prepare(train_data, None), task.prepare(val_data, None)


def export_formats(recipe: Recipe, model: Any, float_model: Any, task: Any, train_set: Any, run_dir: Path,
                   class_names: list[str], echo: Echo) -> list[dict]:
    """Export every format the recipe names; a failed format is reported, not fatal."""
    from edgecv.version import __version__
    from edgecv.data import representative_dataset
    from edgecv.data.normalize import MEAN, STD
    from edgecv.export import FORMATS, export_model

    metadata = {
        "task": recipe.task,
        "labels": list(class_names),
        "input_shape": list(recipe.model.input_shape),
        "normalization": {"mean": MEAN, "std": STD},
        "resize": recipe.data.resize,
        "model": recipe.model.arch,
        "edgecv_version": __version__,
        "recipe_hash": recipe.digest(),
    }
    task_metadata = getattr(task, "export_metadata", None)
    if task_metadata is not None:  # e.g. detection: anchors and strides to decode outputs
        metadata.update(task_metadata())
    exports = []
    for name in recipe.export.formats:
        fmt = FORMATS[name]
        out = run_dir / "export" / f"{recipe.name}_{name}{fmt.suffix}"
        representative = None
        if fmt.needs_calibration:
            representative = representative_dataset(
                train_set, input_shape=recipe.model.input_shape,
                samples=recipe.export.calibration_samples, seed=recipe.seed, resize=recipe.data.resize)
        echo(f"export: {name} ...")
        try:
            source = model if fmt.integer else float_model
            result = export_model(source, name, out, representative=representative,
                                  io_type=recipe.export.io_type, metadata=metadata)
        except EdgecvError as exc:
            echo(f"export: {name} failed: {exc}")
            exports.append({"format": name, "path": str(out), "status": "export failed", "error": str(exc)})
            continue
        echo(f"export: {name} -> {result.path} ({result.size_bytes / 1024:.0f} KiB, {result.seconds:.1f} s)")
        exports.append({"format": name, "path": str(result.path), "status": "ok"})
    return exports


def bench_exports(recipe: Recipe, model: Any, val_set: Any, task: Any, exports: list[dict],
                  run_dir: Path, echo: Echo) -> list[dict]:
    """Benchmark every export against the Keras model on the same samples (eval.npz),
    write the report, and let the task draw a few example predictions."""
    from edgecv.bench import bench_run
    from edgecv.bench.accuracy import keras_outputs
    from edgecv.bench.evalset import normalized, read_eval_set

    entries = bench_run(recipe=recipe, model=model, dataset=val_set, exports=exports,
                        run_dir=run_dir, task=task, echo=echo)
    write_examples = getattr(task, "write_examples", None)
    if write_examples is not None:
        evalset = read_eval_set(run_dir / "eval.npz")
        count = min(EXAMPLE_IMAGES, len(evalset))
        outputs = keras_outputs(model, normalized(evalset)[:count])
        written = write_examples(run_dir, evalset.x[:count], outputs, evalset.targets[:count],
                                 evalset.class_names)
        if written:
            echo(f"examples: {len(written)} image(s) in {Path(written[0]).parent}")
    return entries
