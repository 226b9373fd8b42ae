"""Round trips: write small datasets in every format, read them back, compare exactly."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

import edgecv  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from edgecv.data import eval_arrays, load_dataset, make_pipeline, split_dataset
from edgecv.data.formats import FORMATS, check_spec
from edgecv.errors import DataError, RecipeError

SHAPE = (32, 32, 3)


def _solid(value: int, size=(32, 32), channels=3) -> np.ndarray:
    return np.full((*size, channels), value, np.uint8)


def _write_png(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)


# ---------------------------------------------------------------- spec checks (TF-free)
@pytest.mark.parametrize("spec, task, message", [
    ({"format": "foldr", "path": "x"}, "classification", "data.train.format: unknown dataset format 'foldr'; did you mean folder?"),
    ({"format": "folder"}, "classification", "data.train.path: required for format 'folder'"),
    ({"format": "voc", "path": "x"}, "classification", "format 'voc' does not support task 'classification'"),
    ({"format": "folder", "path": "x", "images": "y"}, "classification", "data.train.images: not used by format 'folder'"),
    ({"format": "idx", "path": "x", "split": "test"}, "classification", "data.train.split: must be one of train, t10k"),
    ({"format": "coco", "images": "x"}, "detection", "data.train.annotations: required for format 'coco'"),
    ({"format": "yolo", "pth": "x"}, "detection", "data.train.pth: unknown key; did you mean path?"),
])
def test_check_spec_names_the_key(spec, task, message):
    with pytest.raises(RecipeError) as info:
        check_spec(spec, task, where="data.train")
    assert message in str(info.value)


def test_format_table_lists_tasks_and_required_keys():
    assert FORMATS.entry("folder").info["required"] == ("path",)
    assert FORMATS.entry("coco").info["tasks"] == ("detection", "segmentation")
    assert set(FORMATS.names()) == {"folder", "idx", "digits", "csv", "coco", "voc", "yolo", "masks", "synthetic_shapes",
                                   "fashion_composite"}


def test_formats_module_imports_no_tensorflow_or_opencv():
    import subprocess
    import sys

    code = "import sys, edgecv.data.formats, edgecv.data; print('tensorflow' in sys.modules, 'cv2' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


# ---------------------------------------------------------------- classification
def test_folder_round_trip(tmp_path):
    values = {"cat": 40, "dog": 120, "owl": 200}
    for name, value in values.items():
        for i in range(3):
            _write_png(tmp_path / name / f"{i}.png", _solid(value))
    cv2.imwrite(str(tmp_path / "dog" / "big.jpg"), _solid(120, (48, 40)), [cv2.IMWRITE_JPEG_QUALITY, 100])
    ds = load_dataset({"format": "folder", "path": str(tmp_path)}, task="classification")
    assert ds.class_names == ["cat", "dog", "owl"]
    assert ds.class_counts() == {"cat": 3, "dog": 4, "owl": 3}
    assert ds.problems == []
    x, labels = eval_arrays(ds, input_shape=SHAPE)
    assert x.shape == (10, 32, 32, 3) and x.dtype == np.uint8
    expected = np.array([values[ds.class_names[k]] for k in labels])
    np.testing.assert_allclose(x.reshape(10, -1).mean(axis=1), expected, atol=2)
    # `classes:` fixes the order
    ds2 = load_dataset({"format": "folder", "path": str(tmp_path), "classes": ["owl", "cat", "dog"]},
                       task="classification")
    assert ds2.class_counts() == {"owl": 3, "cat": 3, "dog": 4}


def test_csv_round_trip_and_relative_paths(tmp_path):
    for i, value in enumerate([10, 90, 170, 250]):
        _write_png(tmp_path / "img" / f"{i}.png", _solid(value))
    (tmp_path / "list.csv").write_text("path,label\nimg/0.png,b\nimg/1.png,a\nimg/2.png,b\nimg/3.png,a\n")
    ds = load_dataset({"format": "csv", "path": "list.csv"}, task="classification", base_dir=tmp_path)
    assert ds.class_names == ["a", "b"]
    x, labels = eval_arrays(ds, input_shape=(32, 32, 1))
    assert labels.tolist() == [1, 0, 1, 0]
    assert x.shape == (4, 32, 32, 1)
    assert x[:, 0, 0, 0].tolist() == [10, 90, 170, 250]


def _write_idx(path: Path, array: np.ndarray, magic: int) -> None:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def test_idx_round_trip_grey_to_rgb_and_resize(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5, 9], np.uint8)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images, 2051)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels, 2049)
    ds = load_dataset({"format": "idx", "path": str(tmp_path), "split": "t10k"}, task="classification")
    assert len(ds) == 6 and ds.class_names == [str(i) for i in range(10)]
    x, y = eval_arrays(ds, input_shape=(28, 28, 3))
    assert y.tolist() == labels.tolist()
    np.testing.assert_array_equal(x[..., 0], images)      # same size: pixels untouched
    np.testing.assert_array_equal(x[..., 2], images)      # grey copied to R, G, B
    x64, _ = eval_arrays(ds, input_shape=(64, 64, 1))
    assert x64.shape == (6, 64, 64, 1)


def test_idx_reads_debian_fashion_mnist_when_installed():
    root = Path("/usr/share/datasets/fashion-mnist")
    if not (root / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip("apt-get install dataset-fashion-mnist")
    ds = load_dataset({"format": "idx", "path": str(root), "split": "t10k", "limit": 50}, task="classification")
    assert ds.class_names[0] == "T-shirt/top" and len(ds.class_names) == 10
    assert len(ds) == 50
    x, y = eval_arrays(ds, input_shape=(32, 32, 3))
    assert x.shape == (50, 32, 32, 3) and y.max() <= 9


def test_split_is_stratified_and_seeded():
    ds = load_dataset({"format": "synthetic_shapes", "samples": 100}, task="classification")
    train, val = split_dataset(ds, 0.2, seed=3)
    assert len(train) == 80 and len(val) == 20
    assert np.bincount(val.labels).tolist() == [4, 4, 4, 4, 4]
    assert not set(train.indices) & set(val.indices)
    assert split_dataset(ds, 0.2, seed=3)[1].indices.tolist() == val.indices.tolist()


# ---------------------------------------------------------------- detection
# Pixel boxes (x1, y1, x2, y2) in a 40x32 image, exclusive right/bottom edges.
BOXES = {"a": [(2, 3, 12, 20, "dog")], "b": [(0, 0, 40, 32, "cat"), (10, 5, 30, 25, "dog")]}
W, H = 40, 32


def _expected(ds):
    out = {}
    for k, path in enumerate(np.asarray(ds.source.paths)[ds.indices]):
        stem = Path(path).stem
        out[stem] = [(tuple(np.round(b * [W, H, W, H], 4)), ds.class_names[c])
                     for b, c in zip(ds.source.boxes[ds.indices[k]], ds.source.classes[ds.indices[k]]) if c >= 0]
    return out


def _truth():
    return {stem: [((float(x1), float(y1), float(x2), float(y2)), name) for x1, y1, x2, y2, name in objs]
            for stem, objs in BOXES.items()}


def test_voc_round_trip(tmp_path):
    for stem, objs in BOXES.items():
        _write_png(tmp_path / "JPEGImages" / f"{stem}.png", _solid(90, (H, W)))
        body = "".join(f"<object><name>{n}</name><bndbox><xmin>{x1 + 1}</xmin><ymin>{y1 + 1}</ymin>"
                       f"<xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>" for x1, y1, x2, y2, n in objs)
        xml = f"<annotation><filename>{stem}.png</filename><size><width>{W}</width><height>{H}</height>" \
              f"<depth>3</depth></size>{body}</annotation>"
        (tmp_path / "Annotations").mkdir(exist_ok=True)
        (tmp_path / "Annotations" / f"{stem}.xml").write_text(xml)
    ds = load_dataset({"format": "voc", "path": str(tmp_path)}, task="detection")
    assert ds.class_names == ["cat", "dog"]
    assert _expected(ds) == _truth()
    x, targets = eval_arrays(ds, input_shape=SHAPE)
    boxes, classes = targets[1]
    np.testing.assert_allclose(boxes, [[0, 0, 1, 1], [10 / W, 5 / H, 30 / W, 25 / H]], atol=1e-6)
    assert classes.tolist() == [0, 1]


def test_yolo_round_trip(tmp_path):
    (tmp_path / "classes.txt").write_text("cat\ndog\n")
    names = ["cat", "dog"]
    for stem, objs in BOXES.items():
        _write_png(tmp_path / "images" / f"{stem}.png", _solid(90, (H, W)))
        lines = [f"{names.index(n)} {(x1 + x2) / 2 / W} {(y1 + y2) / 2 / H} {(x2 - x1) / W} {(y2 - y1) / H}"
                 for x1, y1, x2, y2, n in objs]
        (tmp_path / "labels").mkdir(exist_ok=True)
        (tmp_path / "labels" / f"{stem}.txt").write_text("\n".join(lines) + "\n")
    ds = load_dataset({"format": "yolo", "path": str(tmp_path)}, task="detection")
    assert ds.class_names == names
    assert _expected(ds) == _truth()
    batch = next(iter(make_pipeline(ds, input_shape=SHAPE, batch_size=2, training=False)))
    assert batch[1]["boxes"].shape == (2, 2, 4)
    assert batch[1]["classes"].numpy().tolist() == [[1, -1], [0, 1]]


def _coco(tmp_path, *, with_segmentation=False):
    images, annotations = [], []
    for image_id, (stem, objs) in enumerate(sorted(BOXES.items()), start=1):
        _write_png(tmp_path / "img" / f"{stem}.png", _solid(90, (H, W)))
        images.append({"id": image_id, "file_name": f"{stem}.png", "width": W, "height": H})
        for x1, y1, x2, y2, name in objs:
            ann = {"id": len(annotations) + 1, "image_id": image_id, "category_id": {"cat": 7, "dog": 3}[name],
                   "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1), "iscrowd": 0}
            if with_segmentation:
                ann["segmentation"] = [[x1, y1, x2, y1, x2, y2, x1, y2]]
            annotations.append(ann)
    data = {"images": images, "annotations": annotations,
            "categories": [{"id": 7, "name": "cat"}, {"id": 3, "name": "dog"}]}
    (tmp_path / "instances.json").write_text(json.dumps(data))
    return {"format": "coco", "images": str(tmp_path / "img"), "annotations": str(tmp_path / "instances.json")}


def test_coco_detection_round_trip(tmp_path):
    ds = load_dataset(_coco(tmp_path), task="detection")
    assert ds.class_names == ["dog", "cat"]     # category-id order: 3 before 7
    assert _expected(ds) == _truth()


def test_coco_polygons_become_masks(tmp_path):
    ds = load_dataset(_coco(tmp_path, with_segmentation=True), task="segmentation")
    assert ds.class_names == ["background", "dog", "cat"]
    x, masks = eval_arrays(ds, input_shape=(H, W, 3))
    expected = np.zeros((H, W), np.uint8)
    expected[5:25, 10:30] = 1                   # image b: dog painted over the whole-image cat
    # pycocotools rasterises the polygon's far edge inclusively or not; compare the interior exactly
    assert (masks[1][6:24, 11:29] == 1).all()
    assert (masks[1][masks[1] != 1] == 2).all()
    assert masks[0][4:19, 3:11].min() == 1 and masks[0][25:, :].max() == 0


def test_masks_round_trip(tmp_path):
    (tmp_path / "classes.txt").write_text("background\nroad\ncar\n")
    rng = np.random.default_rng(1)
    truth = {}
    for stem in ("p", "q"):
        image = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
        mask = rng.integers(0, 3, (H, W), dtype=np.uint8)
        _write_png(tmp_path / "images" / f"{stem}.png", image)
        _write_png(tmp_path / "masks" / f"{stem}.png", mask)
        truth[stem] = mask
    ds = load_dataset({"format": "masks", "images": str(tmp_path / "images"), "masks": str(tmp_path / "masks")},
                      task="segmentation")
    assert ds.class_names == ["background", "road", "car"]
    x, masks = eval_arrays(ds, input_shape=(H, W, 3))
    np.testing.assert_array_equal(masks[0], truth["p"])
    np.testing.assert_array_equal(masks[1], truth["q"])
    _, y = next(iter(make_pipeline(ds, input_shape=(H, W, 3), batch_size=2, training=False)))
    np.testing.assert_array_equal(y.numpy(), np.stack([truth["p"], truth["q"]]))


def test_missing_path_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="data.path: no such file or directory"):
        load_dataset({"format": "folder", "path": str(tmp_path / "nope")}, task="classification")


def test_yolo_names_an_image_folder_it_cannot_list(tmp_path, block_listing):
    """A sub-folder of images/ that cannot be listed is a named problem with the OS's reason,
    not images that are silently missing (voc and masks read their images the same way)."""
    (tmp_path / "classes.txt").write_text("cat\ndog\n")
    for folder in ("a", "b"):
        _write_png(tmp_path / "images" / folder / "x.png", _solid(90, (H, W)))
        (tmp_path / "labels" / folder).mkdir(parents=True)
        (tmp_path / "labels" / folder / "x.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    blocked = tmp_path / "images" / "b"
    block_listing(blocked)
    ds = load_dataset({"format": "yolo", "path": str(tmp_path)}, task="detection")
    assert len(ds) == 1
    problem = next(p for p in ds.problems if "cannot be read" in p.message)
    assert problem.file == str(blocked) and not problem.skipped
    assert problem.message == "folder cannot be read (Permission denied); its images are left out"
