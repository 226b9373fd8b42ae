"""`edgecv train RECIPE`: the one command that runs a whole recipe."""
from __future__ import annotations

from pathlib import Path

import click


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
    from edgecv import rundir
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
            result = run_recipe(recipe, run_dir, resume=resume, echo=click.echo)
        except Exception:   # a user error, or a disk that filled up / went read-only
            # A run that failed before training produced anything leaves no folder behind
            # (so the same command works again); one with checkpoints is kept for --resume.
            if not (run_dir / "train").exists():
                folder.remove()
            raise
    if not result.passed:
        click.echo(f"FAILED: a benchmark gate was missed; see {run_dir / 'report.md'}", err=True)
        raise SystemExit(1)
