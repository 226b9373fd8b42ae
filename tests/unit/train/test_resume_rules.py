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


def test_detection_export_switch_may_change_on_resume_other_detection_keys_may_not(tmp_path):
    """detection.export (in-graph NMS, its thresholds) is read only at export: switching it on
    for --resume keeps the training digest and passes the resume check; a loss weight does not."""
    import pytest
    import yaml

    from edgecv.errors import EdgecvError
    from edgecv.resume import check_resumable, is_resume_safe

    det = {**BASE, "task": "detection", "data": {"train": {"format": "synthetic_shapes", "samples": 8}},
           "model": {"arch": "tiny_yolo_v3", "alpha": 0.25, "input_shape": [64, 64, 3]},
           "export": {"formats": ["float32"]}}
    plain = validate_recipe(det)
    nms = validate_recipe({**det, "detection": {"export": {"postprocess": "nms", "max_detections": 5}}})
    heavier = validate_recipe({**det, "detection": {"lambda_obj": 2.0}})
    assert nms.training_digest() == plain.training_digest()
    assert heavier.training_digest() != plain.training_digest()
    assert is_resume_safe("detection.export.postprocess") and not is_resume_safe("detection.lambda_obj")
    assert not is_resume_safe("exported")

    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(plain.to_dict()))
    check_resumable(tmp_path, nms)                       # no error
    with pytest.raises(EdgecvError, match=r"differs .* in detection.lambda_obj \(1.0 -> 2.0\)"):
        check_resumable(tmp_path, heavier)
