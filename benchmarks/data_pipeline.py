"""Pipeline throughput vs. the quickstart model's training step rate (images/s).

The pipeline must outrun training by >= 3x so the model never waits for data.
Measures, on this machine:
  - synthetic_shapes pipeline (generated per index) with the quickstart augmentation
    and with every augmentation on,
  - a folder of 96x96 PNG files decoded by the pipeline (written to a temp dir first),
  - a folder of 128x96 JPEG files, letterboxed to 64x64 (resize: letterbox),
  - the decode check `edgecv train` runs once over every file dataset before training
    (edgecv.data.drop_undecodable), on the PNG folder,
  - training steps of mobilenet_v2 alpha 0.35 at 64x64 fed from an in-memory batch,
    and the same model trained by model.fit from the PNG folder pipeline (if the
    pipeline kept up, the two rates match; on 2 cores they share the CPU).

    python benchmarks/data_pipeline.py [--images 2048] [--batch 32] [--steps 30]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import edgecv  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)

SHAPE = (64, 64, 3)
PASSES = 3
QUICKSTART_AUGMENT = {"flip": True}
FULL_AUGMENT = {"flip": True, "crop": 0.2, "rotate": 15.0, "shear": 0.1, "color": 0.2, "pca_color": 0.1}


def pipeline_rate(ds, augment, batch: int, resize: str = "stretch") -> float:
    from edgecv.data import make_pipeline

    data = make_pipeline(ds, input_shape=SHAPE, batch_size=batch, training=True, augment=augment, seed=0,
                         resize=resize)
    for _ in data.take(2):      # warm up: tracing, thread pools
        pass
    rates = []
    for _ in range(PASSES):     # one pass is ~1 s: the median of a few steadies the number
        start, seen = time.perf_counter(), 0
        for x, _ in data:
            seen += int(x.shape[0])
        rates.append(seen / (time.perf_counter() - start))
    return statistics.median(rates)


def write_folder(root: Path, count: int, size=(96, 96), suffix: str = ".png") -> None:
    import cv2

    from edgecv.data.synthetic import ShapesGenerator

    gen = ShapesGenerator("classification", 0)
    for i in range(count):
        image, label = gen.sample(i, size[0], size[1], 3)
        folder = root / str(int(label))
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"{i}{suffix}"), image[..., ::-1])


def quickstart_model():
    import tf_keras as keras

    model = edgecv.create_model("mobilenet_v2", alpha=0.35, input_shape=SHAPE, num_classes=5)
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    return model


def fed_training_rate(ds, batch: int, steps: int, cache: bool = False) -> float:
    """Images/s of model.fit reading the pipeline (augment: all) for `steps` steps."""
    from edgecv.data import make_pipeline

    model = quickstart_model()
    data = make_pipeline(ds, input_shape=SHAPE, batch_size=batch, training=True, augment=FULL_AUGMENT,
                         seed=0, cache=cache).repeat()
    model.fit(data, steps_per_epoch=3, epochs=1, verbose=0)       # warm up
    start = time.perf_counter()
    model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
    return steps * batch / (time.perf_counter() - start)


def training_rate(batch: int, steps: int) -> float:
    import numpy as np

    model = quickstart_model()
    x = np.random.default_rng(0).uniform(-1, 1, (batch, *SHAPE)).astype("float32")
    y = np.arange(batch) % 5
    for _ in range(3):
        model.train_on_batch(x, y)
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return steps * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2048)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()

    from edgecv.data import drop_undecodable, load_dataset

    synthetic = load_dataset({"format": "synthetic_shapes", "samples": args.images}, task="classification")
    rows = [("synthetic_shapes, augment: flip (quickstart)", pipeline_rate(synthetic, QUICKSTART_AUGMENT, args.batch)),
            ("synthetic_shapes, augment: all", pipeline_rate(synthetic, FULL_AUGMENT, args.batch))]
    with tempfile.TemporaryDirectory() as tmp:
        write_folder(Path(tmp), args.images)
        folder = load_dataset({"format": "folder", "path": tmp}, task="classification")
        rows.append(("folder of 96x96 PNG, augment: all", pipeline_rate(folder, FULL_AUGMENT, args.batch)))
        fed = fed_training_rate(folder, args.batch, args.steps)
        fed_cached = fed_training_rate(folder, args.batch, args.steps, cache=True)
        start = time.perf_counter()
        drop_undecodable(folder, channels=3)
        check_rate = len(folder) / (time.perf_counter() - start)
    with tempfile.TemporaryDirectory() as tmp:
        write_folder(Path(tmp), args.images, size=(96, 128), suffix=".jpg")
        jpegs = load_dataset({"format": "folder", "path": tmp}, task="classification")
        rows.append(("folder of 128x96 JPEG, letterbox, augment: all",
                     pipeline_rate(jpegs, FULL_AUGMENT, args.batch, resize="letterbox")))
    train = training_rate(args.batch, args.steps)

    print(f"{'measurement':48s} {'images/s':>10s} {'x training':>11s}")
    for name, rate in rows:
        print(f"{name:48s} {rate:10.0f} {rate / train:10.1f}x")
    print(f"{'training mobilenet_v2 a0.35 64x64, batch ' + str(args.batch):48s} {train:10.0f} {1.0:10.1f}x")
    print(f"{'  same, fed by the PNG folder pipeline (fit)':48s} {fed:10.0f} {fed / train:10.1f}x")
    print(f"{'  same, pipeline with cache: true':48s} {fed_cached:10.0f} {fed_cached / train:10.1f}x")
    print(f"{'decode check before training (PNG folder)':48s} {check_rate:10.0f}   (once per run)")
    slowest = min(rate for _, rate in rows)
    print(f"\nslowest pipeline / training = {slowest / train:.1f}x (target >= 3x)")


if __name__ == "__main__":
    main()
