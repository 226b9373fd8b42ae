"""A damaged dataset is reported item by item by `edgecv data check` and trained over."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

import edgecv  # noqa: F401
from edgecv.cli import main
from edgecv.data import drop_undecodable, eval_arrays, load_dataset, make_pipeline


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


def test_decode_failures_become_named_counted_skips(damaged_folder):
    ds = load_dataset({"format": "folder", "path": str(damaged_folder)}, task="classification")
    checked = drop_undecodable(ds, channels=3)
    assert (len(checked), checked.skipped) == (12, 4)
    garbage = next(p for p in checked.problems if p.file.endswith("garbage.jpg"))
    assert garbage.message.startswith("cannot decode: ") and garbage.skipped, garbage
    assert str(damaged_folder / "light" / "garbage.jpg") not in [ds.source.paths[i] for i in checked.indices]
    # Nothing left for the pipeline's safety net to drop.
    data = make_pipeline(checked, input_shape=(16, 16, 3), batch_size=4, training=False)
    assert sum(int(x.shape[0]) for x, _ in data) == 12


def test_train_reports_the_decode_skips(damaged_folder, tmp_path):
    from edgecv.data.splits import load_splits
    from edgecv.recipe import load_recipe

    def splits(recipe, echo, **kw):
        return load_splits(recipe.data, task=recipe.task, channels=recipe.model.input_shape[-1],
                           seed=recipe.seed, echo=echo, **kw)

    recipe_file = tmp_path / "r.yaml"
    recipe_file.write_text(yaml.safe_dump({
        "name": "damaged", "task": "classification",
        "model": {"arch": "mobilenet_v2", "alpha": 0.35, "input_shape": [16, 16, 3]},
        "data": {"train": {"format": "folder", "path": str(damaged_folder)}, "val_split": 0.25},
        "train": {"epochs": 1}}))
    lines = []
    train, val = splits(load_recipe(recipe_file), lines.append)
    assert len(train) + len(val) == 12 and train.skipped + val.skipped == 4
    assert any("garbage.jpg: cannot decode" in line for line in lines)
    # `edgecv bench` rebuilding the val split decodes only val; the split is the same.
    _, val_only = splits(load_recipe(recipe_file), lines.append, check_train=False)
    assert val_only.indices.tolist() == val.indices.tolist()


def test_palette_masks_are_read_as_class_ids_with_void(tmp_path, capsys):
    from PIL import Image

    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    cv2.imwrite(str(images / "a.png"), _img(100))
    ids = np.zeros((24, 24), np.uint8)
    ids[4:12, 4:12] = 2
    ids[0, :] = 255                            # VOC-style unlabelled border
    palette = Image.fromarray(ids, mode="P")
    palette.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0] + [224, 224, 192] * 253)   # ids 0..2, 255 cream
    palette.save(masks / "a.png")
    spec = {"format": "masks", "images": str(images), "masks": str(masks),
            "classes": ["background", "road", "car"]}
    assert main(["data", "check", str(_spec_file(tmp_path, spec))]) == 0
    ds = load_dataset(spec, task="segmentation")
    _, y = next(iter(make_pipeline(ds, input_shape=(24, 24, 3), batch_size=1, training=False)))
    np.testing.assert_array_equal(y.numpy()[0], ids)


def _coco_spec(tmp_path, images, annotations) -> dict:
    (tmp_path / "img").mkdir(exist_ok=True)
    for img in images:
        cv2.imwrite(str(tmp_path / "img" / img["file_name"]), np.zeros((20, 30, 3), np.uint8))  # 30 wide, 20 high
    (tmp_path / "instances.json").write_text(json.dumps(
        {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "cat"}]}))
    return {"format": "coco", "images": str(tmp_path / "img"), "annotations": str(tmp_path / "instances.json")}


def test_coco_segmentation_problems_are_reported(tmp_path, capsys):
    images = [{"id": i, "file_name": f"{i}.png", "width": 30, "height": 20} for i in range(1, 8)]
    images[3]["height"] = 40                               # the JSON disagrees with the file
    del images[6]["width"]
    square = [[2, 2, 10, 2, 10, 10, 2, 10]]
    annotations = [
        {"id": 1, "image_id": 1, "category_id": 1, "segmentation": square},
        {"id": 2, "image_id": 2, "category_id": 1, "segmentation": [[2, 2, 10, 2]]},
        {"id": 3, "image_id": 3, "category_id": 1, "segmentation": {"counts": [600], "size": [30, 20]}},
        {"id": 4, "image_id": 4, "category_id": 1, "segmentation": square},
        # A 2-point sliver beside a usable part: the sliver is left out, the object kept.
        {"id": 5, "image_id": 5, "category_id": 1, "segmentation": [[1, 1, 3, 3], *square]},
        {"id": 6, "image_id": 6, "category_id": 1, "segmentation": {"counts": [600], "size": ["h", "w"]}},
        {"id": 7, "image_id": 7, "category_id": 1, "segmentation": square},
    ]
    spec = _coco_spec(tmp_path, images, annotations)
    code = main(["data", "check", str(_spec_file(tmp_path, {**spec, "task": "segmentation"}))])
    out = capsys.readouterr().out
    img = tmp_path / "img"
    assert code == 2
    assert f"{img / '2.png'}: annotation 2: polygon needs x,y pairs of at least 3 points" in out
    assert f"{img / '3.png'}: annotation 3: RLE size [30, 20] is not the image's [height, width] [20, 30]" in out
    assert f"{img / '4.png'}: image id 4 is 30x20 but instances.json says 30x40" in out
    assert f"{img / '6.png'}: annotation 6: RLE size must be two integers, got ['h', 'w']" in out
    assert f"{img / '7.png'}: image id 7: instances.json gives no width/height" in out
    ds = load_dataset(spec, task="segmentation")
    assert [Path(ds.source.paths[i]).name for i in ds.indices] == ["1.png", "5.png"]
    _, masks = eval_arrays(ds, input_shape=(20, 30, 3))
    np.testing.assert_array_equal(masks[0], masks[1])        # the sliver painted nothing


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
    assert f"{masks / 'values.png'}: mask has values [7] beyond the 2 classes (0..1; 255 = unlabelled)" in out
    # The pipeline drops the out-of-range mask instead of feeding it to the loss.
    ds = load_dataset(spec, task="segmentation")
    batches = list(make_pipeline(ds, input_shape=(24, 24, 3), batch_size=8, training=False))
    assert sum(int(y.shape[0]) for _, y in batches) == 1
    # The decode pass names the mask at fault and counts it as skipped.
    checked = drop_undecodable(ds, channels=3)
    assert (len(checked), checked.skipped) == (1, ds.skipped + 1)
    assert str(checked.problems[-1]) == f"{masks / 'values.png'}: mask has values [7] beyond the 2 classes (0..1; 255 = unlabelled)"


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


def test_check_takes_set_overrides_for_a_spec_and_a_recipe(damaged_folder, tmp_path, capsys):
    """`edgecv data check --set` overrides a spec's keys (path=...) or a recipe's
    (data.train.path=...), as `edgecv train --set` does."""
    spec = _spec_file(tmp_path, {"format": "folder", "path": "no/such/folder"})
    assert main(["data", "check", str(spec), "--set", f"path={damaged_folder}"]) == 2
    assert "truncated.jpg" in capsys.readouterr().out          # the damaged folder was checked
    clean = tmp_path / "clean"
    for name, value in (("dark", 30), ("light", 220)):
        (clean / name).mkdir(parents=True)
        for i in range(3):
            cv2.imwrite(str(clean / name / f"ok{i}.png"), _img(value))
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({
        "name": "r", "task": "classification",
        "model": {"arch": "mobilenet_v2", "alpha": 0.35, "input_shape": [32, 32, 3]},
        "data": {"train": {"format": "folder", "path": str(damaged_folder)}}, "train": {"epochs": 1}}))
    assert main(["data", "check", str(recipe), "--set", f"data.train.path={clean}"]) == 0
    assert "all clean" in capsys.readouterr().out


def test_unreadable_class_folder_is_named_not_called_empty(tmp_path, capsys, block_listing):
    root = tmp_path / "data"
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        for i in range(3):
            cv2.imwrite(str(root / name / f"{i}.png"), _img(30))
    blocked = root / "b"
    block_listing(blocked)
    code = main(["data", "check", str(_spec_file(tmp_path, {"format": "folder", "path": str(root)}))])
    out = capsys.readouterr().out
    assert code == 2
    line = next(line for line in out.splitlines() if "cannot be read" in line)
    assert str(blocked) in line and "Permission denied" in line and "class 'b'" in line
    assert "no usable images" not in out          # not called empty: it could not be read
    assert "classes (2): a 3, b 0" in out
