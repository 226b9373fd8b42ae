"""Where an eval set comes from: a dataset (the run's val/test split), a dataset spec YAML
(`edgecv bench --data spec.yaml`) or a ready eval .npz. The npz format is `evalset.py`."""
from __future__ import annotations

from pathlib import Path

from edgecv.errors import BenchError


def write_run_eval_set(run_dir, dataset, *, task: str, input_shape, limit=None, resize="stretch") -> Path:
    """Write run_dir/eval.npz from a dataset (edgecv.data.eval_arrays) and return its path."""
    from edgecv.bench.evalset import write_eval_set
    from edgecv.data import eval_arrays
    from edgecv.memory import check_eval_fits

    check_eval_fits(min(len(dataset), limit or len(dataset)), input_shape)  # before allocating
    x, targets = eval_arrays(dataset, input_shape=tuple(input_shape), limit=limit, resize=resize)
    return write_eval_set(Path(run_dir) / "eval.npz", x_uint8=x, task=task, targets=targets,
                          class_names=list(dataset.class_names))


def rebuild_run_eval_set(run_dir, recipe, echo) -> Path:
    """run_dir/eval.npz from the recipe's validation split (decoding only val), as
    `edgecv train` would have written it."""
    from edgecv.data.splits import load_splits

    echo(f"bench: writing {Path(run_dir) / 'eval.npz'} from the recipe's validation data")
    _, val_set = load_splits(recipe.data, task=recipe.task, channels=recipe.model.input_shape[-1],
                             seed=recipe.seed, echo=echo, check_train=False)
    return write_run_eval_set(run_dir, val_set, task=recipe.task,
                              input_shape=recipe.model.input_shape, limit=recipe.bench.samples,
                              resize=recipe.data.resize)


def _eval_from_spec(spec_path: Path, out_path: Path, *, task: str | None, input_shape,
                    resize: str = "stretch") -> Path:
    """A dataset spec YAML (`{format: folder, path: ...}`) -> an eval npz at out_path."""
    import yaml

    from edgecv.bench.evalset import write_eval_set
    from edgecv.data import eval_arrays, load_dataset

    if task is None:
        raise BenchError(f"--data {spec_path}: a dataset spec needs the task; pass --task or "
                         "bench a model exported by edgecv (its metadata names the task)")
    from edgecv import yamlsafe

    try:  # the same limits as recipes (alias bombs, file size), reported as --data errors
        spec = yamlsafe.load(yamlsafe.read_text(spec_path, what="dataset spec", error=BenchError),
                             where=f"--data {spec_path}", error=BenchError)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise BenchError(f"--data {spec_path}: cannot read dataset spec ({exc})") from None
    if not isinstance(spec, dict) or "format" not in spec:
        raise BenchError(f"--data {spec_path}: expected a dataset spec mapping with a 'format' key")
    dataset = load_dataset(spec, task=task, base_dir=spec_path.parent)
    from edgecv.memory import check_eval_fits

    check_eval_fits(len(dataset), input_shape)  # [N,H,W,C] uint8 is built in memory next
    x, targets = eval_arrays(dataset, input_shape=tuple(input_shape), resize=resize)
    return write_eval_set(out_path, x_uint8=x, task=task, targets=targets,
                          class_names=list(dataset.class_names), source=str(spec_path))


def _model_facts(tflite: Path) -> tuple[str | None, list[int], str]:
    """(task from edgecv metadata or None, input [H, W, C], resize mode) for building an eval set."""
    task, resize = None, "stretch"
    try:
        from edgecv.export.metadata import read_metadata
        meta = read_metadata(tflite) or {}
        task = meta.get("task")
        resize = meta.get("resize") or resize
    except ImportError:
        pass
    from edgecv.bench.runner import RunnerError, make_interpreter
    try:
        detail = make_interpreter(tflite, delegate="none").get_input_details()[0]
    except RunnerError as exc:
        raise BenchError(str(exc)) from None
    return task, [int(s) for s in detail["shape"][1:]], resize


def resolve_eval(data: Path | None, work_dir: Path, *, tflite: Path, task: str | None) -> Path | None:
    """--data as given: an eval .npz is used as is; a dataset spec YAML is converted."""
    if data is None:
        return None
    if not data.is_file():
        raise BenchError(f"--data {data}: file not found")
    if data.suffix == ".npz":
        return data
    if data.suffix in (".yaml", ".yml"):
        meta_task, shape, resize = _model_facts(tflite)
        return _eval_from_spec(data, work_dir / "eval.npz", task=task or meta_task, input_shape=shape,
                               resize=resize)
    raise BenchError(f"--data {data}: expected an eval .npz or a dataset spec .yaml")


__all__ = ["rebuild_run_eval_set", "resolve_eval", "write_run_eval_set"]
