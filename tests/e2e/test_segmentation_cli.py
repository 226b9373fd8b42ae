"""`edgecv train` on a tiny generated image/mask folder dataset: U-Net -> QAT -> int8 -> report."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.helpers import invoke_cli

CLASSES = ["background", "disc", "box"]
SIZE = 32


def write_mask_folder(root: Path, count: int, seed: int) -> None:
    """images/NNN.png (RGB) + masks/NNN.png (8-bit index): a disc and/or a box on noise."""
    import cv2

    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir(parents=True)
    for index in range(count):
        image = rng.integers(0, 60, (SIZE, SIZE, 3), dtype=np.uint8)
        mask = np.zeros((SIZE, SIZE), np.uint8)
        centre = tuple(int(c) for c in rng.integers(8, SIZE - 8, 2))
        cv2.circle(mask, centre, int(rng.integers(4, 8)), 1, -1)
        if index % 2:
            x, y = (int(c) for c in rng.integers(0, SIZE - 10, 2))
            cv2.rectangle(mask, (x, y), (x + 9, y + 9), 2, -1)
        image[mask == 1] = (230, 40, 40)
        image[mask == 2] = (40, 220, 60)
        assert cv2.imwrite(str(root / "images" / f"{index:03d}.png"), image)
        assert cv2.imwrite(str(root / "masks" / f"{index:03d}.png"), mask)   # 2-D uint8 -> mode L


@pytest.fixture(scope="module")
def segmentation_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("segmentation")
    write_mask_folder(root / "train", 16, seed=0)
    write_mask_folder(root / "val", 8, seed=1)
    recipe = {
        "name": "tiny_unet",
        "task": "segmentation",
        "model": {"arch": "unet", "base_filters": 4, "depth": 2, "batch_norm": True,
                  "input_shape": [SIZE, SIZE, 3]},
        "data": {
            "train": {"format": "masks", "images": "train/images", "masks": "train/masks", "classes": CLASSES},
            "val": {"format": "masks", "images": "val/images", "masks": "val/masks", "classes": CLASSES},
            "batch_size": 8,
        },
        "train": {"epochs": 1, "learning_rate": 0.01},
        "qat": {"epochs": 1},
        "segmentation": {"loss": "ce+dice", "class_weights": "auto"},
        "export": {"formats": ["int8"], "calibration_samples": 8},   # one conversion keeps CI short
        "bench": {"runs": 2, "warmup": 1},
    }
    recipe_path = root / "tiny_unet.yaml"
    recipe_path.write_text(yaml.safe_dump(recipe))
    run_dir = root / "run"
    result = invoke_cli(["train", recipe_path, "--out", run_dir])
    return result.exit_code, result.output, run_dir


def test_train_writes_a_report_with_miou_fields(segmentation_run):
    exit_code, output, run_dir = segmentation_run
    assert exit_code == 0, output
    report = json.loads((run_dir / "report.json").read_text())
    entries = report["entries"] if isinstance(report, dict) else report
    by_format = {entry["format"]: entry for entry in entries}
    assert set(by_format) == {"int8"}
    accuracy = by_format["int8"]["accuracy"]
    assert accuracy["metric"] == "mIoU"
    assert 0.0 <= accuracy["value"] <= 1.0 and 0.0 <= accuracy["reference"] <= 1.0
    assert 0.0 <= accuracy["pixel_accuracy"] <= 1.0
    assert list(accuracy["per_class_iou"]) == CLASSES
    assert accuracy["delta"] == pytest.approx(accuracy["value"] - accuracy["reference"], abs=1e-6)
    # 8 val images of 32x32 pixels, all counted; mIoU is the mean of the defined per-class IoUs
    assert sum(map(sum, accuracy["confusion"])) == 8 * SIZE * SIZE
    defined = [v for v in accuracy["per_class_iou"].values() if v is not None]
    assert accuracy["value"] == pytest.approx(sum(defined) / len(defined))
    history = (run_dir / "train").rglob("history*.csv")
    assert any("val_mean_iou" in path.read_text().splitlines()[0] for path in history)


def test_int8_unet_runs_every_op_in_integers(segmentation_run):
    from edgecv.export.info import inspect_tflite

    _, _, run_dir = segmentation_run
    info = inspect_tflite(run_dir / "export" / "tiny_unet_int8.tflite", edgetpu=False)
    assert info["float_ops"] == [], info["float_ops"]
    assert info["inputs"][0]["dtype"] == "uint8" and info["outputs"][0]["dtype"] == "uint8"


def test_train_writes_overlays(segmentation_run):
    import cv2

    _, _, run_dir = segmentation_run
    pictures = sorted((run_dir / "overlays").glob("sample_*.png"))
    assert pictures, "the workflow wrote no overlay images"
    assert cv2.imread(str(pictures[0])) is not None
