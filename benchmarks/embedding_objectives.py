"""Which training objective keeps the unseen Fashion-MNIST classes apart? (issue 17 exploration)

One process per objective, no run directory: MobileNetV2 (edgecv's builder and embedding
head) trained on classes 0-6 of the training images, after every epoch the verification ROC
AUC and recall@1 of classes 7-9 of t10k (3,000 images, edgecv's metrics, all pairs).
Objectives: the recipe's semi-hard (or batch-hard) triplet loss, edgecv's contrastive loss,
and/or an instance loss (SimCLR's NT-Xent: two augmented views of the same image are the
only positives), whose features are not tied to the 7 training classes, or a proxy loss
(normalised softmax over one learnt proxy per class). `--pooled` also scores the pooled
backbone features under the head (1280-d: about a minute more per epoch).

    python benchmarks/embedding_objectives.py --epochs 3 --tag base
    python benchmarks/embedding_objectives.py --epochs 3 --ntxent 1.0 --tag mix
    python benchmarks/embedding_objectives.py --epochs 2 --loss none --ntxent 1.0 --tag simclr
    python benchmarks/embedding_objectives.py --epochs 2 --loss contrastive --margin 1.0 --tag contr
    python benchmarks/embedding_objectives.py --epochs 2 --pooled --score-init --tag base_pool
    python benchmarks/embedding_objectives.py --epochs 2 --loss proxy --pooled --tag proxy
    python benchmarks/embedding_objectives.py --epochs 2 --loss prototype --tag proto

The PK batches are drawn here in numpy (P classes without replacement, K images from each
class's reshuffled stream), not through edgecv.data's tf.data PKSampler, to keep the loop a
plain GradientTape step whose objectives can be mixed; one thread, so it can run beside a
training. Results in benchmarks/README.md (Embedding: objectives).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgecv.data.readers.idx import read_idx_split

FASHION = Path("/usr/share/datasets/fashion-mnist")
TRAIN_CLASSES = 7            # classes 0-6 train, 7-9 (sneaker, bag, ankle boot) are scored


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--loss", default="semi_hard", choices=["semi_hard", "batch_hard", "contrastive", "prototype", "proxy", "none"])
    ap.add_argument("--margin", type=float, default=0.2)
    ap.add_argument("--ntxent", type=float, default=0.0, help="weight of the instance (NT-Xent) loss")
    ap.add_argument("--temp", type=float, default=0.1, help="NT-Xent temperature")
    ap.add_argument("--proxy-temp", type=float, default=0.05,
                    help="proxy and prototype loss temperature (softmax over cosine to a learnt proxy, or "
                         "to the batch centroid, per class)")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--P", type=int, default=7)
    ap.add_argument("--K", type=int, default=8)
    ap.add_argument("--alpha", type=float, default=0.35)
    ap.add_argument("--size", type=int, default=48)
    ap.add_argument("--shift", type=int, default=4, help="random translation in pixels (0: none)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--score-init", action="store_true", help="also score the untrained network")
    ap.add_argument("--pooled", action="store_true", help="also score the pooled features under the head")
    ap.add_argument("--tag", default="run")
    return ap.parse_args(argv)


def main(argv=None) -> None:
    a = parse_args(argv)
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import tf_keras as keras

    from edgecv.models import MODELS
    from edgecv.tasks.embedding.head import embedding_model
    from edgecv.tasks.embedding.loss import (
        batch_hard_triplet_loss,
        contrastive_loss,
        prototype_loss,
        semi_hard_triplet_loss,
    )
    from edgecv.tasks.embedding.metrics import embedding_scores

    losses = {"semi_hard": semi_hard_triplet_loss, "batch_hard": batch_hard_triplet_loss,
              "contrastive": contrastive_loss,
              "prototype": lambda y, e, _margin: prototype_loss(y, e, a.proxy_temp)}
    proxies = []                 # one learnt vector per training class, for --loss proxy only
    if a.loss == "proxy":
        proxies.append(tf.Variable(tf.random.stateless_normal((TRAIN_CLASSES, a.dim), (a.seed, 1)), name="proxies"))

        def proxy_loss(y, e, _margin):
            # Normalised softmax (Zhai & Wu 2018): cosine to one learnt proxy per class, a
            # temperature; classification-style, no mining.
            logits = tf.matmul(e, tf.math.l2_normalize(proxies[0], axis=1), transpose_b=True) / a.proxy_temp
            return tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True))

        losses["proxy"] = proxy_loss
    x_train, y_train = read_idx_split(FASHION, "train")
    x_test, y_test = read_idx_split(FASHION, "t10k")
    seen, unseen = y_train < TRAIN_CLASSES, y_test >= TRAIN_CLASSES
    x_train, y_train, x_test, y_test = x_train[seen], y_train[seen], x_test[unseen], y_test[unseen]

    def prep(x):
        x = tf.image.resize(tf.cast(x[..., None], tf.float32), (a.size, a.size))
        return x / 127.5 - 1.0

    def augment(x):
        x = tf.image.random_flip_left_right(x)
        if a.shift:
            pad = tf.pad(x, [[0, 0], [a.shift] * 2, [a.shift] * 2, [0, 0]], constant_values=-1.0)
            x = tf.map_fn(lambda im: tf.image.random_crop(im, (a.size, a.size, 1)), pad)
        return x

    def ntxent(z1, z2):
        z, n = tf.concat([z1, z2], 0), tf.shape(z1)[0]
        similarity = tf.matmul(z, z, transpose_b=True) / a.temp - 1e9 * tf.eye(2 * n)
        target = tf.concat([tf.range(n, 2 * n), tf.range(0, n)], 0)   # each view's partner
        return tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(target, similarity, from_logits=True))

    # Python's `random` too: tf_keras draws an initializer's seed from it when none is given,
    # so tf.random.set_seed alone left the initial weights different in every process.
    keras.utils.set_random_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    test_images = prep(x_test).numpy()
    model = embedding_model(MODELS.get("mobilenet_v2"), dim=a.dim, alpha=a.alpha, input_shape=(a.size, a.size, 1))
    # The pooled backbone features under the head: SimCLR's finding is that the layer
    # before the projection generalises better than the projection the loss sees.
    pooled = keras.Model(model.input, model.get_layer("embedding_pool").output)
    trainable = model.trainable_variables + proxies
    steps = len(y_train) // (a.P * a.K)
    optimizer = keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(a.lr, steps * a.epochs))

    @tf.function
    def train_step(x, y):
        with tf.GradientTape() as tape:
            e1 = model(augment(x), training=True)
            loss = losses[a.loss](y, e1, a.margin) if a.loss != "none" else 0.0
            if a.ntxent:
                loss += a.ntxent * ntxent(e1, model(augment(x), training=True))
        grads = tape.gradient(loss, trainable)
        optimizer.apply_gradients(zip(grads, trainable))
        return loss

    def report(epoch, loss):
        scores = embedding_scores(model.predict(test_images, batch_size=256, verbose=0), y_test)
        extra = ""
        if a.pooled:
            pool = embedding_scores(pooled.predict(test_images, batch_size=256, verbose=0), y_test)
            extra = f"pooled AUC {pool['value']:.4f} R@1 {pool['recall_at_1']:.4f} "
        print(f"RESULT {a.tag} epoch {epoch} AUC {scores['value']:.4f} R@1 {scores['recall_at_1']:.4f} "
              f"{extra}loss {loss:.4f} {time.time() - start:.0f}s", flush=True)

    by_class = [np.flatnonzero(y_train == c) for c in range(TRAIN_CLASSES)]
    start = time.time()
    if a.score_init:
        report(0, float("nan"))
    for epoch in range(a.epochs):
        order, pos, epoch_losses = [rng.permutation(ix) for ix in by_class], [0] * TRAIN_CLASSES, []
        for step in range(steps):
            pick = []
            for c in rng.choice(TRAIN_CLASSES, a.P, replace=False):
                if pos[c] + a.K > len(order[c]):
                    order[c], pos[c] = rng.permutation(by_class[c]), 0
                pick += list(order[c][pos[c]:pos[c] + a.K])
                pos[c] += a.K
            epoch_losses.append(float(train_step(prep(x_train[pick]), tf.constant(y_train[pick], tf.int32))))
            if step % 250 == 249:
                print(f"{a.tag} epoch {epoch + 1} step {step + 1}/{steps} loss {np.mean(epoch_losses[-250:]):.4f} "
                      f"{time.time() - start:.0f}s", flush=True)
        report(epoch + 1, np.mean(epoch_losses))


if __name__ == "__main__":
    main()
