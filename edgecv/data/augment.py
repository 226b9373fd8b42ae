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

MIN_VISIBLE = 0.25          # a box keeps its object if >= this fraction of it stays in the frame
MIN_SIDE_PX = 1.0           # ... and it is at least this many pixels wide and high
IMAGE_FILL = 127.5          # grey = 0 after normalisation: no fake edges or colours
MASK_FILL = 0               # background
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


def _uniform(seed, low, high):
    return tf.random.stateless_uniform([], seed=seed, minval=low, maxval=high, dtype=tf.float32)


def _mat(rows) -> tf.Tensor:
    return tf.stack([tf.stack([tf.cast(v, tf.float32) for v in row]) for row in rows])


def random_affine(opts: dict, height: int, width: int, seeds) -> tf.Tensor:
    """Forward 3x3 matrix mapping input to output points, in continuous pixel
    coordinates (the image spans [0, W] x [0, H]; pixel i has its centre at i + 0.5)."""
    h, w = float(height), float(width)
    cx, cy = w / 2, h / 2
    matrix = tf.eye(3)
    if opts["flip"]:
        fx = tf.where(_uniform(seeds[0], 0.0, 1.0) < 0.5, -1.0, 1.0)
        matrix = _mat([[fx, 0.0, cx - fx * cx], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]) @ matrix
    if opts["vflip"]:
        fy = tf.where(_uniform(seeds[1], 0.0, 1.0) < 0.5, -1.0, 1.0)
        matrix = _mat([[1.0, 0.0, 0.0], [0.0, fy, cy - fy * cy], [0.0, 0.0, 1.0]]) @ matrix
    if opts["shear"]:
        k = _uniform(seeds[2], -opts["shear"], opts["shear"])
        matrix = _mat([[1.0, k, -k * cy], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]) @ matrix
    if opts["rotate"]:
        theta = _uniform(seeds[3], -opts["rotate"], opts["rotate"]) * (math.pi / 180)
        c, s = tf.cos(theta), tf.sin(theta)
        matrix = _mat([[c, -s, cx - c * cx + s * cy], [s, c, cy - s * cx - c * cy], [0.0, 0.0, 1.0]]) @ matrix
    if opts["crop"]:
        crop_seeds = tf.random.experimental.stateless_split(seeds[4], num=4)
        area = _uniform(crop_seeds[0], 1.0 - opts["crop"], 1.0)
        aspect = tf.exp(_uniform(crop_seeds[1], math.log(ASPECT_RANGE[0]), math.log(ASPECT_RANGE[1])))
        cw = tf.minimum(w * tf.sqrt(area * aspect), w)
        ch = tf.minimum(h * tf.sqrt(area / aspect), h)
        x0 = _uniform(crop_seeds[2], 0.0, 1.0) * (w - cw)
        y0 = _uniform(crop_seeds[3], 0.0, 1.0) * (h - ch)
        sx, sy = w / cw, h / ch
        matrix = _mat([[sx, 0.0, -x0 * sx], [0.0, sy, -y0 * sy], [0.0, 0.0, 1.0]]) @ matrix
    return matrix


def warp(image: tf.Tensor, matrix: tf.Tensor, *, nearest: bool, fill: float) -> tf.Tensor:
    """Apply a forward continuous-coordinate matrix to an [H, W, C] image, same size out."""
    shift = tf.constant([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])   # index -> continuous
    unshift = tf.constant([[1.0, 0.0, -0.5], [0.0, 1.0, -0.5], [0.0, 0.0, 1.0]])
    # The op maps *output* index coordinates to *input* ones: the inverse, in index space.
    inverse = tf.linalg.inv(unshift @ matrix @ shift)
    inverse = inverse / inverse[2, 2]
    transform = tf.reshape(inverse, [9])[:8][None]
    size = tf.shape(image)[:2]
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=image[None], transforms=transform, output_shape=size,
        fill_value=tf.cast(fill, tf.float32), interpolation="NEAREST" if nearest else "BILINEAR",
        fill_mode="CONSTANT")
    return out[0]


def transform_boxes(boxes: tf.Tensor, classes: tf.Tensor, matrix: tf.Tensor, height: int, width: int):
    """Move normalised boxes [M, 4] with the image; clip; drop (class -1) boxes that left the frame.

    Kept boxes come first, padding after, so the layout stays [M, 4] / [M].
    """
    h, w = float(height), float(width)
    x1, y1, x2, y2 = boxes[:, 0] * w, boxes[:, 1] * h, boxes[:, 2] * w, boxes[:, 3] * h
    xs = tf.stack([x1, x2, x1, x2], axis=1)
    ys = tf.stack([y1, y1, y2, y2], axis=1)
    ones = tf.ones_like(xs)
    corners = tf.stack([xs, ys, ones], axis=1)                     # [M, 3, 4]
    moved = tf.einsum("ij,mjk->mik", matrix, corners)
    nx1, nx2 = tf.reduce_min(moved[:, 0], axis=1), tf.reduce_max(moved[:, 0], axis=1)
    ny1, ny2 = tf.reduce_min(moved[:, 1], axis=1), tf.reduce_max(moved[:, 1], axis=1)
    full_area = (nx2 - nx1) * (ny2 - ny1)
    cx1, cx2 = tf.clip_by_value(nx1, 0.0, w), tf.clip_by_value(nx2, 0.0, w)
    cy1, cy2 = tf.clip_by_value(ny1, 0.0, h), tf.clip_by_value(ny2, 0.0, h)
    visible = (cx2 - cx1) * (cy2 - cy1)
    keep = ((classes >= 0) & (visible >= MIN_VISIBLE * full_area)
            & (cx2 - cx1 >= MIN_SIDE_PX) & (cy2 - cy1 >= MIN_SIDE_PX))
    new_boxes = tf.stack([cx1 / w, cy1 / h, cx2 / w, cy2 / h], axis=1)
    order = tf.argsort(tf.cast(~keep, tf.int32), stable=True)
    keep_sorted = tf.gather(keep, order)
    new_boxes = tf.where(keep_sorted[:, None], tf.gather(new_boxes, order), 0.0)
    new_classes = tf.where(keep_sorted, tf.gather(classes, order), -1)
    return new_boxes, new_classes


def color_jitter(image: tf.Tensor, strength: float, seeds) -> tf.Tensor:
    """Brightness, contrast and (RGB) saturation factors drawn from [1 - s, 1 + s]."""
    image = image * _uniform(seeds[0], 1.0 - strength, 1.0 + strength)
    mean = tf.reduce_mean(image)
    image = (image - mean) * _uniform(seeds[1], 1.0 - strength, 1.0 + strength) + mean
    if image.shape[-1] == 3:
        grey = tf.reduce_sum(image * tf.constant([0.299, 0.587, 0.114]), axis=-1, keepdims=True)
        image = (image - grey) * _uniform(seeds[2], 1.0 - strength, 1.0 + strength) + grey
    return image


def pca_lighting(image: tf.Tensor, strength: float, seed) -> tf.Tensor:
    alpha = tf.random.stateless_normal([3], seed=seed, stddev=strength)
    offset = tf.linalg.matvec(tf.constant(PCA_EIGVEC), alpha * tf.constant(PCA_EIGVAL)) * 255.0
    if image.shape[-1] == 1:
        offset = tf.reduce_mean(offset, keepdims=True)
    return image + offset


def augmenter(spec: Any, task: str, input_shape) -> Optional[Callable]:
    """fn(image uint8 [H,W,C], target, seed int64 [2]) -> (image uint8, target); None if nothing to do."""
    opts = _options(spec)
    if not any(opts.values()):
        return None
    height, width = int(input_shape[0]), int(input_shape[1])
    geometric = any(opts[k] for k in ("flip", "vflip", "crop", "rotate", "shear"))

    def apply(image, target, seed):
        seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=8)
        pixels = tf.cast(image, tf.float32)
        if geometric:
            matrix = random_affine(opts, height, width, seeds)
            pixels = warp(pixels, matrix, nearest=False, fill=IMAGE_FILL)
            if task == "segmentation":
                mask = warp(tf.cast(target, tf.int32)[..., None], matrix, nearest=True, fill=MASK_FILL)
                target = tf.cast(mask[..., 0], target.dtype)
            elif task == "detection":
                target = transform_boxes(target[0], target[1], matrix, height, width)
        if opts["color"]:
            pixels = color_jitter(pixels, opts["color"], seeds[5:8])
        if opts["pca_color"]:
            pixels = pca_lighting(pixels, opts["pca_color"], seeds[5] + 1)
        pixels = tf.cast(tf.clip_by_value(tf.round(pixels), 0.0, 255.0), tf.uint8)
        return pixels, target

    return apply
