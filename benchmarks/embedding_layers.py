"""Which layer of a trained embedding model keeps unseen identities apart, and does the
centre matter? (issue 17; why recipes/fashion_mnist_embedding.yaml ships `features: auto,
center: validation`)

For every residual merge of the trained model (and the head's Dense output), the
verification ROC AUC of classes 7-9 of Fashion-MNIST's t10k images (the run's eval.npz,
3,000 images, all 4.5 M pairs, edgecv's metrics) of the layer's features, flattened or
averaged over space, L2-normalised after subtracting nothing, the mean over 2,000 training
images of the 7 training classes, or the mean over 2,000 images of the validation split
(classes 7-9 of the *training* images: other images of the unseen classes; no labels used).

    python benchmarks/embedding.py --out RUN                  # trains the recipe
    python benchmarks/embedding_layers.py RUN                 # RUN/model_trained.keras
    python benchmarks/embedding_layers.py RUN --model RUN/model.keras   # a run that kept the head
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FASHION = Path("/usr/share/datasets/fashion-mnist")
TRAIN_CLASSES = 7
REFERENCE_IMAGES = 2000


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path, help="run directory of recipes/fashion_mnist_embedding.yaml (eval.npz)")
    ap.add_argument("--model", type=Path, help="the trained model (default RUN/model_trained.keras)")
    a = ap.parse_args(argv)
    import tensorflow as tf

    from edgecv.bench.evalset import read_eval_set
    from edgecv.data.normalize import normalize
    from edgecv.data.readers.idx import read_idx_split
    from edgecv.optimize.qat import load_keras_model
    from edgecv.tasks.embedding.head import candidate_layers, layer_features
    from edgecv.tasks.embedding.metrics import l2_normalize, verification_auc

    model = load_keras_model(a.model or a.run / "model_trained.keras")
    evalset = read_eval_set(a.run / "eval.npz")
    x_test, labels = normalize(evalset.x), np.asarray(evalset.targets)
    images, classes = read_idx_split(FASHION, "train")
    rng = np.random.default_rng(0)

    def reference(mask):
        pick = rng.choice(np.flatnonzero(mask), REFERENCE_IMAGES, replace=False)
        resized = tf.image.resize(images[pick][..., None].astype(np.float32), evalset.x.shape[1:3])
        return normalize(resized.numpy())

    x_train7, x_val = reference(classes < TRAIN_CLASSES), reference(classes >= TRAIN_CLASSES)
    names = candidate_layers(model)
    flat = layer_features(model, names)

    def features(x):
        return dict(zip(names, flat.predict(x, batch_size=128, verbose=0)))

    test, train7, val = features(x_test), features(x_train7), features(x_val)
    print("| layer | shape | flat: no centre | flat: train-class mean | flat: val mean "
          "| pooled: no centre | pooled: val mean |")
    print("|---|---|---:|---:|---:|---:|---:|")
    def auc(values, centre=0.0):
        return f"{verification_auc(l2_normalize(values - centre), labels):.4f}"

    def pooled(values, shape):      # the spatial average of a flattened HxWxC map
        return values.reshape(len(values), -1, shape[-1]).mean(axis=1) if len(shape) == 3 else values

    for name in names:
        shape = tuple(model.get_layer(name).output.shape[1:])
        row = [auc(test[name]), auc(test[name], train7[name].mean(0)), auc(test[name], val[name].mean(0)),
               auc(pooled(test[name], shape)), auc(pooled(test[name], shape), pooled(val[name], shape).mean(0))]
        print(f"| {name} | {'x'.join(map(str, shape))} | " + " | ".join(row) + " |", flush=True)

if __name__ == "__main__":
    main()
