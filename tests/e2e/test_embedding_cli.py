"""`edgecv train` on a tiny generated identity folder (one folder per identity), two
identities held out of training: MobileNetV2 0.35 + embedding head -> QAT -> int8 -> bench
with verification metrics and int8-vs-float fidelity; `edgecv info` describes the file."""
from __future__ import annotations

import csv
import json

import pytest

from tests.embedding_data import HELD_OUT, train_identities


@pytest.fixture(scope="module")
def embedding_run(tmp_path_factory):
    return train_identities(tmp_path_factory.mktemp("embedding"), "tiny_embedding",
                            {"loss": "batch_hard", "margin": 0.2}, qat={"epochs": 1},
                            export={"formats": ["int8"], "calibration_samples": 8})


def test_train_reports_verification_metrics_on_held_out_identities(embedding_run):
    from edgecv.bench.evalset import read_eval_set

    exit_code, output, run_dir = embedding_run
    assert exit_code == 0, output
    assert "data: 32 train / 16 val samples" in output
    evalset = read_eval_set(run_dir / "eval.npz")
    assert evalset.task == "embedding"
    assert sorted({evalset.class_names[i] for i in evalset.targets}) == HELD_OUT   # never trained on
    entry = json.loads((run_dir / "report.json").read_text())["entries"][0]
    accuracy = entry["accuracy"]
    assert entry["format"] == "int8" and accuracy["metric"] == "roc_auc"
    assert 0.0 <= accuracy["value"] <= 1.0 and 0.0 <= accuracy["reference"] <= 1.0
    for key in ("tar_at_far_1e-2", "tar_at_far_1e-3", "best_accuracy", "recall_at_1", "recall_at_5",
                "accuracy_at_threshold"):
        assert 0.0 <= accuracy[key] <= 1.0, key
    # 16 images of 2 identities: C(16,2) = 120 pairs, 2 * C(8,2) = 56 of them same-identity
    assert (accuracy["samples"], accuracy["pairs"], accuracy["same_pairs"]) == (16, 120, 56)
    # int8 vs float embeddings of the same 16 images
    assert -1.0 <= accuracy["cosine_min"] <= accuracy["cosine_mean"] <= 1.0
    assert accuracy["cosine_mean"] > 0.9
    report_md = (run_dir / "report.md").read_text()
    assert "cosine_mean" in report_md and "roc.png" in report_md and "distances_int8.png" in report_md
    assert (run_dir / "roc.png").is_file() and (run_dir / "distances_int8.png").is_file()
    with open(next((run_dir / "train").rglob("history*.csv")), newline="") as handle:
        history = list(csv.DictReader(handle))
    # validation batches are PK-sampled too (held-out identities sorted by folder would
    # otherwise give batches of one identity and a val_loss of exactly 0)
    assert all(float(row["val_loss"]) > 0 for row in history)
    # the best epoch is picked by the verification AUC of the held-out validation identities
    assert all(0.0 <= float(row["val_roc_auc"]) <= 1.0 for row in history)     # train and qat
    assert "restored best epoch 1/1 (val_roc_auc " in output


def test_int8_embedding_is_integer_only_with_the_threshold_in_its_metadata(embedding_run):
    from edgecv.export.info import inspect_tflite

    _, _, run_dir = embedding_run
    info = inspect_tflite(run_dir / "export" / "tiny_embedding_int8.tflite", edgetpu=False)
    assert info["float_ops"] == [], info["float_ops"]
    ops = {row["op"] for row in info["op_table"]}
    assert "L2_NORMALIZATION" in ops              # the head's normalisation, on int8
    assert info["outputs"][0]["shape"] == [1, 16]
    part = info["metadata"]["embedding"]
    assert part["dim"] == 16 and part["distance"] == "squared_euclidean"
    assert 0.0 <= part["threshold"] < 4.0     # one tiny epoch: any threshold the float model gives
    assert part["cosine_threshold"] == pytest.approx(1 - part["threshold"] / 2, abs=1e-6)
    assert info["metadata"]["output_layout"].startswith("embeddings [N, dim]")


def test_info_describes_the_embedding_outputs(embedding_run):
    from click.testing import CliRunner

    from edgecv.cli import cli

    _, _, run_dir = embedding_run
    result = CliRunner().invoke(cli, ["info", str(run_dir / "export" / "tiny_embedding_int8.tflite")])
    assert result.exit_code == 0, result.output
    assert "task embedding" in result.output
    assert "outputs: embeddings [N, dim] (L2-normalised)" in result.output
    assert "embedding: dim 16" in result.output and "threshold" in result.output
    assert "float ops: none" in result.output


def test_reexport_keeps_the_threshold_training_wrote(embedding_run, tmp_path):
    from click.testing import CliRunner

    from edgecv.cli import cli
    from edgecv.export.metadata import read_metadata

    _, _, run_dir = embedding_run
    trained = read_metadata(run_dir / "export" / "tiny_embedding_int8.tflite")["embedding"]
    result = CliRunner().invoke(cli, ["export", str(run_dir), "--format", "int8", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    again = read_metadata(tmp_path / "tiny_embedding_int8.tflite")["embedding"]
    assert again == trained


@pytest.fixture(scope="module")
def features_run(tmp_path_factory):
    """The same identities, no QAT stage, shipping `features: auto` centred on the
    validation identities and projected onto 4 of their principal directions (float32 and
    int8), as recipes/fashion_mnist_embedding.yaml does."""
    exit_code, output, run_dir = train_identities(
        tmp_path_factory.mktemp("embedding_features"), "tiny_features",
        {"loss": "prototype", "features": "auto", "center": "validation", "project": 4},
        export={"formats": ["float32", "int8"], "calibration_samples": 8})
    assert exit_code == 0, output
    return run_dir


def test_shipped_features_are_the_layer_the_metadata_names(features_run):
    from edgecv.export.info import inspect_tflite
    from edgecv.optimize.qat import load_keras_model
    from edgecv.tasks.embedding.head import shipped_layer

    info = inspect_tflite(features_run / "export" / "tiny_features_int8.tflite", edgetpu=False)
    assert info["float_ops"] == [], info["float_ops"]
    ops = {row["op"] for row in info["op_table"]}
    assert "FULLY_CONNECTED" in ops and "SUB" not in ops    # the projection, the centre its bias
    part = info["metadata"]["embedding"]
    scores = part["features"]["validation_auc"]
    assert part["features"]["layer"] == max(scores, key=scores.get)
    assert part["features"]["center"] == "validation" and part["features"]["project"] == 4
    assert "embedding_dense" in scores and len(scores) > 5           # MobileNetV2's merges + head
    # the epoch was scored as the features ship (ValidationAUC): on the same 16 held-out
    # images, the best candidate's centred AUC is the layer's score
    with open(features_run / "train" / "history.csv", newline="") as handle:
        (epoch,) = list(csv.DictReader(handle))
    assert float(epoch["val_roc_auc"]) == pytest.approx(max(scores.values()), abs=1e-4)
    model = load_keras_model(features_run / "model.keras")           # what the reference scored
    assert shipped_layer(model) == part["features"]["layer"]
    trained = load_keras_model(features_run / "model_trained.keras")    # kept, head included
    assert shipped_layer(trained) is None and trained.output_shape == (None, 16)
    assert info["outputs"][0]["shape"] == [1, part["dim"]] == [1, model.output_shape[-1]] == [1, 4]
    entries = {e["format"]: e["accuracy"] for e in json.loads((features_run / "report.json").read_text())["entries"]}
    # the float32 file is the shipped Keras model; int8 stays close to it
    assert entries["float32"]["value"] == pytest.approx(entries["float32"]["reference"], abs=1e-3)
    assert entries["float32"]["cosine_min"] > 0.999 and entries["int8"]["cosine_mean"] > 0.9


def test_reexport_without_an_earlier_file_keeps_the_shipped_layer(features_run, tmp_path):
    """No earlier export to read the metadata back from: the task is re-adapted on
    model.keras, which already holds the features and is not cut again."""
    import shutil

    from click.testing import CliRunner

    from edgecv.cli import cli
    from edgecv.export.metadata import read_metadata

    trained = read_metadata(features_run / "export" / "tiny_features_int8.tflite")["embedding"]
    bare = tmp_path / "run"
    shutil.copytree(features_run, bare, ignore=shutil.ignore_patterns("export"))
    shutil.copytree(features_run.parent / "faces", tmp_path / "faces")
    result = CliRunner().invoke(cli, ["export", str(bare), "--format", "int8", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    again = read_metadata(tmp_path / "out" / "tiny_features_int8.tflite")["embedding"]
    assert again["features"]["layer"] == trained["features"]["layer"]
    assert again["features"]["project"] == 4 and again["dim"] == trained["dim"] == 4
    # re-chosen on model_trained.keras (kept beside the cut model.keras): the same scores
    assert again["features"]["validation_auc"] == trained["features"]["validation_auc"]
    assert again["threshold"] == pytest.approx(trained["threshold"], abs=1e-4)
