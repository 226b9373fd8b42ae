"""A recipe's datasets as decoded splits: what `edgecv train` trains on and `edgecv bench`
rebuilds an eval set from.

Takes the recipe's `data:` section (anything with `train`, `val`, `val_split`) and plain
values, not the Recipe: the data layer must not import the layers above it.
"""
from __future__ import annotations

from typing import Any, Callable

Echo = Callable[[str], None]
SHOWN_PROBLEMS = 10     # bad samples named at the start of a run; `edgecv data check` names all


def load_splits(data: Any, *, task: str, channels: int, seed: int, echo: Echo = print,
                check_train: bool = True):
    """(train, val) datasets of a `data:` section (`holdout_classes`: val holds only those
    classes, train none of them). Each part is decoded once, after
    splitting (`edgecv bench` needs only val: check_train=False), so files that fail to
    decode become named, counted skips."""
    from edgecv.data import load_dataset, split_dataset
    from edgecv.data.dataset import hold_out_classes

    train_set = load_dataset(data.train, task=task)
    holdout = getattr(data, "holdout_classes", None)
    val_set = load_dataset(data.val, task=task) if data.val is not None else None
    if holdout:     # open set: val holds only classes training never sees
        train_set, val_set = hold_out_classes(train_set, val_set, list(holdout))
    elif val_set is None:
        train_set, val_set = split_dataset(train_set, data.val_split, seed=seed)
    if check_train:
        train_set = decodable(train_set, channels=channels)
    val_set = decodable(val_set, channels=channels)
    echo(f"data: {len(train_set)} train / {len(val_set)} val samples, "
         f"{len(train_set.class_names)} classes")
    echo_problems(list(train_set.problems) + list(val_set.problems), echo)
    return train_set, val_set


def load_decodable(spec: Any, *, task: str, channels: int, echo: Echo = print, holdout=None):
    """One dataset spec (e.g. the recipe's data.test), decoded once, its problems named.
    `holdout` (data.holdout_classes): keep only those classes (open-set scoring)."""
    from edgecv.data import load_dataset
    from edgecv.data.dataset import hold_out_classes

    dataset = load_dataset(spec, task=task)
    if holdout:
        _, dataset = hold_out_classes(dataset, dataset, list(holdout))
    dataset = decodable(dataset, channels=channels)
    echo_problems(dataset.problems, echo)
    return dataset


def decodable(dataset: Any, *, channels: int):
    """`dataset` without the samples that fail to decode (each added to its problems)."""
    from edgecv.data import drop_undecodable

    return drop_undecodable(dataset, channels=channels)


def echo_problems(problems: list, echo: Echo) -> None:
    for problem in problems[:SHOWN_PROBLEMS]:
        echo(f"data: {problem}")
    if len(problems) > SHOWN_PROBLEMS:
        echo(f"data: ... and {len(problems) - SHOWN_PROBLEMS} more; `edgecv data check` lists them all")


__all__ = ["load_splits", "load_decodable", "decodable", "echo_problems", "SHOWN_PROBLEMS"]
