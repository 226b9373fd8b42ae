"""edgecv's exported files run in MediaPipe Tasks as they are, proven by MediaPipe itself:
tiny models exported here, run by tests/e2e/mediapipe_check.py in MediaPipe's own venv
(tests/mediapipe_env.py), compared with edgecv's runner on the same images."""
from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

import edgecv  # noqa: F401  (sets TF_USE_LEGACY_KERAS first)
from tests.unit.export.test_export import LABELS, normalize, pixels, tiny_model

SIZE = 32
SEG_LABELS = ["background", "disc", "bar"]
CHECK = __import__("pathlib").Path(__file__).with_name("mediapipe_check.py")


@pytest.fixture(scope="module")
def mediapipe_python():
    from tests.mediapipe_env import ensure_venv

    python, reason = ensure_venv()
    if python is None:
        pytest.skip(reason)
    return python


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    path = tmp_path_factory.mktemp("mp") / "images.npz"
    x = pixels(12, seed=7)
    np.savez(path, x=x, mean=127.5, std=127.5)
    return path, x


def tiny_segmenter():
    import tf_keras as keras

    keras.utils.set_random_seed(1)
    inp = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    x = keras.layers.Conv2D(len(SEG_LABELS), 3, padding="same",
                            kernel_initializer=keras.initializers.RandomNormal(0, 1.0))(x)
    return keras.Model(inp, keras.layers.Softmax()(x))


def tiny_embedder(dim: int = 16):
    """Conv -> pooling -> Dense -> L2 normalisation: edgecv's embedding head on a toy trunk."""
    import tf_keras as keras

    keras.utils.set_random_seed(2)
    inp = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(dim)(x)
    return keras.Model(inp, keras.layers.UnitNormalization()(x))


def export(model, task, labels, formats, out):
    from edgecv.export import export_model
    from edgecv.export.metadata import build_metadata

    meta = build_metadata(task=task, labels=labels, input_shape=[SIZE, SIZE, 3])
    calib = normalize(pixels(16, seed=1))
    return {f: export_model(model, f, out / f"{task}_{f}.tflite", representative=calib,
                            metadata=meta).path for f in formats}


def edgecv_outputs(path, images_npz):
    from edgecv.bench.runner import benchmark

    return benchmark(str(path), data=str(images_npz), runs=1, warmup=0, threads=1,
                     delegate="none")["outputs"]


def run_files(python, kind, files, images_npz, tmp_path):
    """MediaPipe's `kind` task on each of {format: path}, over the images; {format: result}."""
    return run_mediapipe(python, [{"id": f, "kind": kind, "model": str(p), "images": str(images_npz)}
                                  for f, p in files.items()], tmp_path)


def run_mediapipe(python, cases, tmp_path):
    request, result = tmp_path / "request.json", tmp_path / "result.json"
    request.write_text(json.dumps({"cases": cases}))
    done = subprocess.run([str(python), str(CHECK), str(request), str(result)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(result.read_text())["cases"]
    errors = {k: v["error"] for k, v in found.items() if "error" in v}
    assert not errors, errors
    return found


@pytest.mark.slow   # three exports + MediaPipe: ~47 s on 2 shared cores
def test_classifier_files_run_in_mediapipe_with_label_names(mediapipe_python, images, tmp_path):
    npz, _ = images
    files = export(tiny_model(seed=6), "classification", LABELS, ["float32", "float16", "int8"], tmp_path)
    found = run_files(mediapipe_python, "classifier", files, npz, tmp_path)
    for fmt, path in files.items():
        top1 = edgecv_outputs(path, npz)[0].argmax(1)
        assert found[fmt]["index"] == top1.tolist(), fmt          # 100 % agreement
        assert found[fmt]["name"] == [LABELS[i] for i in top1], fmt


def test_segmenter_files_run_in_mediapipe(mediapipe_python, images, tmp_path):
    npz, _ = images
    files = export(tiny_segmenter(), "segmentation", SEG_LABELS, ["float32", "int8"], tmp_path)
    found = run_files(mediapipe_python, "segmenter", files, npz, tmp_path)
    for fmt, path in files.items():
        ours = edgecv_outputs(path, npz)[0].argmax(-1)
        theirs = np.load(found[fmt]["masks"])["masks"]
        assert theirs.shape == ours.shape
        assert np.mean(theirs == ours) >= 0.999, fmt
        assert found[fmt]["labels"] == SEG_LABELS


@pytest.mark.slow   # the shared detector training + NMS re-export (tests/conftest.py), MediaPipe ~10 s
def test_detector_files_with_in_graph_nms_run_in_mediapipe(mediapipe_python, nms_detector_files, tmp_path):
    """MediaPipe's ObjectDetector on the trained tiny detector re-exported with
    `detection.export.postprocess: nms`: every detection edgecv's runner finds, with its box
    within 1 px, its score within 1e-3 and its label name, and nothing else."""
    from edgecv.tasks.detection.postprocess import nms_rows
    from tests.detection_data import CATEGORIES

    files, eval_npz = nms_detector_files
    found = run_files(mediapipe_python, "detector", files, eval_npz, tmp_path)
    size = np.load(eval_npz)["x"].shape[1:3]
    scale = np.array([size[1], size[0], size[1], size[0]], np.float64)
    for fmt, path in files.items():
        ours = nms_rows(edgecv_outputs(path, eval_npz))
        theirs = found[fmt]["detections"]
        assert len(theirs) == len(ours) and any(len(s) for _, s, _ in ours), fmt
        for image, ((boxes, scores, classes), detections) in enumerate(zip(ours, theirs)):
            assert len(detections) == len(scores), (fmt, image)
            left = list(detections)
            for box, score, cls in zip(boxes, scores, classes):
                x1, y1, x2, y2 = box * scale
                want = np.array([x1, y1, x2 - x1, y2 - y1])   # MediaPipe: origin, size in pixels
                match = next((d for d in left if d["name"] == CATEGORIES[cls]
                              and abs(d["score"] - score) <= 1e-3
                              and np.all(np.abs(np.array(d["box"]) - want) <= 1.0)), None)
                assert match is not None, (fmt, image, box, score, cls, left)
                left.remove(match)


def test_embedder_files_run_in_mediapipe(mediapipe_python, images, tmp_path):
    """MediaPipe's ImageEmbedder gives the vectors edgecv's runner gets from the same file and
    images (int8: raw pixels in, dequantized by the file's own output scale): the metadata is
    all it needs."""
    npz, x = images
    files = export(tiny_embedder(), "embedding", None, ["float32", "int8"], tmp_path)
    found = run_files(mediapipe_python, "embedder", files, npz, tmp_path)
    for fmt, path in files.items():
        ours = edgecv_outputs(path, npz)[0]
        theirs = np.load(found[fmt]["embeddings"])["embeddings"]
        assert theirs.shape == ours.shape == (len(x), 16), fmt
        np.testing.assert_allclose(theirs, ours, atol=1e-5, err_msg=fmt)
        assert np.all(np.abs(np.linalg.norm(theirs, axis=1) - 1) < 0.05), fmt
