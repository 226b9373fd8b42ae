"""A damaged dataset is reported item by item by `edgecv data check` and trained over."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

import edgecv  # noqa: F401
from edgecv.cli import main
from edgecv.data import load_dataset, make_pipeline


def _img(value: int, size=(24, 24)) -> np.ndarray:
    image = np.full((*size, 3), value, np.uint8)
    image[4:12, 4:12] = 255 - value
    return image


@pytest.fixture(scope="module")
def damaged_folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("damaged_folder")
    for name, value in (("dark", 30), ("light", 220)):
        (root / name).mkdir()
        for i in range(6):
            cv2.imwrite(str(root / name / f"ok{i}.png"), _img(value))
    good_jpeg = cv2.imencode(".jpg", _img(30))[1].tobytes()
    (root / "dark" / "truncated.jpg").write_bytes(good_jpeg[: len(good_jpeg) // 2])
    (root / "dark" / "empty.png").write_bytes(b"")
    (root / "light" / "notes.jpg").write_text("this is not an image\n")
    # Passes the cheap probe (JPEG start and end markers) but cannot be decoded.
    (root / "light" / "garbage.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00garbage" * 20 + b"\xff\xd9")
    return root


def _spec_file(tmp_path: Path, spec: dict) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_check_reports_each_damaged_image(damaged_folder, tmp_path, capsys):
    code = main(["data", "check", str(_spec_file(tmp_path, {"format": "folder", "path": str(damaged_folder)}))])
    out, err = capsys.readouterr()
    assert code == 2
    assert "4 problem(s) found" in err
    lines = out.splitlines()

    def line_for(name):
        return next(line for line in lines if name in line)

    assert "truncated JPEG" in line_for("truncated.jpg")
    assert "zero-byte file" in line_for("empty.png")
    assert "not an image file" in line_for("notes.jpg")
    assert "cannot decode image" in line_for("garbage.jpg")
    assert "classes (2): dark 6, light 7" in out
    assert "image sizes: 24x24 (12)" in out


def test_training_skips_and_counts_bad_samples(damaged_folder):
    import tf_keras as keras

    ds = load_dataset({"format": "folder", "path": str(damaged_folder)}, task="classification")
    assert ds.skipped == 3          # found while indexing; garbage.jpg is dropped by the pipeline
    assert len(ds) == 13
    data = make_pipeline(ds, input_shape=(16, 16, 3), batch_size=4, training=True,
                         augment={"flip": True, "crop": 0.2})
    seen = sum(int(x.shape[0]) for x, _ in data)
    assert seen == 12
    model = keras.Sequential([keras.layers.Input((16, 16, 3)), keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    history = model.fit(data, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and np.isfinite(history.history["loss"]).all()


def test_check_reports_detection_problems(tmp_path, capsys):
    root = tmp_path / "yolo"
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    (root / "classes.txt").write_text("cat\ndog\n")
    rows = {"good": "0 0.5 0.5 0.2 0.2", "outside": "1 0.95 0.5 0.3 0.2", "unknown": "5 0.5 0.5 0.2 0.2",
            "flat": "0 0.5 0.5 0.0 0.2", "unlabelled": None}
    for stem, row in rows.items():
        cv2.imwrite(str(root / "images" / f"{stem}.png"), _img(100))
        if row is not None:
            (root / "labels" / f"{stem}.txt").write_text(row + "\n")
    (root / "labels" / "orphan.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    code = main(["data", "check", str(_spec_file(tmp_path, {"format": "yolo", "path": str(root)}))])
    out = capsys.readouterr().out
    assert code == 2
    problems = {line.split(": ", 1)[0].strip(): line.split(": ", 1)[1] for line in out.splitlines()
                if line.startswith("    ")}
    assert "outside the image" in problems[str(root / "labels" / "outside.txt")]
    assert "unknown class id 5" in problems[str(root / "labels" / "unknown.txt")]
    assert "degenerate box" in problems[str(root / "labels" / "flat.txt")]
    assert "no label file" in problems[str(root / "images" / "unlabelled.png")]
    assert "label file without an image" in problems[str(root / "labels" / "orphan.txt")]
    assert "classes (2): cat 1, dog 0" in out


def test_check_reports_mask_problems(tmp_path, capsys):
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    for stem in ("good", "small", "values"):
        cv2.imwrite(str(images / f"{stem}.png"), _img(100))
    cv2.imwrite(str(masks / "good.png"), np.ones((24, 24), np.uint8))
    cv2.imwrite(str(masks / "small.png"), np.ones((12, 24), np.uint8))
    cv2.imwrite(str(masks / "values.png"), np.full((24, 24), 7, np.uint8))
    spec = {"format": "masks", "images": str(images), "masks": str(masks), "classes": ["background", "thing"]}
    code = main(["data", "check", str(_spec_file(tmp_path, spec))])
    out = capsys.readouterr().out
    assert code == 2
    assert f"{masks / 'small.png'}: mask is 24x12 but its image is 24x24" in out
    assert f"{masks / 'values.png'}: mask values go up to 7 but there are only 2 classes" in out
    # The pipeline drops the out-of-range mask instead of feeding it to the loss.
    ds = load_dataset(spec, task="segmentation")
    batches = list(make_pipeline(ds, input_shape=(24, 24, 3), batch_size=8, training=False))
    assert sum(int(y.shape[0]) for _, y in batches) == 1


def test_clean_dataset_exits_zero(tmp_path, capsys):
    spec = _spec_file(tmp_path, {"format": "synthetic_shapes", "samples": 10, "task": "detection"})
    assert main(["data", "check", str(spec)]) == 0
    assert "all clean" in capsys.readouterr().out


def test_check_takes_a_recipe(tmp_path, capsys):
    recipe = {"name": "r", "task": "classification", "model": {"arch": "mobilenet_v2", "input_shape": [32, 32, 3]},
              "data": {"train": {"format": "synthetic_shapes", "samples": 20},
                       "val": {"format": "synthetic_shapes", "samples": 10, "seed": 1}},
              "train": {"epochs": 1}}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    assert main(["data", "check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "data.train: synthetic_shapes(seed=0)" in out and "data.val: synthetic_shapes(seed=1)" in out


def test_voc_unknown_name_and_box_outside_are_reported(tmp_path):
    from edgecv.data.check import check_dataset

    (tmp_path / "JPEGImages").mkdir()
    (tmp_path / "Annotations").mkdir()
    objects = {"good": ("cat", 2, 2, 10, 10), "stranger": ("zebra", 2, 2, 10, 10), "wide": ("cat", 2, 2, 40, 10)}
    for stem, (name, x1, y1, x2, y2) in objects.items():
        cv2.imwrite(str(tmp_path / "JPEGImages" / f"{stem}.jpg"), _img(80))
        (tmp_path / "Annotations" / f"{stem}.xml").write_text(
            f"<annotation><size><width>24</width><height>24</height></size><object><name>{name}</name>"
            f"<bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox>"
            f"</object></annotation>")
    ds = load_dataset({"format": "voc", "path": str(tmp_path), "classes": ["cat"]}, task="detection")
    report = check_dataset(ds, "data.train")
    found = {Path(p.file).name: p.message for p in report.problems}
    assert found == {"stranger.xml": "unknown class 'zebra' (classes: cat)",
                     "wide.xml": "object 'cat': box [1, 1, 40, 10] lies outside the 24x24 image"}
    assert len(ds) == 1 and ds.skipped == 2
