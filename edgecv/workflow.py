"""`edgecv train`: recipe -> model -> data -> stages -> export -> bench -> report.

This module only orchestrates; each step lives in its own package.
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from edgecv.fileio import write_text
from edgecv.signals import raise_if_terminated
from edgecv.recipe import Recipe, dump_recipe

Echo = Callable[[str], None]
EXAMPLE_IMAGES = 8      # predictions drawn next to the truth, for a person to look at


@dataclass
class RunResult:
    run_dir: Path
    entries: list[dict] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(entry.get("passed", False) for entry in self.entries)


def default_run_dir(recipe: Recipe) -> Path:
    return Path("runs") / recipe.name


def run_recipe(recipe: Recipe, run_dir: Path, *, resume: bool = False, echo: Echo = print,
               warn: Echo | None = None) -> RunResult:
    """Run every stage the recipe names and write the run directory. `warn` gets each
    warning about degenerate data (no "warning: " prefix); they go into the report too."""
    warn = warn or (lambda line: echo(f"warning: {line}"))
    started = time.perf_counter()

    from edgecv.data.splits import load_decodable, load_splits
    from edgecv.models import create_model
    from edgecv.tasks import get_task
    from edgecv.train import run_stages
    from edgecv.train.distribute import get_strategy
    from edgecv.train.seeding import pin_threads

    pin_threads(recipe.train.threads)   # before TF's first op, or the pools are fixed already
    # TF refuses to set up multi-worker collectives once any op has run: pick it first.
    if get_strategy().is_chief:     # multi-worker: one writer per run directory
        write_text(run_dir / "recipe.yaml", dump_recipe(recipe))
    task = get_task(recipe.task, recipe)
    channels = recipe.model.input_shape[-1]
    train_set, val_set = load_splits(recipe.data, task=recipe.task, channels=channels,
                                     seed=recipe.seed, echo=echo)
    test_set = None
    if recipe.data.test is not None:
        test_set = load_decodable(recipe.data.test, task=recipe.task, channels=channels, echo=echo,
                                  holdout=recipe.data.holdout_classes)   # open set: unseen classes only
    from edgecv.compat import check_classes  # before training: num_classes and splits agree

    check_classes(recipe, train_set, {"data.val": val_set, "data.test": test_set})
    task = task.adapt_to_data(train_set)    # e.g. detection: `auto` anchors from the training boxes
    class_names = train_set.class_names
    early_warnings = training_data_warnings(recipe, class_names)
    for line in early_warnings:
        warn(line)
    num_classes = recipe.model.num_classes or len(class_names)

    echo(f"model: {recipe.model.arch} {list(recipe.model.input_shape)}, {num_classes} classes")
    kwargs = recipe.model.builder_kwargs()
    kwargs["num_classes"] = num_classes

    def model_fn():     # the task may put its own head on the registered builder (embedding)
        build = functools.partial(create_model, recipe.model.arch, weights=recipe.model.weights, echo=echo)
        return task.build_model(build, **kwargs)

    train_data, val_data = make_pipelines(recipe, task, train_set, val_set)
    result = run_stages(recipe, run_dir, model=model_fn, train_data=train_data,
                        val_data=val_data, task=task, resume=resume, echo=echo)
    raise_if_terminated()
    if not result.is_chief:
        return RunResult(run_dir, [])  # multi-worker: only the chief exports and reports
    # Float formats and the accuracy reference come from the float model; integer formats
    # from the QAT model when a QAT stage ran (its learnt ranges replace calibration).
    float_model = result.float_model or result.model
    qat_model = result.model if result.model is not float_model else None
    if qat_model is not None:
        save_model(qat_model, run_dir / "model_qat.h5")
    task = task.adapt_to_model(float_model, val_set)   # e.g. embedding: threshold for the metadata
    shipped = task.final_model(float_model)            # embedding: the features it ships
    if shipped is not float_model:     # keep the model as trained too (init_from, analysis)
        from edgecv.train.transfer import TRAINED_MODEL_FILE

        save_model(float_model, run_dir / TRAINED_MODEL_FILE)
    float_model = shipped
    save_model(float_model, run_dir / "model.keras")
    skipped = getattr(train_set, "skipped", 0) + getattr(val_set, "skipped", 0)
    if skipped:
        echo(f"data: skipped {skipped} unreadable sample(s); see `edgecv data check`")
    echo(f"stages done in {time.perf_counter() - started:.0f} s")

    from edgecv.export.pipeline import export_run

    exports = export_run(float_model, qat_model=qat_model,
                         recipe=recipe, task=task, dataset=train_set, out_dir=run_dir / "export",
                         stem=recipe.name, echo=echo)
    raise_if_terminated()   # a SIGTERM TensorFlow swallowed during export still stops the run
    bench_set = val_set
    if test_set is not None:  # a held-out test split is what the report should score
        bench_set = test_set
        echo(f"bench: scoring the test split ({len(bench_set)} samples)")
    entries = bench_exports(recipe, float_model, bench_set, task, exports, run_dir, echo,
                            warn=warn, warnings=early_warnings)
    echo(f"run finished in {time.perf_counter() - started:.0f} s: {run_dir}")
    return RunResult(run_dir, entries)


def save_model(model: Any, path: Path) -> Path:
    """Save a Keras model atomically. QAT models go to .h5: tfmot's quantize wrappers do
    not reload from .keras in tf_keras 2.21; .h5 does, under qat.quantize_scope."""
    from edgecv.fileio import atomic_path

    with atomic_path(path) as tmp:
        model.save(tmp)
    return path


def make_pipelines(recipe: Recipe, task: Any, train_set: Any, val_set: Any):
    from edgecv.data import make_pipeline

    shape = recipe.model.input_shape
    batch = recipe.data.batch_size
    sampler = task.batch_sampler(batch)     # None: shuffled samples; embedding: PK batches
    train_data = make_pipeline(train_set, input_shape=shape, batch_size=batch, training=True,
                               augment=recipe.data.augment, seed=recipe.seed, cache=recipe.data.cache,
                               resize=recipe.data.resize, sampler=sampler)
    val_data = make_pipeline(val_set, input_shape=shape, batch_size=batch, training=False,
                             cache=recipe.data.cache, resize=recipe.data.resize, sampler=sampler)
    return task.prepare(train_data, None), task.prepare(val_data, None)


def training_data_warnings(recipe: Recipe, class_names: list[str]) -> list[str]:
    """A label task trained on a single class learns nothing (softmax over one class is 1.0)."""
    from edgecv.tasks.table import target_of

    if target_of(recipe.task) == "label" and len(class_names) < 2:
        return [f"data.train holds a single class ({', '.join(class_names) or 'none'}): the model "
                f"cannot learn to tell anything apart and scores 1.0 on any data of that class; "
                f"give it one sub-folder (or label) per class"]
    return []


def bench_exports(recipe: Recipe, model: Any, val_set: Any, task: Any, exports: list[dict],
                  run_dir: Path, echo: Echo, *, warn: Echo | None = None,
                  warnings: tuple | list = ()) -> list[dict]:
    """Benchmark every export against the Keras model on the same samples (eval.npz),
    write the report (with `warnings` and bench.sanity's), and let the task draw a few
    example predictions. Returns the report.json entries."""
    from edgecv.bench import bench_run
    from edgecv.bench.accuracy import keras_outputs
    from edgecv.bench.evalset import normalized, read_eval_set

    from edgecv.tasks.base import overrides

    entries = bench_run(recipe=recipe, model=model, dataset=val_set, exports=exports,
                        run_dir=run_dir, task=task, echo=echo, warn=warn, warnings=warnings)
    if not overrides(task, "write_examples"):   # nothing to draw: skip reading and predicting
        return [entry.to_dict() for entry in entries]
    evalset = read_eval_set(run_dir / "eval.npz")
    count = min(EXAMPLE_IMAGES, len(evalset))
    outputs = keras_outputs(model, normalized(evalset)[:count])
    written = task.write_examples(run_dir, evalset.x[:count], outputs, evalset.targets[:count],
                                  evalset.class_names)
    if written:
        echo(f"examples: {len(written)} image(s) in {Path(written[0]).parent}")
    return [entry.to_dict() for entry in entries]  # RunResult keeps report.json rows


def bench_run_dir(run_dir: Path, **options: Any) -> tuple[dict, Path]:
    """`edgecv bench RUN_DIR`: the bench pipeline with the run's own recipe.yaml (when it has
    one) for settings, gates and rebuilding the eval set; the report goes into a new folder
    (`out_dir=`, default RUN_DIR/bench-<time>/)."""
    from edgecv.bench.pipeline import bench_run_dir as _bench_run_dir
    from edgecv.recipe import load_recipe

    path = Path(run_dir) / "recipe.yaml"
    recipe = load_recipe(path) if path.is_file() else None
    return _bench_run_dir(run_dir, recipe=recipe, **options)
