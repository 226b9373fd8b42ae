"""Task-aware augmentation (recipe `data.augment`), in TensorFlow ops for the tf.data pipeline.

All geometry (flip, vertical flip, random resized crop, rotation, shear) is
composed into ONE affine matrix per sample and applied with one projective
warp, so the image, its mask and its boxes receive exactly the same transform:
images with bilinear sampling, masks with nearest (class ids never blend),
boxes by mapping their four corners and taking the enclosing box, clipped to
the frame and dropped when less than MIN_VISIBLE of them stays inside.
Randomness is stateless, driven by a per-sample seed, so runs are repeatable.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Optional

import tensorflow as tf

from edgecv.data.dataset import VOID

MIN_VISIBLE = 0.25          # a box keeps its object if >= this fraction of it stays in the frame
MIN_SIDE_PX = 1.0           # ... and it is at least this many pixels wide and high
IMAGE_FILL = 127.5          # grey = 0 after normalisation: no fake edges or colours
MASK_FILL = VOID            # pixels warped in from outside the image have no label: ignored
ASPECT_RANGE = (3 / 4, 4 / 3)   # random resized crop aspect ratios

# AlexNet PCA lighting: eigenvalues / eigenvectors of ImageNet RGB covariance (pixels in [0, 1]).
PCA_EIGVAL = (0.2175, 0.0188, 0.0045)
PCA_EIGVEC = ((-0.5675, 0.7192, 0.4009),
              (-0.5808, -0.0045, -0.8140),
              (-0.5836, -0.6948, 0.4203))

KEYS = ("flip", "vflip", "crop", "rotate", "shear", "color", "pca_color")


def _options(spec: Any) -> dict[str, float]:
    if spec is None:
        return {k: 0.0 for k in KEYS}
    values = spec.model_dump() if hasattr(spec, "model_dump") else dict(spec)
    return {k: float(values.get(k) or 0.0) for k in KEYS}


def _uniform(seed, n, low, high):
    """n per-sample draws from [low, high)."""
    return tf.random.stateless_uniform([n], seed=seed, minval=low, maxval=high, dtype=tf.float32)


def _mat(rows) -> tf.Tensor:
    """3x3 rows of [n] tensors -> [n, 3, 3]."""
    return tf.stack([tf.stack(row, axis=-1) for row in rows], axis=-2)


def random_affine(opts: dict, height: int, width: int, seeds, n) -> tf.Tensor:
    """[n, 3, 3] forward matrices mapping input to output points, in continuous pixel
    coordinates (the image spans [0, W] x [0, H]; pixel i has its centre at i + 0.5)."""
    h, w = float(height), float(width)
    one, zero = tf.ones([n]), tf.zeros([n])
    cx, cy = one * (w / 2), one * (h / 2)
    matrix = tf.eye(3, batch_shape=[n])
    if opts["flip"]:
        fx = tf.where(_uniform(seeds[0], n, 0.0, 1.0) < 0.5, -1.0, 1.0)
        matrix = _mat([[fx, zero, cx - fx * cx], [zero, one, zero], [zero, zero, one]]) @ matrix
    if opts["vflip"]:
        fy = tf.where(_uniform(seeds[1], n, 0.0, 1.0) < 0.5, -1.0, 1.0)
        matrix = _mat([[one, zero, zero], [zero, fy, cy - fy * cy], [zero, zero, one]]) @ matrix
    if opts["shear"]:
        k = _uniform(seeds[2], n, -opts["shear"], opts["shear"])
        matrix = _mat([[one, k, -k * cy], [zero, one, zero], [zero, zero, one]]) @ matrix
    if opts["rotate"]:
        theta = _uniform(seeds[3], n, -opts["rotate"], opts["rotate"]) * (math.pi / 180)
        c, s = tf.cos(theta), tf.sin(theta)
        matrix = _mat([[c, -s, cx - c * cx + s * cy], [s, c, cy - s * cx - c * cy], [zero, zero, one]]) @ matrix
    if opts["crop"]:
        crop_seeds = tf.random.experimental.stateless_split(seeds[4], num=4)
        area = _uniform(crop_seeds[0], n, 1.0 - opts["crop"], 1.0)
        aspect = tf.exp(_uniform(crop_seeds[1], n, math.log(ASPECT_RANGE[0]), math.log(ASPECT_RANGE[1])))
        cw = tf.minimum(w * tf.sqrt(area * aspect), w)
        ch = tf.minimum(h * tf.sqrt(area / aspect), h)
        x0 = _uniform(crop_seeds[2], n, 0.0, 1.0) * (w - cw)
        y0 = _uniform(crop_seeds[3], n, 0.0, 1.0) * (h - ch)
        sx, sy = w / cw, h / ch
        matrix = _mat([[sx, zero, -x0 * sx], [zero, sy, -y0 * sy], [zero, zero, one]]) @ matrix
    return matrix


def warp(images: tf.Tensor, matrix: tf.Tensor, *, nearest: bool, fill: float) -> tf.Tensor:
    """Apply [n, 3, 3] forward continuous-coordinate matrices to [n, H, W, C] images, same size out."""
    shift = tf.constant([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])   # index -> continuous
    unshift = tf.constant([[1.0, 0.0, -0.5], [0.0, 1.0, -0.5], [0.0, 0.0, 1.0]])
    # The op maps *output* index coordinates to *input* ones: the inverse, in index space.
    inverse = tf.linalg.inv(unshift @ matrix @ shift)
    inverse = inverse / inverse[:, 2:3, 2:3]
    transforms = tf.reshape(inverse, [-1, 9])[:, :8]
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=tf.shape(images)[1:3],
        fill_value=tf.cast(fill, tf.float32), interpolation="NEAREST" if nearest else "BILINEAR",
        fill_mode="CONSTANT")


def transform_boxes(boxes: tf.Tensor, classes: tf.Tensor, matrix: tf.Tensor, height: int, width: int):
    """Move normalised boxes [n, M, 4] with their images; clip; drop (class -1) boxes that left the frame.

    Kept boxes come first, padding after, so the layout stays [n, M, 4] / [n, M].
    """
    h, w = float(height), float(width)
    x1, y1, x2, y2 = boxes[..., 0] * w, boxes[..., 1] * h, boxes[..., 2] * w, boxes[..., 3] * h
    xs = tf.stack([x1, x2, x1, x2], axis=-1)
    ys = tf.stack([y1, y1, y2, y2], axis=-1)
    corners = tf.stack([xs, ys, tf.ones_like(xs)], axis=-2)          # [n, M, 3, 4]
    moved = tf.einsum("nij,nmjk->nmik", matrix, corners)
    nx1, nx2 = tf.reduce_min(moved[..., 0, :], axis=-1), tf.reduce_max(moved[..., 0, :], axis=-1)
    ny1, ny2 = tf.reduce_min(moved[..., 1, :], axis=-1), tf.reduce_max(moved[..., 1, :], axis=-1)
    full_area = (nx2 - nx1) * (ny2 - ny1)
    cx1, cx2 = tf.clip_by_value(nx1, 0.0, w), tf.clip_by_value(nx2, 0.0, w)
    cy1, cy2 = tf.clip_by_value(ny1, 0.0, h), tf.clip_by_value(ny2, 0.0, h)
    visible = (cx2 - cx1) * (cy2 - cy1)
    keep = ((classes >= 0) & (visible >= MIN_VISIBLE * full_area)
            & (cx2 - cx1 >= MIN_SIDE_PX) & (cy2 - cy1 >= MIN_SIDE_PX))
    new_boxes = tf.stack([cx1 / w, cy1 / h, cx2 / w, cy2 / h], axis=-1)
    order = tf.argsort(tf.cast(~keep, tf.int32), axis=-1, stable=True)
    keep_sorted = tf.gather(keep, order, batch_dims=1)
    new_boxes = tf.where(keep_sorted[..., None], tf.gather(new_boxes, order, batch_dims=1), 0.0)
    new_classes = tf.where(keep_sorted, tf.gather(classes, order, batch_dims=1), -1)
    return new_boxes, new_classes


def color_jitter(images: tf.Tensor, strength: float, seeds, n) -> tf.Tensor:
    """Brightness, contrast and (RGB) saturation factors drawn per image from [1 - s, 1 + s]."""
    def factor(seed):
        return tf.reshape(_uniform(seed, n, 1.0 - strength, 1.0 + strength), [-1, 1, 1, 1])

    images = images * factor(seeds[0])
    mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
    images = (images - mean) * factor(seeds[1]) + mean
    if images.shape[-1] == 3:
        grey = tf.reduce_sum(images * tf.constant([0.299, 0.587, 0.114]), axis=-1, keepdims=True)
        images = (images - grey) * factor(seeds[2]) + grey
    return images


def pca_lighting(images: tf.Tensor, strength: float, seed, n) -> tf.Tensor:
    alpha = tf.random.stateless_normal([n, 3], seed=seed, stddev=strength)
    offset = tf.linalg.matvec(tf.constant(PCA_EIGVEC), alpha * tf.constant(PCA_EIGVAL)) * 255.0   # [n, 3]
    if images.shape[-1] == 1:
        offset = tf.reduce_mean(offset, axis=-1, keepdims=True)
    return images + offset[:, None, None, :]


def augmenter(spec: Any, kind: Any, input_shape) -> Optional[Callable]:
    """fn(images uint8 [n,H,W,C], targets, seed int64 [2]) -> (images uint8, targets), on a
    batch (vectorised: one op per step for the whole batch); None if nothing to do.
    `kind` (an edgecv.data.targets kind, or a task name) moves the targets with the images."""
    if isinstance(kind, str):
        from edgecv.data.targets import target_kind

        kind = target_kind(kind)
    opts = _options(spec)
    if not any(opts.values()):
        return None
    height, width = int(input_shape[0]), int(input_shape[1])
    geometric = any(opts[k] for k in ("flip", "vflip", "crop", "rotate", "shear"))

    def apply(images, targets, seed):
        n = tf.shape(images)[0]
        seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=8)
        pixels = tf.cast(images, tf.float32)
        if geometric:
            matrix = random_affine(opts, height, width, seeds, n)
            pixels = warp(pixels, matrix, nearest=False, fill=IMAGE_FILL)
            targets = kind.warp(targets, matrix, height, width)
        if opts["color"]:
            pixels = color_jitter(pixels, opts["color"], seeds[5:8], n)
        if opts["pca_color"]:
            pixels = pca_lighting(pixels, opts["pca_color"], seeds[5] + 1, n)
        pixels = tf.cast(tf.clip_by_value(tf.round(pixels), 0.0, 255.0), tf.uint8)
        return pixels, targets

    return apply
