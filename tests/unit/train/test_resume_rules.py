"""What --resume may change: export.* / bench.*, and stages added after the ones that ran."""
from __future__ import annotations

from edgecv.recipe import validate_recipe
from edgecv.resume import _stages_added_after

BASE = {"name": "r", "task": "classification", "model": {"arch": "mobilenet_v2", "alpha": 0.35,
        "input_shape": [32, 32, 3]}, "data": {"train": {"format": "synthetic_shapes", "samples": 8}},
        "train": {"epochs": 2}}


def _recipe(**sections):
    return validate_recipe({**BASE, **sections})


def test_training_digest_ignores_resume_safe_sections_and_stages_that_did_not_run():
    plain = _recipe()
    assert _recipe(bench={"runs": 3}).training_digest() == plain.training_digest()
    with_qat = _recipe(qat={"epochs": 1})
    assert with_qat.training_digest() != plain.training_digest()
    # Over just the stages the run started (train), the qat section does not count...
    assert with_qat.training_digest(stages={"train"}) == plain.training_digest()
    # ... but a changed train section always does.
    assert _recipe(train={"epochs": 3}, qat={"epochs": 1}).training_digest(stages={"train"}) \
        != plain.training_digest()


def test_only_stages_after_the_last_old_one_count_as_added():
    assert _stages_added_after({"train": {}}, {"train": {}, "qat": {}}) == {"qat"}
    assert _stages_added_after({"train": {}, "prune": {}}, {"train": {}, "prune": {}, "qat": {}}) == {"qat"}
    # A prune stage slipped in before a qat stage that already ran is not an addition.
    assert _stages_added_after({"train": {}, "qat": {}}, {"train": {}, "prune": {}, "qat": {}}) == set()
