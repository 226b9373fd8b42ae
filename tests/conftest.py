"""Shared, expensive fixtures: built once per test session."""
from __future__ import annotations

import os

import pytest

import edgecv  # noqa: F401  (sets TF_USE_LEGACY_KERAS before any test imports TensorFlow)

from tests.helpers import REPO, TINY_QUICKSTART, invoke_cli  # noqa: E402,F401  (shared constants)


@pytest.fixture(scope="session")
def quickstart_run(tmp_path_factory):
    """Run the shrunken quickstart once through the CLI; yield (exit code, output, run dir)."""
    run_dir = tmp_path_factory.mktemp("quickstart") / "run"
    result = invoke_cli(["train", REPO / "recipes" / "quickstart.yaml", "--out", run_dir, *TINY_QUICKSTART])
    return result.exit_code, result.output, run_dir


@pytest.fixture(scope="session")
def coco_detector_run(tmp_path_factory):
    """`edgecv train` once on the tiny COCO detection set (tests/detection_data.py), int8
    export; yields (click result, run dir, recipe dict)."""
    import yaml

    from tests.detection_data import add_damage, coco_recipe, write_coco

    root = tmp_path_factory.mktemp("coco_det")
    images, annotations = write_coco(root / "data")
    add_damage(images, annotations)
    recipe = coco_recipe(images, annotations)
    path = root / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    run_dir = root / "run"
    return invoke_cli(["train", path, "--out", run_dir]), run_dir, recipe


@pytest.fixture(scope="session")
def nms_detector_files(coco_detector_run, tmp_path_factory):
    """The trained detector re-exported by `edgecv export RUN_DIR --recipe` with the recipe
    switch `detection.export.postprocess: nms`; yields ({format: path}, the run's eval.npz)."""
    import yaml

    from tests.detection_data import IN_GRAPH_NMS

    _, run_dir, recipe = coco_detector_run
    root = tmp_path_factory.mktemp("coco_det_nms")
    nms = dict(recipe, detection={**recipe["detection"], "export": IN_GRAPH_NMS},
               export={"formats": ["float32", "float16"]})
    path = root / "recipe_nms.yaml"
    path.write_text(yaml.safe_dump(nms))
    result = invoke_cli(["export", run_dir, "--recipe", path, "--out", root / "export"])
    assert result.exit_code == 0, result.output
    files = {f: next((root / "export").glob(f"*_{f}.tflite")) for f in nms["export"]["formats"]}
    return files, run_dir / "eval.npz"


@pytest.fixture(autouse=True, scope="session")
def _quiet_tensorflow():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    yield
