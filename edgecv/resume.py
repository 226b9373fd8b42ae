"""Honest `--resume`: continue a run only with the recipe that started it.

A run folder's recipe.yaml is the resolved recipe the run started with. Resuming with a
recipe that differs in anything that shaped the weights would export a model that no
recipe describes (issue 22, F3: a 3-epoch model exported with a recipe.yaml saying 6),
so it is refused, naming the differing keys. Resume-safe keys are the sections read
only after training — `export.*` (formats, calibration, I/O type) and `bench.*` (runs,
threads, gates...): they may change on resume, and recipe.yaml is then rewritten with
them, so the exported files carry the recipe that produced them.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgecv.errors import EdgecvError
from edgecv.recipe import RESUME_SAFE, without_resume_safe  # export, bench, detection.export

SHOWN_KEYS = 4                      # differing keys named in the one-line error


class ResumeError(EdgecvError):
    """--resume cannot continue this run folder with this recipe."""


def _normalised(recipe: Any) -> dict:
    """The recipe as recipe.yaml stores it (YAML round trip: tuples become lists...)."""
    import yaml

    from edgecv.recipe import dump_recipe

    return yaml.safe_load(dump_recipe(recipe))


def differences(old: Any, new: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """(dotted key, old value, new value) for every leaf that differs; MISSING when absent."""
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in list(old) + [k for k in new if k not in old]:
            path = f"{prefix}.{key}" if prefix else str(key)
            found += differences(old.get(key, MISSING), new.get(key, MISSING), path)
        return found
    return [] if old == new else [(prefix or "recipe", old, new)]


class _Missing:
    def __repr__(self) -> str:
        return "(unset)"


MISSING = _Missing()


def is_resume_safe(key: str) -> bool:
    return any(key == safe or key.startswith(safe + ".") for safe in RESUME_SAFE)


def check_resumable(run_dir: Path, recipe: Any) -> None:
    """ResumeError unless run_dir holds a run whose recipe equals `recipe` up to RESUME_SAFE."""
    from edgecv import yamlsafe

    run_dir = Path(run_dir)
    path = run_dir / "recipe.yaml"
    if not path.is_file():
        raise ResumeError(f"--resume: {run_dir} holds no earlier run (no recipe.yaml)")
    try:
        old = yamlsafe.load(yamlsafe.read_text(path, what="recipe"), where=str(path))
    except Exception as exc:  # any unreadable run recipe means "cannot compare"
        raise ResumeError(f"--resume: cannot read {path} ({str(exc).splitlines()[0]})") from None
    if not isinstance(old, dict):
        raise ResumeError(f"--resume: {path} is not a recipe mapping")
    new = _normalised(recipe)
    added = _stages_added_after(old, new)
    before, after = _comparable(old, new)
    changed = [d for d in differences(before, after) if d[0].split(".")[0] not in added]
    if changed:
        shown = ", ".join(f"{key} ({_short(a)} -> {_short(b)})" for key, a, b in changed[:SHOWN_KEYS])
        more = f" and {len(changed) - SHOWN_KEYS} more" if len(changed) > SHOWN_KEYS else ""
        raise ResumeError(
            f"--resume: the recipe differs from the one {run_dir} started with ({path}) in {shown}{more}; "
            f"resume with the same recipe and --set values, or start a new run with --out NEW_DIR "
            f"(only {', '.join(s + '.*' for s in RESUME_SAFE)} may change on resume, and stages "
            f"may be added after the last one)")


def _comparable(old: dict, new: dict) -> tuple[dict, dict]:
    """Both recipes without their resume-safe keys; a task section one of them leaves out
    stands for its defaults, so a change is named by its key (detection.lambda_obj)."""
    from edgecv.recipe import section_defaults

    old, new = without_resume_safe(old), without_resume_safe(new)
    for a, b in ((old, new), (new, old)):
        for section in set(b) - set(a):
            defaults = section_defaults(section)
            if defaults is not None:
                a[section] = {k: v for k, v in defaults.items() if k in b[section]}
    return old, new


def _stages_added_after(old: dict, new: dict) -> set[str]:
    """Stage sections the new recipe adds after every stage of the old one (a qat stage
    after a finished train stage): resuming runs them from the trained weights onward."""
    from edgecv.train.spec import STAGE_ORDER

    last = max((STAGE_ORDER.index(s) for s in STAGE_ORDER if s in old), default=-1)
    return {s for s in STAGE_ORDER[last + 1:] if s in new and s not in old}


def _short(value: Any) -> str:
    text = repr(value) if value is MISSING or not isinstance(value, (dict, list)) else json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."
