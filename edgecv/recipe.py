"""Recipe schema, YAML loading and `--set a.b=value` overrides.

Every problem becomes a RecipeError whose message starts with the key path
(`train.learing_rate: unknown key; did you mean learning_rate?`).
"""
from __future__ import annotations

import hashlib
import inspect
import json
import re
from pathlib import Path
from typing import Any, Iterable, Literal, Optional, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from edgecv.bench.gates import GATES as _GATES
from edgecv.bench.gates import check_gate_names
from edgecv.bench.runner import DELEGATES, MAX_THREADS
from edgecv.data.normalize import RESIZE_MODES
from edgecv.errors import BenchError, RecipeError
from edgecv.export.formats import FORMATS as _FORMATS
from edgecv.registry import suggest

# Format, gate and delegate names come from the tables export/bench use (cheap,
# TensorFlow-free imports), so the schema never drifts from what they accept.
TASKS = ("classification", "detection", "segmentation")
EXPORT_FORMATS = tuple(_FORMATS)
GATES = tuple(_GATES)


class Strict(BaseModel):
    """Base for every recipe section: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- data
class AugmentSpec(Strict):
    flip: bool = False                                  # horizontal
    vflip: bool = False
    crop: float = Field(0.0, ge=0.0, lt=1.0)            # max fraction cut away by random resized crop
    rotate: float = Field(0.0, ge=0.0, le=180.0)        # max degrees either way
    shear: float = Field(0.0, ge=0.0, lt=1.0)
    color: float = Field(0.0, ge=0.0, le=1.0)           # brightness/contrast/saturation jitter strength
    pca_color: float = Field(0.0, ge=0.0, le=1.0)       # AlexNet-style PCA lighting noise


class DatasetSpec(Strict):
    """One dataset; which fields are required depends on `format` (see edgecv.data)."""

    format: str
    path: Optional[Path] = None
    images: Optional[Path] = None
    annotations: Optional[Path] = None
    masks: Optional[Path] = None
    split: Optional[str] = None
    classes: Optional[list[str]] = None
    samples: Optional[int] = Field(None, gt=0)
    seed: int = 0
    limit: Optional[int] = Field(None, gt=0)            # use at most this many samples
    max_pixels: Optional[int] = Field(None, gt=0)       # larger images are skipped (edgecv.data.limits)

    @field_validator("classes")
    @classmethod
    def _unique_classes(cls, value: Optional[list[str]]) -> Optional[list[str]]:
        if value is not None:
            if not value:
                raise ValueError("must name at least one class")
            dupes = sorted({c for c in value if value.count(c) > 1})
            if dupes:
                raise ValueError(f"duplicate class names {dupes}")
        return value


class DataSpec(Strict):
    train: DatasetSpec
    val: Optional[DatasetSpec] = None
    test: Optional[DatasetSpec] = None
    val_split: float = Field(0.2, gt=0.0, lt=1.0)       # used only when `val` is absent
    batch_size: int = Field(32, gt=0)
    augment: AugmentSpec = AugmentSpec()
    cache: bool = False
    # How images reach the model size: stretch each axis, or letterbox (keep the aspect
    # ratio, pad with grey). Stored in the export metadata: apps must do the same.
    resize: Literal[RESIZE_MODES] = "stretch"  # type: ignore[valid-type]


# ---------------------------------------------------------------- model
class ModelSpec(Strict):
    """`arch` plus the builder's own keyword arguments (checked against its signature)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    arch: str
    input_shape: tuple[int, int, int] = (224, 224, 3)
    num_classes: Optional[int] = Field(None, gt=0)      # default: from the data
    alpha: Optional[float] = Field(None, gt=0.0, le=4.0)
    bn_momentum: float = Field(0.9, gt=0.0, lt=1.0)     # tf_keras' 0.999 stays cold on short runs
    init_from: Optional[Path] = None
    freeze: Optional[str] = None                        # "backbone" or a layer name

    @field_validator("input_shape")
    @classmethod
    def _shape(cls, value: tuple[int, int, int]) -> tuple[int, int, int]:
        height, width, channels = value
        if height < 8 or width < 8:
            raise ValueError(f"height and width must be >= 8, got {list(value)}")
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        return value

    def builder_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the model builder (everything but edgecv's own keys)."""
        own = {"arch", "bn_momentum", "init_from", "freeze"}
        return {k: v for k, v in self.model_dump().items() if k not in own and v is not None}


# ---------------------------------------------------------------- stages
class StageSpec(Strict):
    epochs: int = Field(1, ge=1)
    optimizer: Literal["adam", "sgd", "adamw"] = "adam"
    learning_rate: float = Field(1e-3, gt=0.0, le=10.0)
    schedule: Literal["constant", "step", "cosine"] = "cosine"
    warmup_epochs: float = Field(0.0, ge=0.0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0)        # sgd only
    weight_decay: float = Field(0.0, ge=0.0)
    early_stopping: Optional[int] = Field(None, ge=1)   # patience in epochs
    steps_per_epoch: Optional[int] = Field(None, ge=1)


class TrainSpec(StageSpec):
    epochs: int = Field(10, ge=1)
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)


class PruneSpec(StageSpec):
    target_sparsity: float = Field(0.5, gt=0.0, lt=1.0)
    sparsity_schedule: Literal["polynomial", "constant"] = "polynomial"
    structured: bool = False                            # 2:4 sparsity
    learning_rate: float = Field(2e-4, gt=0.0, le=10.0)


class QatSpec(StageSpec):
    learning_rate: float = Field(1e-4, gt=0.0, le=10.0)


# ---------------------------------------------------------------- export / bench
class ExportSpec(Strict):
    formats: list[Literal[EXPORT_FORMATS]] = ["float32", "int8"]  # type: ignore[valid-type]
    calibration_samples: int = Field(200, gt=0)
    io_type: Literal["uint8", "int8"] = "uint8"

    @field_validator("formats")
    @classmethod
    def _non_empty(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("name at least one format")
        return list(dict.fromkeys(value))


class BenchSpec(Strict):
    runs: int = Field(50, gt=0)
    warmup: int = Field(5, ge=0)
    threads: Optional[int] = Field(None, gt=0, le=MAX_THREADS)
    delegate: Literal[DELEGATES] = "auto"  # type: ignore[valid-type]
    samples: Optional[int] = Field(None, gt=0)          # eval samples; default: the whole val set
    # {gate: limit} for every format, and {format: {gate: limit}} for one format only,
    # e.g. {max_accuracy_drop: 0.01, int8: {max_size_mb: 1.0}}.
    gates: dict[str, Union[float, dict[str, float]]] = {}

    @field_validator("gates")
    @classmethod
    def _known_gates(cls, value: dict) -> dict:
        try:
            check_gate_names(value)     # the same check `edgecv bench --gate` runs
        except BenchError as exc:
            raise ValueError(str(exc)) from None
        return value


# ---------------------------------------------------------------- task options
class DetectionSpec(Strict):
    """YOLO settings; anchors are (width, height) in input pixels, or `auto` (k-means)."""

    anchors: Union[Literal["auto"], list[tuple[float, float]]] = "auto"
    anchors_per_scale: int = Field(3, ge=1, le=9)
    lambda_coord: float = Field(1.0, ge=0.0)                 # BCE xy: 5 (the YOLOv1 value) trains slower
    lambda_noobj: float = Field(0.5, ge=0.0)
    lambda_obj: float = Field(1.0, ge=0.0)
    lambda_class: float = Field(1.0, ge=0.0)
    ignore_threshold: float = Field(0.5, gt=0.0, lt=1.0)
    score_threshold: float = Field(0.001, ge=0.0, lt=1.0)   # for mAP; apps raise it
    iou_threshold: float = Field(0.45, gt=0.0, le=1.0)
    max_detections: int = Field(100, gt=0)
    max_boxes: int = Field(20, gt=0)                         # padding per image in the pipeline


class SegmentationSpec(Strict):
    loss: Literal["ce", "dice", "ce+dice"] = "ce+dice"
    class_weights: Union[Literal["auto"], list[float], None] = None


class Recipe(Strict):
    name: str
    task: Literal[TASKS]  # type: ignore[valid-type]
    seed: int = 0
    model: ModelSpec
    data: DataSpec
    train: TrainSpec
    prune: Optional[PruneSpec] = None
    qat: Optional[QatSpec] = None
    export: ExportSpec = ExportSpec()
    bench: BenchSpec = BenchSpec()
    detection: Optional[DetectionSpec] = None       # task options; defaults when absent
    segmentation: Optional[SegmentationSpec] = None

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", value):
            raise ValueError(f"must be letters, digits, '_', '-' or '.', got {value!r}")
        return value

    @model_validator(mode="after")
    def _model_matches_registry(self) -> "Recipe":
        _check_builder(self.model)
        return self

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)

    def digest(self) -> str:
        """Short stable hash of the resolved recipe (for metadata and run identity)."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _check_builder(model: ModelSpec) -> None:
    """The arch must be registered and every extra key a parameter of its builder."""
    from edgecv.models import MODELS  # registering builders does not import TensorFlow

    if model.arch not in MODELS:
        raise _KeyProblem(("model", "arch"), f"unknown model {model.arch!r}{suggest(model.arch, MODELS.names())}")
    params = inspect.signature(MODELS.get(model.arch)).parameters
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    for key in model.builder_kwargs():
        if key not in params and not accepts_any:
            allowed = [p for p in params if p not in ("input_shape", "num_classes")]
            raise _KeyProblem(("model", key), f"{model.arch} has no argument {key!r}{suggest(key, allowed)}")


class _KeyProblem(ValueError):
    """A validation problem that knows its own key path."""

    def __init__(self, loc: tuple[str, ...], message: str):
        super().__init__(message)
        self.loc = loc
        self.message = message


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
    from edgecv import yamlsafe  # alias bombs, nesting and file-size limits

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
    from edgecv import yamlsafe

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
    return recipe.model_copy(update={
        "data": data.model_copy(update=updates),
        "model": recipe.model.model_copy(update=model_update),
    })


def _first_problem(exc: ValidationError, raw: dict[str, Any]) -> str:
    """Turn pydantic's report into one line: `key.path: what is wrong (got X)`."""
    error = exc.errors(include_url=False)[0]
    loc = tuple(str(part) for part in error["loc"])
    ctx_error = (error.get("ctx") or {}).get("error")
    if isinstance(ctx_error, _KeyProblem):
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
    shown = "" if isinstance(got, (dict, list)) and kind.startswith("value") else f" (got {_short(got)})"
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
