"""The recipe: sections assembled from the packages that own them, YAML loading and
`--set a.b=value` overrides.

Each package owns its section (data/spec.py, models/spec.py, train/spec.py,
export/spec.py, bench/spec.py) and each task its own (`tasks/<task>/config.py`, under
the task's name, listed in the task table): this module only puts them together.
Every problem becomes a RecipeError whose message starts with the key path
(`train.learing_rate: unknown key; did you mean learning_rate?`).
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Iterable, Literal, Optional

import yaml
from pydantic import BaseModel, ValidationError, create_model, field_validator, model_validator

from edgecv.bench.spec import BenchSpec
from edgecv.data.spec import AugmentSpec, DataSpec, DatasetSpec  # noqa: F401  (re-exported)
from edgecv import yamlsafe  # alias bombs, nesting and file-size limits
from edgecv.errors import RecipeError
from edgecv.export.formats import FORMATS
from edgecv.export.spec import ExportSpec
from edgecv.models.spec import ModelSpec, check_builder
from edgecv.registry import suggest
from edgecv.schema import KeyProblem, Strict
from edgecv.tasks.table import all_tasks, task_names
from edgecv.train.spec import STAGE_ORDER, FineTuneSpec, PruneSpec, QatSpec, TrainSpec

TASKS = task_names()
# Sections read only after training: they may change on --resume (edgecv.resume), and the
# training digest that train/state.json records leaves them out. A task section adds its
# own such keys (its config's RESUME_SAFE, e.g. detection.export) below.
RESUME_SAFE: tuple[str, ...] = ("export", "bench")


class _RecipeBase(Strict):
    name: str
    task: Literal[TASKS]  # type: ignore[valid-type]
    seed: int = 0
    model: ModelSpec
    data: DataSpec
    train: TrainSpec
    finetune: Optional[FineTuneSpec] = None
    prune: Optional[PruneSpec] = None
    qat: Optional[QatSpec] = None
    export: ExportSpec = ExportSpec()
    bench: BenchSpec = BenchSpec()

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", value):
            # ASCII only: the name becomes file names (export/<name>_int8.tflite) that go to
            # devices and app bundles; the error line adds "(got ...)" itself.
            raise ValueError("must be ASCII letters, digits, '_', '-' or '.', starting with a letter or digit")
        return value

    @model_validator(mode="after")
    def _model_matches_registry(self) -> "_RecipeBase":
        check_builder(self.model)    # the arch is registered and takes every extra key
        return self

    @model_validator(mode="after")
    def _task_fits_formats(self) -> "_RecipeBase":
        """A task section may refuse export formats (detection: in-graph NMS is float only)
        or stages (embedding: features taken after training skip QAT), before any training
        is spent."""
        section = getattr(self, self.task, None)
        check = getattr(section, "check_formats", None)
        if check is not None:
            check([f for f in self.export.formats if FORMATS[f].integer])
        check = getattr(section, "check_stages", None)   # embedding: features need the float road
        if check is not None:
            check(qat=self.qat is not None)
        return self

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)

    def digest(self) -> str:
        """Short stable hash of the resolved recipe (for metadata and run identity)."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def training_digest(self, stages: Optional[Iterable[str]] = None) -> str:
        """The digest without the resume-safe sections: what train/state.json records, so a
        resumed run checks it continues the same training. With `stages`, the sections of
        the other stages are left out too: a run whose train and prune stages ran may be
        resumed with a qat stage added after them."""
        dropped = set(STAGE_ORDER) - set(stages) if stages is not None else set()
        data = {k: v for k, v in without_resume_safe(self.to_dict()).items() if k not in dropped}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


# Task options, one optional section per task that has any, named like the task
# (`detection:`, `segmentation:`); defaults when absent.
Recipe = create_model(
    "Recipe", __base__=_RecipeBase, __module__=__name__,
    **{info.name: (Optional[info.load_config()], None) for info in all_tasks() if info.config},
)


RESUME_SAFE += tuple(f"{info.name}.{key}" for info in all_tasks() if info.config
                     for key in getattr(info.load_config(), "RESUME_SAFE", ()))


def without_resume_safe(data: dict) -> dict:
    """A recipe dict without its RESUME_SAFE keys. A task section left at its defaults is
    dropped too, so `--set detection.export.postprocess=nms` on a recipe that had no
    `detection:` section changes nothing training reads."""
    data = {k: v for k, v in data.items() if k not in RESUME_SAFE}
    for key in RESUME_SAFE:
        section, _, inner = key.partition(".")
        if not inner or not isinstance(data.get(section), dict):
            continue
        kept = {k: v for k, v in data[section].items() if k != inner}
        defaults = {k: v for k, v in section_defaults(section).items() if k != inner}
        if kept == defaults:
            del data[section]
        else:
            data[section] = kept
    return data


def section_defaults(section: str) -> "dict | None":
    """A task section's defaults as recipe.yaml would store them; None for other sections."""
    info = next((info for info in all_tasks() if info.name == section and info.config), None)
    return None if info is None else info.load_config()().model_dump(mode="json", exclude_none=True)


def task_section(recipe: Any, task: str) -> Any:
    """The recipe's own section for `task` (None when absent or the task has none)."""
    return getattr(recipe, task, None)


# ---------------------------------------------------------------- loading
def load_recipe(path: str | Path, overrides: Iterable[str] = ()) -> Recipe:
    """Read, override and validate a recipe; relative data paths are resolved
    against the recipe file's folder."""
    path = Path(path)
    raw = read_yaml_mapping(path, what="recipe")
    for item in overrides:
        apply_override(raw, item)
    return validate_recipe(raw, base_dir=path.resolve().parent, source=str(path))


def read_yaml_mapping(path: Path, *, what: str) -> dict[str, Any]:
    if not path.exists():
        raise RecipeError(f"{path}: no such {what} file")
    if path.is_dir():
        raise RecipeError(f"{path}: is a directory, expected a YAML {what} file")
    try:
        raw = yamlsafe.load(yamlsafe.read_text(path, what=what), where=str(path))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RecipeError(f"{path}: invalid YAML{where}: {problem}") from None
    except UnicodeDecodeError:
        raise RecipeError(f"{path}: not a text file") from None
    if raw is None:
        raise RecipeError(f"{path}: {what} file is empty")
    if not isinstance(raw, dict):
        raise RecipeError(f"{path}: top level must be a mapping of keys, got a {_type_name(raw)}")
    return raw


def apply_override(raw: dict[str, Any], item: str) -> None:
    """Apply one `a.b.c=value` override in place; the value is parsed as YAML."""
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise RecipeError(f"--set {item!r}: expected KEY=VALUE with a dotted key, e.g. train.epochs=1")
    try:
        value = yamlsafe.load(text, where=f"--set {key}") if text.strip() else None
    except yaml.YAMLError:
        raise RecipeError(f"--set {key}: cannot parse value {text!r}") from None
    node = raw
    parts = key.split(".")
    for depth, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            where = ".".join(parts[: depth + 1])
            raise RecipeError(f"--set {key}: {where} is a {_type_name(child)}, not a mapping")
        node = child
    node[parts[-1]] = value


def validate_recipe(raw: dict[str, Any], *, base_dir: Path | None = None, source: str = "recipe") -> Recipe:
    try:
        recipe = Recipe.model_validate(raw)
    except ValidationError as exc:
        raise RecipeError(_first_problem(exc, raw)) from None
    _check_datasets(recipe)
    if base_dir is not None:
        recipe = _resolve_paths(recipe, base_dir)
    return recipe


def _check_datasets(recipe: Recipe) -> None:
    """Each dataset's format must exist, suit the task and have its required keys."""
    from edgecv.data.formats import check_spec  # TensorFlow-free

    for split in ("train", "val", "test"):
        spec = getattr(recipe.data, split)
        if spec is not None:
            check_spec(spec, recipe.task, where=f"data.{split}")


def _resolve_paths(recipe: Recipe, base_dir: Path) -> Recipe:
    """Make dataset paths absolute and check that they exist."""
    data = recipe.data
    updates: dict[str, Any] = {}
    for split in ("train", "val", "test"):
        spec: DatasetSpec | None = getattr(data, split)
        if spec is None:
            continue
        fixed = {}
        for key in ("path", "images", "annotations", "masks"):
            value: Path | None = getattr(spec, key)
            if value is None:
                continue
            full = (base_dir / value.expanduser()).resolve()
            if not full.exists():
                raise RecipeError(f"data.{split}.{key}: no such file or directory: {full}")
            fixed[key] = full
        updates[split] = spec.model_copy(update=fixed)
    model_update = {}
    if recipe.model.init_from is not None:
        full = (base_dir / recipe.model.init_from.expanduser()).resolve()
        if not full.exists():
            raise RecipeError(f"model.init_from: no such file or directory: {full}")
        model_update["init_from"] = full
    weights = recipe.model.weights
    if weights is not None and weights != "imagenet":    # a weights file, relative to the recipe
        full = (base_dir / Path(weights).expanduser()).resolve()
        if not full.is_file():
            raise RecipeError(f"model.weights: expected 'imagenet' or a weights file; no such file: {full}")
        model_update["weights"] = str(full)
    return recipe.model_copy(update={
        "data": data.model_copy(update=updates),
        "model": recipe.model.model_copy(update=model_update),
    })


def _first_problem(exc: ValidationError, raw: dict[str, Any]) -> str:
    """Turn pydantic's report into one line: `key.path: what is wrong (got X)`."""
    error = exc.errors(include_url=False)[0]
    loc = tuple(str(part) for part in error["loc"])
    ctx_error = (error.get("ctx") or {}).get("error")
    if isinstance(ctx_error, KeyProblem):
        return f"{'.'.join(ctx_error.loc)}: {ctx_error.message}"
    path = ".".join(loc) or "recipe"
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = _fields_at(loc[:-1])
        return f"{path}: unknown key{suggest(loc[-1], allowed)}"
    if kind == "missing":
        return f"{path}: required key is missing"
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    if kind == "literal_error":
        got = error.get("input")
        choices = re.findall(r"'([^']*)'", message)
        return f"{path}: {message}, got {got!r}{suggest(str(got), choices)}"
    got = error.get("input")
    # A validator's own message may already show the value ("..., got 'über run'").
    already = f"got {got!r}" in message
    shown = "" if already or (isinstance(got, (dict, list)) and kind.startswith("value")) \
        else f" (got {_short(got)})"
    return f"{path}: {message}{shown}"


def _fields_at(loc: tuple[str, ...]) -> list[str]:
    """Field names of the schema section at a key path (for suggestions)."""
    model: Any = Recipe
    for part in loc:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        model = _section_type(field.annotation)
        if model is None:
            return []
    return list(getattr(model, "model_fields", {}))


def _section_type(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _type_name(value: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(type(value), type(value).__name__)


def dump_recipe(recipe: Recipe) -> str:
    return yaml.safe_dump(recipe.to_dict(), sort_keys=False)
