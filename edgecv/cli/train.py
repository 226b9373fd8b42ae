"""`edgecv train RECIPE`: the one command that runs a whole recipe."""
from __future__ import annotations

from pathlib import Path

import click

from edgecv import console


@click.command("train")
@click.argument("recipe_path", metavar="RECIPE", type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path),
              help="Run directory (default: runs/<recipe name>).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a recipe key, e.g. --set train.epochs=1 (repeatable).")
@click.option("--resume", is_flag=True, help="Continue an interrupted run in its run directory.")
@click.option("--force", is_flag=True, help="Delete an existing run directory and start over.")
def train_command(recipe_path: Path, out_dir: Path | None, overrides: tuple[str, ...],
                  resume: bool, force: bool) -> None:
    """Train, prune, QAT, export and benchmark everything RECIPE names."""
    from edgecv import rundir, signals
    from edgecv.memory import check_training_fits
    from edgecv.recipe import load_recipe
    from edgecv.train.distribute import cluster_from_env
    from edgecv.workflow import default_run_dir, run_recipe

    if resume and force:
        raise click.UsageError("--resume and --force contradict each other")
    # Validate everything before the run directory is touched.
    recipe = load_recipe(recipe_path, overrides)
    run_dir = out_dir or default_run_dir(recipe)
    check_training_fits(recipe)
    # Marker, --force safety, resume check, and the lock held until the command ends.
    with rundir.prepare(run_dir, recipe=recipe, recipe_path=recipe_path, resume=resume,
                        force=force, is_chief=cluster_from_env()[2]) as folder:
        try:
            if folder.lock is not None:     # the chief: TensorFlow's messages into RUN_DIR/edgecv.log
                console.keep_log(run_dir / console.LOG_NAME)
            result = run_recipe(recipe, run_dir, resume=resume, echo=click.echo, warn=console.warn)
        except BaseException as exc:
            # Ctrl-C or SIGTERM, also when it landed in C++ code (the converter, the runner's
            # subprocess) and came out as another exception: signals.py re-raises it as the
            # interrupt on the way out, with this one as its cause, which carries the hint.
            if isinstance(exc, KeyboardInterrupt) or signals.interrupted():
                if (run_dir / "recipe.yaml").is_file():     # what --resume compares with is there
                    exc.resume_hint = resume_command(recipe_path, run_dir, overrides)
            # A user error, or a disk that filled up / went read-only: a run that failed
            # before training produced anything leaves no folder behind (so the same command
            # works again); one with checkpoints is kept for --resume.
            elif isinstance(exc, Exception) and not (run_dir / "train").exists():
                folder.remove()
            raise
    if not result.passed:
        click.echo(f"FAILED: a benchmark gate was missed; see {run_dir / 'report.md'}",
                   file=console.user_stderr())
        raise SystemExit(1)


def resume_command(recipe_path: Path, run_dir: Path, overrides: tuple[str, ...]) -> str:
    """The exact command that continues this run (same recipe, same --set values)."""
    import shlex

    words = ["edgecv", "train", str(recipe_path), "--out", str(run_dir)]
    for item in overrides:
        words += ["--set", item]
    return shlex.join(words + ["--resume"])
