"""Model cards: every registered model has one, and a detector's output grids read from its
card equal the grids of the built model (so tasks never build a model to learn them)."""
from __future__ import annotations

import pytest

from edgecv.models import list_models, model_card, model_info
from edgecv.tasks import task_names

DETECTORS = [name for name in list_models() if model_info(name)["task"] == "detection"]


@pytest.mark.parametrize("name", list_models())
def test_every_model_has_a_typed_card(name):
    card = model_card(name)
    assert card.name == name
    assert card.task in task_names()
    assert len(card.input_shape) == 3 and card.input_shape == tuple(model_info(name)["input_shape"])


@pytest.mark.parametrize("name", DETECTORS)
@pytest.mark.parametrize("backbone", ["darknet", "mobilenet_v2"])
def test_detector_card_grids_match_the_built_model(name, backbone):
    import tf_keras as keras

    from edgecv.models import create_model

    shape = (64, 96, 3)
    model = create_model(name, input_shape=shape, num_classes=3, backbone=backbone, alpha=0.35)
    built = tuple((int(o.shape[1]), int(o.shape[2])) for o in model.outputs)
    assert model_card(name).output_grids(shape) == built
    keras.backend.clear_session()


def test_detection_task_reads_grids_from_the_card_without_building(monkeypatch):
    from edgecv import models
    from edgecv.recipe import validate_recipe
    from edgecv.tasks import get_task

    recipe = validate_recipe({
        "name": "t", "task": "detection",
        "model": {"arch": "tiny_yolo_v3", "input_shape": [64, 96, 3], "num_classes": 3},
        "data": {"train": {"format": "synthetic_shapes", "samples": 8}},
        "train": {"epochs": 1}})

    def no_build(*args, **kwargs):
        raise AssertionError("the task built a model to read its grids")

    monkeypatch.setattr(models, "create_model", no_build)
    task = get_task("detection", recipe)
    assert task._grids() == ((2, 3), (4, 6))
