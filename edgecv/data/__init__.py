"""Datasets: readers per format, tf.data pipelines, augmentation, checks.

See docs/ARCHITECTURE.md (`edgecv.data`). Importing this package is cheap: the
functions that need TensorFlow or OpenCV import them when called.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from edgecv.data.dataset import Dataset, Problem, split_dataset
from edgecv.data.formats import FORMATS, check_spec, spec_to_dict
from edgecv.errors import DataError, RecipeError

PATH_KEYS = ("path", "images", "annotations", "masks", "backgrounds")


def load_dataset(spec: Any, *, task: str, base_dir: Optional[str | Path] = None,
                 where: str = "data") -> Dataset:
    """Index the dataset a spec names (DatasetSpec or dict); pixels are decoded lazily later.

    Relative paths are resolved against `base_dir` (default: the working directory).
    """
    fmt = check_spec(spec, task, where=where)
    values = spec_to_dict(spec)
    if not hasattr(spec, "model_dump"):
        values = _validated(values, where)
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    for key in PATH_KEYS:
        if values.get(key) is not None:
            full = (base / Path(values[key]).expanduser()).resolve()
            if not full.exists():
                raise DataError(f"{where}.{key}: no such file or directory: {full}")
            values[key] = full
    from edgecv.data.limits import drop_oversized  # decompression bombs: named, skipped

    return drop_oversized(fmt.load_reader()(values, task), values.get("max_pixels"))


def _validated(values: dict, where: str) -> dict:
    """Type-check a plain dict spec with the recipe's DatasetSpec model."""
    from pydantic import ValidationError

    from edgecv.data.spec import DatasetSpec

    try:
        return spec_to_dict(DatasetSpec.model_validate(values))
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        key = ".".join(str(p) for p in error["loc"])
        raise RecipeError(f"{where}.{key}: {error['msg']} (got {error.get('input')!r})") from None


# `resize` is "stretch" or "letterbox" (recipe `data.resize`); training, calibration and
# evaluation must use the same one.
# `sampler` (e.g. edgecv.data.sampling.PKSampler) draws the training batches instead of a shuffle.
def make_pipeline(ds: Dataset, *, input_shape, batch_size: int, training: bool,
                  augment: Any = None, seed: int = 0, cache: bool = False, resize: str = "stretch",
                  sampler: Any = None):
    from edgecv.data.pipeline import make_pipeline as _make

    return _make(ds, input_shape=input_shape, batch_size=batch_size, training=training,
                 augment=augment, seed=seed, cache=cache, resize=resize, sampler=sampler)


def representative_dataset(ds: Dataset, *, input_shape, samples: int, seed: int = 0,
                           resize: str = "stretch"):
    from edgecv.data.pipeline import representative_dataset as _rep

    return _rep(ds, input_shape=input_shape, samples=samples, seed=seed, resize=resize)


def eval_arrays(ds: Dataset, *, input_shape, limit: Optional[int] = None, resize: str = "stretch"):
    from edgecv.data.pipeline import eval_arrays as _eval

    return _eval(ds, input_shape=input_shape, limit=limit, resize=resize)


def drop_undecodable(ds: Dataset, *, channels: int) -> Dataset:
    """Decode every file sample once; failures become named, counted skips (ds.problems)."""
    from edgecv.data.pipeline import drop_undecodable as _drop

    return _drop(ds, channels=channels)


__all__ = ["Dataset", "Problem", "FORMATS", "check_spec", "load_dataset", "split_dataset",
           "make_pipeline", "representative_dataset", "eval_arrays", "drop_undecodable"]
