"""ImageNet weights loaded offline: keras' own files, made here with random weights.

For each family with keras weights, the keras.applications model is built with
weights="imagenet" while keras' downloader is replaced by a stub that writes a
random-weight file under the exact name keras asks for, in a temporary KERAS_HOME.
edgecv must find that same file (by its own name table), check its hash, and give
the same backbone features as keras within 1e-5.
"""
import dataclasses
import hashlib

import numpy as np
import pytest

from edgecv.errors import ModelError
from edgecv.models import create_model
from edgecv.models import pretrained

# edgecv name, edgecv kwargs, keras application, keras kwargs, keras' input preprocessing, size
CASES = [
    ("mobilenet_v1", {"alpha": 0.25}, "MobileNet", {"alpha": 0.25}, "tf", 32),
    ("mobilenet_v2", {"alpha": 0.35}, "MobileNetV2", {"alpha": 0.35}, "tf", 32),
    ("efficientnet_b0", {}, "EfficientNetB0", {}, "raw", 32),
    ("resnet50", {}, "ResNet50", {}, "caffe", 32),
    ("inception_v3", {}, "InceptionV3", {}, "tf", 75),
]


@pytest.fixture(autouse=True)
def _fresh_keras_session():
    yield
    import gc

    import tf_keras as keras

    keras.backend.clear_session()
    gc.collect()


def randomize(model, seed=0, variance=(0.5, 1.5)):
    """Random weights everywhere, BN statistics included (a zero mean / unit variance
    BN would hide a mis-mapped statistic)."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        name, shape = w.name, tuple(w.shape)
        if "normalization" in name and "variance" in name:
            value = rng.uniform(0.5, 1.5, shape)
        elif "variance" in name:
            value = rng.uniform(*variance, shape)
        elif "mean" in name or "beta" in name:
            value = rng.normal(0.0, 0.1, shape)
        elif "gamma" in name:
            value = rng.uniform(0.5, 1.5, shape)
        elif "count" in name:
            continue
        else:
            value = w.numpy() + rng.normal(0.0, 0.01, shape)
        w.assign(value.astype(w.dtype.as_numpy_dtype))


def keras_cache(tmp_path, monkeypatch, app, kwargs, shape):
    """Build keras' imagenet model with a stubbed downloader; returns (model, file, hash)."""
    import tf_keras as keras
    from tf_keras.src.utils import data_utils

    home = tmp_path / "keras_home"
    (home / "models").mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("KERAS_HOME", str(home))
    source = getattr(keras.applications, app)(weights=None, include_top=False, input_shape=shape, **kwargs)
    # ResNet's caffe input (pixels minus mean, ~100) makes float32 rounding ~1e-5 relative;
    # larger BN variances keep its features of order 1 like ImageNet's, as for the others
    randomize(source, variance=(4.0, 8.0) if app == "ResNet50" else (0.5, 1.5))
    asked = {}

    def fake_get_file(fname, origin=None, cache_subdir="datasets", file_hash=None, **_):
        asked.update(file=fname, origin=origin, hash=file_hash)
        path = home / cache_subdir / fname
        source.save_weights(str(path))
        return str(path)

    monkeypatch.setattr(data_utils, "get_file", fake_get_file)
    reference = getattr(keras.applications, app)(weights="imagenet", include_top=False, input_shape=shape,
                                                 **kwargs)
    return reference, asked


def keras_input(x, mode):
    pixels = (x + 1.0) * 127.5
    if mode == "tf":
        return x
    if mode == "raw":
        return pixels
    return pixels[..., ::-1] - np.array([103.939, 116.779, 123.68], "float32")   # caffe


def trust_file(monkeypatch, path):
    """Accept the random file as keras' published one: same name, its own md5."""
    real = pretrained.keras_source

    def patched(name, kwargs):
        source = real(name, kwargs)
        if source and source.file_hash:
            source = dataclasses.replace(source, file_hash=hashlib.md5(path.read_bytes()).hexdigest())
        return source

    monkeypatch.setattr(pretrained, "keras_source", patched)


@pytest.mark.parametrize("name, kwargs, app, keras_kwargs, mode, size", CASES, ids=[c[0] for c in CASES])
def test_imagenet_weights_give_keras_features(tmp_path, monkeypatch, name, kwargs, app, keras_kwargs, mode, size):
    shape = (size, size, 3)
    reference, asked = keras_cache(tmp_path, monkeypatch, app, keras_kwargs, shape)
    source = pretrained.keras_source(name, {"input_shape": shape, **kwargs})
    assert source.file == asked["file"]                 # keras' exact file name
    assert source.url == asked["origin"]                # and where it publishes it
    assert source.file_hash == asked["hash"]            # keras' hash (None: keras has none)
    path = tmp_path / "keras_home" / "models" / asked["file"]
    trust_file(monkeypatch, path)
    lines = []
    model = create_model(name, weights="imagenet", include_top=False, input_shape=shape, echo=lines.append,
                         **kwargs)
    assert len(lines) == 1 and "loaded" in lines[0] and str(path) in lines[0]
    x = np.random.default_rng(1).uniform(-1, 1, (2, *shape)).astype("float32")
    ours = model(x, training=False).numpy()
    theirs = reference(keras_input(x, mode), training=False).numpy()
    assert ours.shape == theirs.shape
    scale = float(np.abs(theirs).max())
    assert 1e-3 < scale < 1e3                           # features are not degenerate
    assert float(np.abs(ours - theirs).max()) <= 1e-5


def test_classifier_keeps_a_fresh_head_and_path_weights_load(tmp_path, monkeypatch):
    shape = (32, 32, 3)
    reference, asked = keras_cache(tmp_path, monkeypatch, "MobileNetV2", {"alpha": 0.35}, shape)
    path = tmp_path / "keras_home" / "models" / asked["file"]
    fresh = create_model("mobilenet_v2", alpha=0.35, input_shape=shape, num_classes=4)
    lines = []
    model = create_model("mobilenet_v2", alpha=0.35, input_shape=shape, num_classes=4,
                         weights=str(path), echo=lines.append)
    assert "fresh head: logits" in lines[0]
    assert model.get_layer("logits").kernel.shape == (1280, 4)
    # backbone from the file, head freshly initialised (the seedless init differs from `fresh`)
    np.testing.assert_array_equal(model.get_layer("stem_conv").kernel.numpy(),
                                  reference.get_layer("Conv1").kernel.numpy())
    assert not np.array_equal(fresh.get_layer("stem_conv").kernel.numpy(),
                              model.get_layer("stem_conv").kernel.numpy())


def test_missing_file_names_file_folder_and_url(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(ModelError) as info:
        create_model("mobilenet_v2", alpha=0.35, input_shape=(32, 32, 3), weights="imagenet")
    message = str(info.value)
    assert "\n" not in message
    assert "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5" in message
    assert str(tmp_path / "models") in message
    assert "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/" in message


def test_published_size_picks_its_own_file():
    source = pretrained.keras_source("mobilenet_v2", {"alpha": 1.0, "input_shape": (160, 160, 3)})
    assert source.file == "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_160_no_top.h5"
    source = pretrained.keras_source("mobilenet_v1", {"alpha": 0.5, "input_shape": (128, 128, 3)})
    assert source.file == "mobilenet_5_0_128_tf_no_top.h5"
    assert pretrained.keras_source("efficientnet_b3", {}).file == "efficientnetb3_notop.h5"
    with pytest.raises(ModelError, match="alpha"):
        pretrained.keras_source("mobilenet_v2", {"alpha": 0.6})
    with pytest.raises(ModelError, match="no published keras imagenet weights"):
        create_model("resnet18", weights="imagenet")


def test_wrong_hash_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5").write_bytes(b"not keras")
    with pytest.raises(ModelError) as info:
        create_model("resnet50", input_shape=(32, 32, 3), weights="imagenet")
    assert "md5" in str(info.value) and "4d473c1dd8becc155b73f8504c6f6626" in str(info.value)
    assert "\n" not in str(info.value)


def test_wrong_shape_file_changes_nothing(tmp_path):
    import tf_keras as keras

    other = keras.applications.MobileNetV2(weights=None, include_top=False, input_shape=(32, 32, 3), alpha=0.5)
    path = tmp_path / "w.h5"
    other.save_weights(str(path))
    model = create_model("mobilenet_v2", alpha=0.35, input_shape=(32, 32, 3))
    before = [w.numpy().copy() for w in model.weights]
    with pytest.raises(ModelError) as info:
        pretrained.load_keras_file(model, path, name="mobilenet_v2")
    assert "has shapes" in str(info.value) and "\n" not in str(info.value)
    assert all(np.array_equal(b, w.numpy()) for b, w in zip(before, model.weights))


def _recipe(tmp_path, weights):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "name: w\ntask: classification\n"
        f"model: {{arch: mobilenet_v2, alpha: 0.35, input_shape: [32, 32, 3], weights: {weights}}}\n"
        "data:\n  train: {format: synthetic_shapes, samples: 32}\n  val: {format: synthetic_shapes, samples: 16, seed: 1}\n"
        "  batch_size: 16\ntrain: {epochs: 1}\nexport: {formats: [float32]}\n", encoding="utf-8")
    return recipe


@pytest.mark.parametrize("case", ["missing", "wrong_shape"])
def test_train_with_bad_weights_exits_2_with_one_line(tmp_path, monkeypatch, capsys, case):
    import tf_keras as keras

    from edgecv.cli import main

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    if case == "wrong_shape":   # alpha 0.5's file under alpha 0.35's name
        (tmp_path / "home" / "models").mkdir(parents=True)
        other = keras.applications.MobileNetV2(weights=None, include_top=False, input_shape=(32, 32, 3), alpha=0.5)
        other.save_weights(str(tmp_path / "home" / "models" /
                               "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5"))
    code = main(["train", str(_recipe(tmp_path, "imagenet")), "--out", str(tmp_path / "run")])
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert code == 2
    assert len(err) == 1
    assert ("no_top.h5 in" in err[0]) if case == "missing" else ("has shapes" in err[0])


def test_recipe_refuses_imagenet_for_a_model_keras_does_not_publish(tmp_path):
    from edgecv.errors import RecipeError
    from edgecv.recipe import load_recipe

    recipe = _recipe(tmp_path, "imagenet")
    recipe.write_text(recipe.read_text().replace("mobilenet_v2, alpha: 0.35", "resnet18"))
    with pytest.raises(RecipeError, match="model.weights: resnet18 has no published keras imagenet weights"):
        load_recipe(recipe)
    recipe.write_text(recipe.read_text().replace("weights: imagenet", "weights: nowhere.h5"))
    with pytest.raises(RecipeError, match="model.weights: .*no such file"):
        load_recipe(recipe)


def test_weights_file_saved_from_an_edgecv_classifier(tmp_path):
    """An edgecv model's own weights (another class count, an alpha keras does not
    publish) load by position onto the backbone; the head stays fresh."""
    trained = create_model("mobilenet_v2", alpha=0.6, input_shape=(32, 32, 1), num_classes=10)
    trained.save_weights(str(tmp_path / "backbone.h5"))
    lines = []
    model = create_model("mobilenet_v2", alpha=0.6, input_shape=(32, 32, 1), num_classes=3,
                         weights=str(tmp_path / "backbone.h5"), echo=lines.append)
    assert "fresh head: logits" in lines[0]
    for name in ("stem_conv", "block16_project_bn", "head_conv"):
        for a, b in zip(model.get_layer(name).get_weights(), trained.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)
