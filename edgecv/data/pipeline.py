"""tf.data pipelines over an indexed Dataset: decode -> resize -> augment -> normalise -> batch.

Decoding uses tf.io (read_file + decode_image) inside `map(num_parallel_calls=AUTOTUNE)`:
it runs in TensorFlow's thread pool without the Python GIL, so both cores decode
in parallel, and it rejects truncated JPEGs that OpenCV would silently grey-fill.
Generated samples (synthetic_shapes) and rendered COCO masks come from numpy
through `tf.numpy_function` (OpenCV drawing releases the GIL).

Every pipeline goes through `_fixed_size`, which yields (uint8 image [H,W,C] at
the model's size, target); inference preprocessing is exactly that followed by
`normalize`, so `eval_arrays` (uint8 for the int8 model) and the float pipeline
see the same pixels.
"""
from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, Callable, Optional

import numpy as np
import tensorflow as tf

from edgecv.data import normalize as norm
from edgecv.data.dataset import ArraySource, Dataset, FileSource, GeneratedSource, Problem
from edgecv.data.targets import TargetKind, target_kind
from edgecv.errors import DataError

AUTOTUNE = tf.data.AUTOTUNE


def _shape3(input_shape) -> tuple[int, int, int]:
    if len(input_shape) != 3 or input_shape[-1] not in (1, 3):
        raise DataError(f"input_shape: expected [height, width, 1 or 3], got {list(input_shape)}")
    return int(input_shape[0]), int(input_shape[1]), int(input_shape[2])


# ---------------------------------------------------------------- decoding, per source
def _decode_files(src: FileSource, kind: TargetKind, positions: tf.data.Dataset, channels: int,
                  num_classes: int) -> tf.data.Dataset:
    paths = tf.constant(src.paths)
    target = kind.from_files(src, num_classes)

    def load(i):
        image = tf.io.decode_image(tf.io.read_file(paths[i]), channels=channels,
                                   expand_animations=False, dtype=tf.uint8)
        return image, target(i, image)

    return positions.map(load, num_parallel_calls=AUTOTUNE)


def _decode_arrays(src: ArraySource, positions: tf.data.Dataset, channels: int) -> tf.data.Dataset:
    images = tf.constant(src.images)
    labels = tf.constant(src.labels, tf.int32)

    def load(i):
        image = images[i]
        if image.shape[-1] != channels:
            image = tf.image.grayscale_to_rgb(image) if channels == 3 else tf.cast(
                tf.round(tf.image.rgb_to_grayscale(tf.cast(image, tf.float32))), tf.uint8)
        return image, labels[i]

    return positions.map(load, num_parallel_calls=AUTOTUNE)


GENERATE_CHUNK = 16     # samples drawn per Python call: amortises the numpy_function overhead


def _decode_generated(src: GeneratedSource, kind: TargetKind, positions: tf.data.Dataset,
                      size: tuple[int, int], channels: int) -> tf.data.Dataset:
    h, w = size
    gen = src.generator

    def draw(indices):
        samples = [gen.sample(int(i), h, w, channels) for i in indices]
        images = np.stack([image for image, _ in samples])
        return [images, *kind.stack_generated([target for _, target in samples])]

    def load(indices):
        images, *arrays = tf.numpy_function(draw, [indices], [tf.uint8, *kind.generated_types()],
                                            stateful=False)
        images.set_shape([None, h, w, channels])
        return images, kind.unpack_generated(arrays, size, gen.max_objects)

    return positions.batch(GENERATE_CHUNK).map(load, num_parallel_calls=AUTOTUNE).unbatch()


def _check_resize(mode: str) -> str:
    if mode not in norm.RESIZE_MODES:
        raise DataError(f"resize: expected one of {', '.join(norm.RESIZE_MODES)}, got {mode!r}")
    return mode


def _resize(kind: TargetKind, size: tuple[int, int], mode: str = "stretch") -> Callable:
    """Bring each sample to the model size.

    stretch: scale each axis on its own (normalised boxes are unchanged).
    letterbox: scale by one factor so the whole image fits, centre it, pad with grey;
    boxes are mapped into the padded frame and masks padded with VOID (ignored by
    the loss and mIoU), so only real pixels are trained on and scored.
    """
    out_h, out_w = size

    def fit(image, target):
        in_hw = tf.cast(tf.shape(image)[:2], tf.float32)
        scale = tf.minimum(out_h / in_hw[0], out_w / in_hw[1])
        new_hw = tf.maximum(tf.cast(tf.round(in_hw * scale), tf.int32), 1)
        top = (out_h - new_hw[0]) // 2
        left = (out_w - new_hw[1]) // 2
        pad = [[top, out_h - new_hw[0] - top], [left, out_w - new_hw[1] - left]]
        image = _resample(image, new_hw)
        image = tf.pad(image, pad + [[0, 0]], constant_values=norm.LETTERBOX_FILL)
        return image, kind.letterbox(target, new_hw, pad, size)

    def stretch(image, target):
        if image.shape[0] != out_h or image.shape[1] != out_w:
            image = _resample(image, (out_h, out_w))
        return image, kind.stretch(target, size)

    def resize(image, target):
        image, target = (fit if mode == "letterbox" else stretch)(image, target)
        image = tf.ensure_shape(image, [out_h, out_w, image.shape[-1]])
        return image, kind.fix_shape(target, size)

    return resize


def _resample(image, hw):
    image = tf.image.resize(image, hw, method="bilinear", antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)


def _fixed_size(ds: Dataset, input_shape, *, shuffle_seed: Optional[int] = None,
                cache: bool = False, resize: str = "stretch",
                positions: Optional[tf.data.Dataset] = None) -> tf.data.Dataset:
    """(uint8 image at the model size, target) per sample; bad files dropped.
    `positions`: the source indices to decode, in order (a sampler's); default all, shuffled."""
    h, w, c = _shape3(input_shape)
    _check_resize(resize)
    if len(ds) == 0:
        raise DataError(f"{ds.name}: no usable samples ({ds.skipped} skipped)")
    if positions is not None:
        shuffle_seed = None     # the sampler decided the order
    else:
        positions = tf.data.Dataset.from_tensor_slices(ds.indices.astype(np.int64))
    if shuffle_seed is not None and not cache:
        # Shuffling indexes (not images) is cheap and covers the whole set.
        positions = positions.shuffle(len(ds), seed=shuffle_seed, reshuffle_each_iteration=True)
    src = ds.source
    kind = target_kind(ds.task)
    if isinstance(src, FileSource):
        elements = _decode_files(src, kind, positions, c, len(ds.class_names))
    elif isinstance(src, ArraySource):
        elements = _decode_arrays(src, positions, c)
    elif isinstance(src, GeneratedSource):
        elements = _decode_generated(src, kind, positions, (h, w), c)
    else:  # pragma: no cover - a new reader must add its source here
        raise DataError(f"{ds.name}: unknown source type {type(src).__name__}")
    elements = elements.map(_resize(kind, (h, w), resize), num_parallel_calls=AUTOTUNE)
    # Safety net for files that pass the indexing probe but fail to decode.
    elements = elements.ignore_errors(log_warning=True)
    if cache:
        elements = elements.cache()
        if shuffle_seed is not None:
            elements = elements.shuffle(min(len(ds), 20000), seed=shuffle_seed, reshuffle_each_iteration=True)
    return elements


def _to_model_inputs(kind: TargetKind) -> Callable:
    def finish(image, target):
        return (tf.cast(image, tf.float32) - norm.MEAN) / norm.STD, kind.to_model(target)

    return finish


def make_pipeline(ds: Dataset, *, input_shape, batch_size: int, training: bool,
                  augment: Any = None, seed: int = 0, cache: bool = False,
                  resize: str = "stretch", sampler: Any = None) -> tf.data.Dataset:
    """Batches of (x float32 [B,H,W,C] in [-1,1], y) per docs/ARCHITECTURE.md; one pass = one epoch.

    `sampler` (e.g. `sampling.PKSampler`): draws each batch's samples instead of shuffling
    (validation: the same batches every epoch); batches are then all of the sampler's size."""
    if batch_size <= 0:
        raise DataError(f"batch_size: must be > 0, got {batch_size}")
    if sampler is not None:
        if cache:   # the sampler's stream repeats: caching it would hold every epoch in memory
            raise DataError(f"data.cache: not supported with {sampler.where} batches; set data.cache: false")
        positions, steps, size = sampler.positions(ds, seed, training=training)
        elements = _fixed_size(ds, input_shape, resize=resize, positions=positions)
        batches = elements.batch(size, drop_remainder=True).apply(
            tf.data.experimental.assert_cardinality(steps))
    else:
        elements = _fixed_size(ds, input_shape, shuffle_seed=seed if training else None, cache=cache,
                               resize=resize)
        batches = elements.batch(batch_size)
    if training and augment is not None:
        from edgecv.data.augment import augmenter

        fn = augmenter(augment, target_kind(ds.task), _shape3(input_shape))
        if fn is not None:
            # Augment whole batches (one op per step, not per image): one seed per batch
            # from a seeded stream that changes every epoch.
            seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
            batches = tf.data.Dataset.zip((batches, seeds)).map(
                lambda batch, s: fn(batch[0], batch[1], s), num_parallel_calls=AUTOTUNE)
    batches = batches.map(_to_model_inputs(target_kind(ds.task)), num_parallel_calls=AUTOTUNE)
    return batches.prefetch(AUTOTUNE)


def inference_samples(ds: Dataset, input_shape, resize: str = "stretch") -> tf.data.Dataset:
    """(uint8 image [H,W,C], target) with exactly the inference preprocessing, in dataset order."""
    return _fixed_size(ds, input_shape, resize=resize)


def representative_dataset(ds: Dataset, *, input_shape, samples: int, seed: int = 0,
                           resize: str = "stretch") -> Callable:
    """A callable for TFLiteConverter.representative_dataset: yields [x float32 (1,H,W,C)]."""
    if samples <= 0:
        raise DataError(f"calibration_samples: must be > 0, got {samples}")
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(len(ds), size=min(samples, len(ds)), replace=False))
    subset = ds.subset(chosen)

    def generate():
        for image, _ in inference_samples(subset, input_shape, resize).as_numpy_iterator():
            yield [norm.normalize(image)[None]]

    return generate


def eval_arrays(ds: Dataset, *, input_shape, limit: Optional[int] = None, resize: str = "stretch"):
    """(x uint8 [N,H,W,C], targets) in dataset order; see docs/ARCHITECTURE.md for targets."""
    if limit is not None and limit < len(ds):
        ds = ds.subset(np.arange(limit))
    h, w, c = _shape3(input_shape)
    kind = target_kind(ds.task)
    images, targets = [], []
    for image, target in inference_samples(ds, input_shape, resize).as_numpy_iterator():
        images.append(image)
        targets.append(kind.eval_item(target))
    x = np.stack(images).astype(np.uint8) if images else np.zeros((0, h, w, c), np.uint8)
    return x, kind.collate(targets, (h, w))


def drop_undecodable(ds: Dataset, *, channels: int) -> Dataset:
    """`ds` without the samples TensorFlow cannot decode, each added to `ds.problems`.

    The indexing probe reads only file heads and tails; a JPEG damaged in the middle,
    or a mask with a bad value, shows only when decoded. Decoding everything once up
    front (in parallel, like Ultralytics' label scan) turns those into named, counted
    skips instead of silent drops in every epoch.
    """
    src = ds.source
    if not isinstance(src, FileSource) or len(ds) == 0:
        return ds   # arrays and generated samples cannot fail to decode
    positions = tf.data.Dataset.from_tensor_slices(ds.indices.astype(np.int64))
    # The same decode (and mask checks) training runs, tagged with the sample's position.
    tagged = tf.data.Dataset.zip((positions, _decode_files(src, target_kind(ds.task), positions, channels,
                                                           len(ds.class_names))))
    decoded = tagged.map(lambda i, sample: i, num_parallel_calls=AUTOTUNE).ignore_errors()
    good = set(int(i) for i in decoded.as_numpy_iterator())
    bad = [int(i) for i in ds.indices if int(i) not in good]
    if not bad:
        return ds
    problems = list(ds.problems) + [_decode_problem(src, ds, i, channels) for i in bad]
    keep = np.array([int(i) in good for i in ds.indices])
    return replace(ds, indices=ds.indices[keep], problems=problems)


def _decode_problem(src: FileSource, ds: Dataset, position: int, channels: int) -> Problem:
    """Why this one sample failed the decode pass, named by the file at fault (run eagerly:
    there are few)."""
    path = src.paths[position]
    try:
        image = tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
    except tf.errors.OpError as exc:
        # TF wraps the reason: "{{function_node ...}} Invalid PNG data, size 173 [Op:DecodeImage]"
        message = exc.message.strip().splitlines()[0]
        return Problem(path, "cannot decode: " + re.sub(r"^\{\{[^}]*\}\}\s*|\s*\[Op:\w+\].*$", "", message))
    if src.mask_paths is not None:
        from edgecv.data.check import mask_problem

        mask_path = src.mask_paths[position]
        problem = mask_problem(mask_path, tuple(image.shape[:2]), len(ds.class_names))
        if problem:
            return Problem(mask_path, problem)
    return Problem(path, "cannot decode (or its mask fails the size and class checks)")
