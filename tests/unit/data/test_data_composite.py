"""fashion_composite: boxes and masks are exactly the visible pasted pixels, seeded, and the
written COCO / masks folders read back equal through edgecv's own readers."""
from __future__ import annotations

import gzip
from pathlib import Path

import cv2
import numpy as np
import pytest

import edgecv  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from edgecv.data import backgrounds as bg
from edgecv.data import eval_arrays, load_dataset
from edgecv.data.formats import check_spec
from edgecv.data.paste import Placement, cut_out, paste
from edgecv.data.readers import fashion_composite as fc
from edgecv.data.readers.idx import FASHION_CLASSES
from edgecv.data.writer import write_generated
from edgecv.errors import DataError, RecipeError
from tests.helpers import invoke_cli

H, W = 72, 96


def _write_idx(path: Path, array: np.ndarray, magic: int) -> None:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def _items(rng: np.random.Generator, count: int) -> np.ndarray:
    """Garment-like blobs: a bright textured ellipse on 0, like a Fashion-MNIST item."""
    items = np.zeros((count, 28, 28), np.uint8)
    for item in items:
        axes = (int(rng.integers(5, 13)), int(rng.integers(5, 13)))
        cv2.ellipse(item, (14, 14), axes, float(rng.uniform(0, 180)), 0, 360, 255, -1)
        item[:] = np.where(item > 0, rng.integers(90, 256, item.shape), 0)
    return items


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """A tiny Fashion-MNIST-like idx folder (train: classes 0-4 only, t10k: 5-9 only) and
    a folder of two textured 'photos'."""
    root = tmp_path_factory.mktemp("composite")
    rng = np.random.default_rng(0)
    items = root / "items"
    items.mkdir()
    for split, classes in (("train", range(5)), ("t10k", range(5, 10))):
        labels = np.repeat(np.array(list(classes)), 4)
        _write_idx(items / f"{split}-images-idx3-ubyte.gz", _items(rng, len(labels)), 2051)
        _write_idx(items / f"{split}-labels-idx1-ubyte.gz", labels, 2049)
    photos = root / "photos"
    photos.mkdir()
    for i in range(2):
        photo = cv2.resize(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8), (160, 120))
        cv2.imwrite(str(photos / f"p{i}.png"), photo)
    return {"path": str(items), "backgrounds": str(photos)}


def _spec(sources, **extra) -> dict:
    return {"format": "fashion_composite", "samples": 12, **sources, **extra}


def _generator(sources, task="detection", **extra):
    return load_dataset(_spec(sources, **extra), task=task).source.generator


def _bbox(mask: np.ndarray) -> list[int]:
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


# ---------------------------------------------------------------- a crafted scene
def _block_item() -> np.ndarray:
    item = np.zeros((28, 28), np.uint8)
    item[4:24, 8:20] = 200              # 20 tall, 12 wide: its cut-out is this block
    return item


def _place(x, y, width, height, cls=0):
    return Placement(cut=cut_out(_block_item()), cls=cls, x=x, y=y, width=width, height=height,
                     dark=(0.0, 0.0, 0.0), light=(250.0, 20.0, 20.0))


def test_known_placement_occlusion_shrinks_the_hidden_item():
    background = np.full((64, 64, 3), 90, np.uint8)
    a = _place(10, 10, 24, 40, cls=1)           # x 10..33, y 10..49
    b = _place(22, 5, 24, 50, cls=2)            # x 22..45, y 5..54: hides A's right part
    scene = paste(background, [a, b], min_fraction=0.25, min_pixels=6)
    assert scene.classes.tolist() == [1, 2]
    assert scene.boxes().tolist() == [[10, 10, 22, 50], [22, 5, 46, 55]]   # A shrank from x2 = 34
    assert scene.masks[0].sum() == 12 * 40 and scene.masks[1].sum() == 24 * 50
    assert not (scene.masks[0] & scene.masks[1]).any()
    changed = (scene.image != background).any(axis=-1)
    np.testing.assert_array_equal(changed, scene.masks[0] | scene.masks[1])
    index = scene.index_mask()
    assert set(np.unique(index[scene.masks[0]])) == {2} and set(np.unique(index[scene.masks[1]])) == {3}


def test_a_mostly_hidden_item_is_not_drawn_and_the_border_clips_boxes():
    background = np.full((64, 64, 3), 90, np.uint8)
    hidden = _place(20, 20, 12, 20, cls=4)
    cover = _place(16, 16, 24, 40, cls=5)       # covers all of `hidden`
    edge = _place(-6, 40, 12, 20, cls=6)        # half past the left border, a quarter past the bottom
    scene = paste(background, [hidden, cover, edge], min_fraction=0.25, min_pixels=6)
    assert scene.classes.tolist() == [5, 6]
    assert scene.boxes().tolist() == [[16, 16, 40, 56], [0, 40, 6, 60]]
    changed = (scene.image != background).any(axis=-1)
    assert not (changed & ~scene.masks.any(axis=0)).any()      # nothing of `hidden` shows


def test_cut_out_keeps_the_items_own_pixels_and_small_holes():
    item = np.zeros((28, 28), np.uint8)
    item[5:20, 6:22] = 180
    item[10, 10] = 0                    # a dark print: part of the item
    item[12:18, 12:18] = 0              # a 36-pixel gap (a bag's handle): stays open
    cut = cut_out(item)
    assert cut.mask.shape == (15, 16) and cut.mask[10 - 5, 10 - 6]
    assert not cut.mask[12 - 5:18 - 5, 12 - 6:18 - 6].any()
    assert cut_out(np.zeros((28, 28), np.uint8)) is None


# ---------------------------------------------------------------- generated scenes
def test_boxes_enclose_exactly_the_visible_pasted_pixels_on_a_fixed_seed(sources):
    gen = _generator(sources, seed=7)
    objects = overlaps = 0
    for index in range(12):
        scene = gen.compose(index, H, W)
        _, (boxes, classes) = gen.sample(index, H, W)
        k = len(scene.classes)
        objects += k
        px = scene.boxes()
        overlaps += sum(1 for i in range(k) for j in range(i + 1, k)
                        if min(px[i, 2], px[j, 2]) > max(px[i, 0], px[j, 0])
                        and min(px[i, 3], px[j, 3]) > max(px[i, 1], px[j, 1]))
        assert (classes[:k] >= 0).all() and (classes[k:] == -1).all()
        changed = (scene.image != scene.background).any(axis=-1)
        assert not (changed & ~scene.masks.any(axis=0)).any()   # no unlabelled pasted pixel
        assert (scene.masks.sum(axis=0) <= 1).all()             # each pixel one item at most
        for mask, box in zip(scene.masks, boxes[:k]):
            # The box is the extent of the pixels this item changed on the image.
            expected = np.array(_bbox(mask & changed)) / [W, H, W, H]
            np.testing.assert_allclose(box, expected, atol=1e-6)
    assert objects >= 20 and overlaps >= 3      # the seed has overlapping, occluding items


def test_segmentation_masks_lie_in_their_boxes_and_touch_every_edge(sources):
    det, seg = _generator(sources, seed=3), _generator(sources, "segmentation", seed=3)
    for index in range(8):
        image_d, (boxes, classes) = det.sample(index, H, W)
        image_s, mask = seg.sample(index, H, W)
        np.testing.assert_array_equal(image_d, image_s)         # one scene per (seed, index)
        pixel_boxes = np.round(boxes * [W, H, W, H]).astype(int)
        for value in np.unique(mask[mask > 0]):
            inside = np.zeros_like(mask, dtype=bool)
            for (x1, y1, x2, y2), cls in zip(pixel_boxes, classes):
                if cls == value - 1:
                    inside[y1:y2, x1:x2] = True
            assert not ((mask == value) & ~inside).any()
        for (x1, y1, x2, y2), cls in zip(pixel_boxes, classes):
            if cls < 0:
                continue
            own = mask[y1:y2, x1:x2] == cls + 1
            assert own[0].any() and own[-1].any() and own[:, 0].any() and own[:, -1].any()


def test_same_seed_same_scene_in_any_order_other_seed_differs(sources):
    a, b = _generator(sources, seed=5), _generator(sources, seed=5)
    first = [a.sample(i, H, W) for i in (3, 1, 2)]
    again = [b.sample(i, H, W) for i in (3, 1, 2)]
    for (x1, (b1, c1)), (x2, (b2, c2)) in zip(first, again):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(b1, b2)
        np.testing.assert_array_equal(c1, c2)
    other = _generator(sources, seed=6).sample(3, H, W)[0]
    assert not np.array_equal(first[0][0], other)
    assert not np.array_equal(first[0][0], first[1][0])


def test_train_and_t10k_items_do_not_mix(sources):
    for split, allowed in (("train", set(range(5))), ("t10k", set(range(5, 10)))):
        gen = _generator(sources, split=split)
        seen = set()
        for index in range(12):
            seen |= set(gen.compose(index, H, W).classes.tolist())
        assert seen and seen <= allowed


def test_pipeline_arrays_for_both_tasks(sources):
    det = load_dataset(_spec(sources, samples=4), task="detection")
    assert det.class_names == FASHION_CLASSES and det.max_objects == fc.MAX_OBJECTS
    x, targets = eval_arrays(det, input_shape=(48, 64, 3))
    assert x.shape == (4, 48, 64, 3) and all(len(b) == len(c) for b, c in targets)
    seg = load_dataset(_spec(sources, samples=4), task="segmentation")
    assert seg.class_names == ["background", *FASHION_CLASSES]
    _, masks = eval_arrays(seg, input_shape=(48, 64, 1))
    assert masks.shape == (4, 48, 64) and masks.max() <= 10


def test_item_sizes_follow_the_reference_side(sources):
    gen = _generator(sources, seed=1)
    for side in (64, 160):
        longest = [max(x2 - x1, y2 - y1) for i in range(40) for x1, y1, x2, y2 in gen.compose(i, side, side).boxes()]
        scale = side / fc.REFERENCE_SIDE
        assert max(longest) <= fc.ITEM_SIDE_PX[1] * scale + 1
        assert min(longest) < 3 * fc.ITEM_SIDE_PX[0] * scale      # small items do occur


# ---------------------------------------------------------------- writing out, reading back
def test_written_coco_and_masks_read_back_equal(sources, tmp_path):
    ds = load_dataset(_spec(sources, samples=5, seed=2), task="segmentation")
    gen = ds.source.generator
    written = write_generated(ds, tmp_path / "set", height=H, width=W)
    root = written.root
    assert written.images == 5
    scenes = [gen.compose(i, H, W) for i in range(5)]
    assert written.objects == sum(len(s.classes) for s in scenes)

    coco = {"format": "coco", "images": str(root / "images"), "annotations": str(root / "instances.json")}
    boxes_ds = load_dataset(coco, task="detection")
    assert boxes_ds.class_names == FASHION_CLASSES and not boxes_ds.problems
    masks_ds = load_dataset(coco, task="segmentation")
    folder_ds = load_dataset({"format": "masks", "images": str(root / "images"), "masks": str(root / "masks")},
                             task="segmentation")
    assert masks_ds.class_names == folder_ds.class_names == ["background", *FASHION_CLASSES]
    from edgecv.data.images import read_index_mask

    for i, scene in enumerate(scenes):
        k = len(scene.classes)
        np.testing.assert_allclose(boxes_ds.source.boxes[i, :k], scene.boxes() / [W, H, W, H], atol=1e-6)
        assert boxes_ds.source.classes[i, :k].tolist() == scene.classes.tolist()
        assert (boxes_ds.source.classes[i, k:] == -1).all()
        np.testing.assert_array_equal(masks_ds.source.mask_fn(i), scene.index_mask())
        np.testing.assert_array_equal(read_index_mask(folder_ds.source.mask_paths[i]), scene.index_mask())
        image = cv2.cvtColor(cv2.imread(boxes_ds.source.paths[i]), cv2.COLOR_BGR2RGB)
        np.testing.assert_array_equal(image, scene.image)


def test_data_write_cli_checks_and_refuses_a_non_empty_folder(sources, tmp_path, capsys):
    from edgecv.cli import main

    spec = tmp_path / "spec.yaml"
    spec.write_text("format: fashion_composite\nsamples: 3\n"
                    f"path: {sources['path']}\nbackgrounds: {sources['backgrounds']}\n")
    out = tmp_path / "out"
    result = invoke_cli(["data", "write", spec, "--out", out, "--size", "80x60"])
    assert result.exit_code == 0, result.output
    assert len(list((out / "images").iterdir())) == 3
    check = invoke_cli(["data", "check", out / "coco.yaml", "--task", "detection"])
    assert check.exit_code == 0 and "all clean" in check.output
    assert invoke_cli(["data", "check", out / "masks.yaml"]).exit_code == 0

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    capsys.readouterr()
    assert main(["data", "write", str(spec), "--out", str(mine)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: {mine}: folder is not empty; give a new or empty folder (nothing is overwritten)"]
    assert [p.name for p in mine.iterdir()] == ["notes.txt"] and (mine / "notes.txt").read_text() == "keep me"


def test_only_generated_sets_with_objects_can_be_written(tmp_path):
    ds = load_dataset({"format": "synthetic_shapes", "samples": 2}, task="detection")
    with pytest.raises(DataError, match="only generated sets with per-object masks"):
        write_generated(ds, tmp_path / "x", height=32, width=32)
    assert not (tmp_path / "x").exists()


# ---------------------------------------------------------------- errors and spec checks
def test_missing_photo_folder_is_one_line_naming_it(sources, tmp_path, monkeypatch):
    missing = tmp_path / "no-photos"
    with pytest.raises(DataError) as info:
        load_dataset(_spec(sources, backgrounds=str(missing)), task="detection")
    assert str(missing) in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(DataError) as info:
        bg.load_photos(missing)
    assert str(info.value).startswith(f"{missing}: backgrounds folder not found")
    monkeypatch.setattr(bg, "OPENCV_SAMPLES", missing)
    with pytest.raises(DataError, match=f"^{missing}: no OpenCV sample photos .*apt install opencv-doc"):
        load_dataset({"format": "fashion_composite", "path": sources["path"]}, task="detection")
    monkeypatch.setattr(fc, "FASHION_MNIST", missing)
    with pytest.raises(DataError, match=f"^{missing}: no Fashion-MNIST folder .*dataset-fashion-mnist"):
        load_dataset({"format": "fashion_composite", "backgrounds": sources["backgrounds"]}, task="detection")


@pytest.mark.parametrize("spec, task, message", [
    ({"format": "fashion_composite", "split": "test"}, "detection", "data.train.split: must be one of train, t10k"),
    ({"format": "fashion_composite"}, "classification", "does not support task 'classification'"),
    ({"format": "fashion_composite", "images": "x"}, "segmentation", "data.train.images: not used by format"),
])
def test_spec_check_names_the_key(spec, task, message):
    with pytest.raises(RecipeError, match=message):
        check_spec(spec, task, where="data.train")


@pytest.mark.skipif(not (fc.FASHION_MNIST.is_dir() and bg.OPENCV_SAMPLES.is_dir()),
                    reason="apt install dataset-fashion-mnist opencv-doc")
def test_debian_defaults():
    assert len(bg.PHOTOS) == len(set(bg.PHOTOS)) and 15 <= len(bg.PHOTOS) <= 25
    ds = load_dataset({"format": "fashion_composite", "samples": 4, "split": "t10k"}, task="detection")
    image, (_, classes) = ds.source.generator.sample(0, 160, 160)
    assert image.shape == (160, 160, 3) and image.std() > 10 and (classes >= 0).any()
