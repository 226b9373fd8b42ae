"""A model and its data must agree before any training or scoring: classes first.

`model.num_classes: 3` on 5-class data used to train (labels 3 and 4 outside the softmax),
export, and score a silent 0.20; on 2-class data it ended in a traceback at export time.
A separate data.val / data.test with other classes than data.train silently scored
labels that meant different things. Each is a user error, reported as one line naming
the keys, before the run folder holds anything but the recipe.
"""
from __future__ import annotations

from typing import Any, Optional

from edgecv.errors import RecipeError

SHOWN = 6   # class names quoted in a message


class MismatchError(RecipeError):
    """A model and its data disagree (classes, task, shapes)."""


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:SHOWN])
    return f"[{shown}{', ...' if len(names) > SHOWN else ''}]"


def check_classes(recipe: Any, train_set: Any, others: dict[str, Any]) -> None:
    """model.num_classes (when given) must equal the training data's class count, and every
    other split (`{"data.val": dataset, ...}`) must have the training data's classes."""
    names = list(train_set.class_names)
    for where, dataset in others.items():
        if dataset is None or getattr(dataset, "class_names", None) is None:
            continue
        theirs = list(dataset.class_names)
        if theirs != names:
            raise MismatchError(f"{where}: has {len(theirs)} classes {_names(theirs)} but data.train has "
                                f"{len(names)} {_names(names)}; give both the same `classes:` list")
    wanted: Optional[int] = recipe.model.num_classes
    if wanted is not None and wanted != len(names):
        note = " (the first, background, included)" if recipe.task == "segmentation" else ""
        raise MismatchError(f"model.num_classes: {wanted}, but data.train has {len(names)} classes"
                            f"{note} {_names(names)}; remove model.num_classes (it defaults to the "
                            f"data's) or make it {len(names)}")
