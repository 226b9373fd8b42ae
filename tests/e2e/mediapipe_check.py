"""Run edgecv's exported files through MediaPipe Tasks, in MediaPipe's own virtual
environment (it cannot share edgecv's: see tests/e2e/test_mediapipe.py). Talks to the
test only through files: `python mediapipe_check.py REQUEST.json RESULT.json`.

REQUEST: {"cases": [{"id", "kind": classifier|segmenter|detector|embedder, "model": PATH,
"images": NPZ with x uint8 [N, H, W, 3]}]}. RESULT: {"mediapipe": version, "cases": {id:
{"error": str} or per image results}}; masks and embeddings go to NPZ files beside RESULT.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def run_case(case: dict, out_dir: Path) -> dict:
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions
    from mediapipe.tasks.python import vision

    x = np.load(case["images"])["x"]
    base = BaseOptions(model_asset_path=case["model"])
    images = [mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(img)) for img in x]
    kind = case["kind"]
    if kind == "classifier":
        options = vision.ImageClassifierOptions(base_options=base, max_results=1)
        with vision.ImageClassifier.create_from_options(options) as task:
            tops = [task.classify(img).classifications[0].categories[0] for img in images]
        return {"index": [c.index for c in tops], "name": [c.category_name for c in tops],
                "score": [c.score for c in tops]}
    if kind == "segmenter":
        options = vision.ImageSegmenterOptions(base_options=base, output_category_mask=True,
                                               output_confidence_masks=False)
        with vision.ImageSegmenter.create_from_options(options) as task:
            masks = []
            for img in images:
                result = task.segment(img)   # numpy_view borrows the result's memory: copy it
                masks.append(np.array(result.category_mask.numpy_view()).reshape(img.height, img.width))
            masks = np.stack(masks)
            labels = list(task.labels)
        path = out_dir / f"{case['id']}_masks.npz"
        np.savez(path, masks=masks)
        return {"masks": str(path), "labels": labels}
    if kind == "detector":
        options = vision.ObjectDetectorOptions(base_options=base, max_results=case.get("max_results", -1),
                                               score_threshold=case.get("score_threshold", 0.0))
        found = []
        with vision.ObjectDetector.create_from_options(options) as task:
            for img in images:
                found.append([{"box": [d.bounding_box.origin_x, d.bounding_box.origin_y,
                                       d.bounding_box.width, d.bounding_box.height],
                               "index": d.categories[0].index, "name": d.categories[0].category_name,
                               "score": d.categories[0].score} for d in task.detect(img).detections])
        return {"detections": found}
    if kind == "embedder":
        options = vision.ImageEmbedderOptions(base_options=base, l2_normalize=False, quantize=False)
        with vision.ImageEmbedder.create_from_options(options) as task:
            vectors = np.stack([task.embed(img).embeddings[0].embedding for img in images])
        path = out_dir / f"{case['id']}_embeddings.npz"
        np.savez(path, embeddings=vectors)
        return {"embeddings": str(path)}
    return {"error": f"unknown kind {kind!r}"}


def main(request_path: str, result_path: str) -> int:
    import mediapipe as mp

    request = json.loads(Path(request_path).read_text())
    out_dir = Path(result_path).parent
    results = {}
    for case in request["cases"]:
        try:
            results[case["id"]] = run_case(case, out_dir)
        except Exception as exc:   # reported per case: the test names the file that failed
            results[case["id"]] = {"error": f"{type(exc).__name__}: {exc}"}
    Path(result_path).write_text(json.dumps({"mediapipe": mp.__version__, "cases": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
