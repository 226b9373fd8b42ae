"""Contract tests driven by the task table: every registered task gets the same checks, and
classification is tested as a task (loss, score) like the others."""
from __future__ import annotations

import numpy as np
import pytest

from edgecv.data.formats import FORMATS
from edgecv.data.targets import TARGETS, target_kind
from edgecv.tasks import Task, get_task, task_info, task_names

TASK_NAMES = task_names()


@pytest.mark.parametrize("name", TASK_NAMES)
def test_every_task_is_a_configured_task_object(name):
    task = get_task(name)
    assert isinstance(task, Task)
    assert task.name == name
    assert task.mode in ("max", "min") and task.monitor
    # The base-class defaults every workflow hook relies on exist on every task.
    for hook in ("metrics", "prepare", "adapt_to_data", "export_metadata", "write_examples"):
        assert callable(getattr(task, hook))
    assert target_kind(name) is TARGETS[task_info(name).target]


@pytest.mark.parametrize("name", TASK_NAMES)
def test_every_task_is_in_the_recipe_schema_and_the_cli(name):
    from edgecv.cli.data import check_command
    from edgecv.recipe import TASKS, Recipe

    assert name in TASKS
    config = task_info(name).load_config()
    if config is not None:
        assert name in Recipe.model_fields   # its own section, under its name
        config()                             # defaults alone are a valid section
    choices = next(p for p in check_command.params if p.name == "task").type.choices
    assert name in choices


@pytest.mark.parametrize("name", TASK_NAMES)
def test_every_task_reads_each_format_of_its_target_kind(name):
    readable = [fmt.name for fmt in (FORMATS.get(n) for n in FORMATS.names())
                if task_info(name).target in fmt.targets]
    assert readable, f"no dataset format reads {task_info(name).target} targets"
    assert "synthetic_shapes" in readable


@pytest.mark.parametrize("name", TASK_NAMES)
def test_every_task_round_trips_its_targets_through_the_eval_npz(name, tmp_path):
    from edgecv.bench.evalset import read_eval_set, write_eval_set
    from edgecv.data import eval_arrays, load_dataset

    ds = load_dataset({"format": "synthetic_shapes", "samples": 6, "seed": 3}, task=name)
    x, targets = eval_arrays(ds, input_shape=(32, 32, 3))
    path = write_eval_set(tmp_path / "eval.npz", x_uint8=x, task=name, targets=targets,
                          class_names=ds.class_names)
    back = read_eval_set(path)
    assert back.task == name and len(back) == 6
    if task_info(name).target == "boxes":
        for (b1, c1), (b2, c2) in zip(targets, back.targets):
            np.testing.assert_array_equal(b1, b2)
            np.testing.assert_array_equal(c1, c2)
    else:
        np.testing.assert_array_equal(np.asarray(targets), np.asarray(back.targets))


def test_classification_scores_top1_top5_and_confusion():
    task = get_task("classification")
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.5, 0.4, 0.1], [0.2, 0.5, 0.3]], np.float32)
    labels = np.array([0, 1, 1, 1])
    result = task.score([probs], labels, ["a", "b", "c"])
    assert result["metric"] == "top1"
    assert result["value"] == pytest.approx(0.5)      # rows 0 and 3 right
    assert result["top5"] == pytest.approx(1.0)       # 3 classes: top-5 holds every class
    assert result["confusion"] == [[1, 0, 0], [1, 1, 1], [0, 0, 0]]
    assert result["samples"] == 4


def test_classification_loss_with_label_smoothing_matches_the_formula():
    import types

    task = get_task("classification")
    recipe = types.SimpleNamespace(train=types.SimpleNamespace(label_smoothing=0.1))
    probs = np.array([[0.7, 0.2, 0.1]], np.float32)
    loss = float(np.mean(task.loss(recipe)(np.array([0]), probs)))
    smoothed = np.array([0.9 + 0.1 / 3, 0.1 / 3, 0.1 / 3])
    assert loss == pytest.approx(float(-(smoothed * np.log(probs[0])).sum()), rel=1e-5)
    plain = float(np.mean(task.loss(types.SimpleNamespace(train=types.SimpleNamespace(label_smoothing=0.0)))(
        np.array([0]), probs)))
    assert plain == pytest.approx(-np.log(0.7), rel=1e-5)
