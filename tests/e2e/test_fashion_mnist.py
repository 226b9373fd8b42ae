"""Fashion-MNIST recipe and benchmark script: cheap checks only (no training).

The real measurement is `python benchmarks/fashion_mnist.py` (see benchmarks/README.md).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import edgecv
from tests.helpers import REPO

RECIPE = REPO / "recipes" / "fashion_mnist_mobilenet_v2.yaml"
DATA_DIR = Path("/usr/share/datasets/fashion-mnist")
needs_data = pytest.mark.skipif(not (DATA_DIR / "t10k-images-idx3-ubyte.gz").exists(),
                                reason="apt-get install dataset-fashion-mnist")


def _benchmark_module():
    spec = importlib.util.spec_from_file_location("fashion_mnist_benchmark", REPO / "benchmarks" / "fashion_mnist.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@needs_data  # the recipe's absolute data path must exist for it to validate
def test_recipe_trains_on_train_and_scores_the_whole_test_split():
    recipe = edgecv.load_recipe(RECIPE)
    train, test = recipe.data.train, recipe.data.test
    assert (train.format, train.split, train.limit) == ("idx", "train", None)
    # Best epochs are chosen on a split of the training images, never on the test set...
    assert recipe.data.val is None and recipe.data.val_split == 0.05
    # ... and the workflow benches data.test: every t10k image, not a sample.
    assert (test.format, test.split, test.limit) == ("idx", "t10k", None)
    assert recipe.bench.samples is None
    assert recipe.qat is not None and "int8" in recipe.export.formats
    # Issue 10's targets as gates, min_metric at issue 21's measured promise (0.92: int8 came
    # out 0.925-0.931 over seeds and machines); the size limit (< 1 MB) binds the int8 file only.
    assert recipe.bench.gates == {"min_metric": 0.92, "max_accuracy_drop": 0.005, "int8": {"max_size_mb": 0.95}}


@needs_data
def test_recipe_datasets_are_the_published_splits():
    from edgecv.data import load_dataset

    recipe = edgecv.load_recipe(RECIPE)
    train = load_dataset(recipe.data.train, task="classification")
    test = load_dataset(recipe.data.test, task="classification")
    assert (len(train), len(test)) == (60_000, 10_000)
    assert train.class_names[:2] == ["T-shirt/top", "Trouser"] and train.class_names[-1] == "Ankle boot"
    # Fashion-MNIST is balanced: 6,000 training and 1,000 test images per class.
    assert np.bincount(train.labels, minlength=10).tolist() == [6000] * 10
    assert np.bincount(test.labels, minlength=10).tolist() == [1000] * 10


@needs_data
def test_model_int8_fits_under_one_megabyte():
    """int8 weights are one byte per parameter; the file must stay < 1 MB with room for the graph."""
    recipe = edgecv.load_recipe(RECIPE)
    kwargs = recipe.model.builder_kwargs()
    model = edgecv.create_model(recipe.model.arch, **{**kwargs, "num_classes": 10})
    assert model.input_shape[1:] == tuple(recipe.model.input_shape)
    assert model.count_params() < 800_000


def test_benchmark_sums_epoch_seconds_per_stage(tmp_path):
    bench = _benchmark_module()
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "history.csv").write_text(
        "stage,epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds\n"
        "train,1,0.9,0.7,0.8,0.75,0.005,100.5\n"
        "train,2,0.5,0.8,0.6,0.80,0.001,99.5\n"
        "qat,1,0.4,0.85,0.5,0.82,0.0,250.0\n")
    times = bench.stage_times(tmp_path)
    assert times["train"]["epochs"] == 2 and times["train"]["seconds"] == pytest.approx(200.0)
    assert times["qat"]["epochs"] == 1 and times["qat"]["seconds"] == pytest.approx(250.0)
    assert times["qat"]["last"]["val_accuracy"] == "0.82"
