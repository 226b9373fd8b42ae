"""Target kinds: what one sample is annotated with, and everything the data layer does to it.

The data layer never branches on task names: a task names its target kind in the task
table (`edgecv.tasks.table`), and the pipeline, augmentation, evaluation arrays and the
eval-set npz call that kind's methods. Three kinds serve every task:

  label  int class id per image                 (classification; embedding identities)
  boxes  (boxes float32 [M, 4] normalised x1,y1,x2,y2, classes int32 [M], -1 = padding)
  mask   uint8 [H, W] class id per pixel, VOID (255) = unlabelled

TensorFlow is imported inside the methods that build graph ops (called once per
pipeline), so the npz side stays numpy-only for the bench.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from edgecv.data.dataset import VOID
from edgecv.errors import BenchError
from edgecv.tasks.table import target_of


class TargetKind:
    name: str

    # ------------------------------------------------------------ reading (tf.data)
    def from_files(self, src: Any, num_classes: int):
        """fn(i, image) -> target for sample i of a FileSource (graph ops)."""
        raise NotImplementedError

    def generated_types(self) -> list:
        """tf dtypes of the arrays `stack_generated` returns."""
        raise NotImplementedError

    def stack_generated(self, targets: Sequence[Any]) -> list[np.ndarray]:
        """A chunk of generated targets -> batched numpy arrays."""
        raise NotImplementedError

    def unpack_generated(self, arrays: Sequence[Any], size: tuple[int, int], max_objects: int) -> Any:
        """The arrays back into this kind's target, with static shapes set."""
        raise NotImplementedError

    # ------------------------------------------------------------ geometry
    def stretch(self, target: Any, size: tuple[int, int]) -> Any:
        """Each image axis scaled on its own to `size`."""
        return target

    def letterbox(self, target: Any, new_hw: Any, pad: list, out_hw: tuple[int, int]) -> Any:
        """Scaled by one factor to new_hw, then padded by pad [[top, bottom], [left, right]]."""
        return target

    def warp(self, target: Any, matrix: Any, height: int, width: int) -> Any:
        """The augmentation's [n, 3, 3] affine matrices applied to a batch of targets."""
        return target

    def fix_shape(self, target: Any, size: tuple[int, int]) -> Any:
        return target

    # ------------------------------------------------------------ to the model
    def to_model(self, target: Any) -> Any:
        """What the loss receives (see docs/ARCHITECTURE.md, make_pipeline)."""
        import tensorflow as tf

        return tf.cast(target, tf.int32)

    # ------------------------------------------------------------ evaluation arrays
    def eval_item(self, target: Any) -> Any:
        """One sample's target as `eval_arrays` returns it."""
        return target

    def collate(self, items: list, size: tuple[int, int]) -> Any:
        raise NotImplementedError

    # ------------------------------------------------------------ eval-set npz
    def to_npz(self, where: str, targets: Any, n: int) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def from_npz(self, data: dict[str, np.ndarray], n: int) -> Any:
        raise NotImplementedError


class LabelTarget(TargetKind):
    name = "label"

    def from_files(self, src, num_classes):
        import tensorflow as tf

        labels = tf.constant(src.labels, tf.int32)
        return lambda i, image: labels[i]

    def generated_types(self):
        import tensorflow as tf

        return [tf.int32]

    def stack_generated(self, targets):
        return [np.asarray(targets, dtype=np.int32).reshape(-1)]

    def unpack_generated(self, arrays, size, max_objects):
        (labels,) = arrays
        labels.set_shape([None])
        return labels

    def collate(self, items, size):
        return np.asarray(items, dtype=np.int32).reshape(-1)

    def to_npz(self, where, targets, n):
        labels = np.asarray(targets, dtype=np.int32).reshape(-1)
        if len(labels) != n:
            raise BenchError(f"{where}: {len(labels)} labels for {n} images")
        return {"labels": labels}

    def from_npz(self, data, n):
        return data["labels"].astype(np.int32)


class BoxesTarget(TargetKind):
    name = "boxes"

    def from_files(self, src, num_classes):
        import tensorflow as tf

        boxes = tf.constant(src.boxes, tf.float32)
        classes = tf.constant(src.classes, tf.int32)
        return lambda i, image: (boxes[i], classes[i])

    def generated_types(self):
        import tensorflow as tf

        return [tf.float32, tf.int32]

    def stack_generated(self, targets):
        return [np.stack([t[0] for t in targets]), np.stack([t[1] for t in targets])]

    def unpack_generated(self, arrays, size, max_objects):
        boxes, classes = arrays
        boxes.set_shape([None, max_objects, 4])
        classes.set_shape([None, max_objects])
        return boxes, classes

    def letterbox(self, target, new_hw, pad, out_hw):
        import tensorflow as tf

        out_h, out_w = out_hw
        top, left = pad[0][0], pad[1][0]
        boxes, classes = target
        frame = tf.cast(tf.stack([out_w, out_h, out_w, out_h]), tf.float32)
        shown = tf.cast(tf.stack([new_hw[1], new_hw[0], new_hw[1], new_hw[0]]), tf.float32)
        offset = tf.cast(tf.stack([left, top, left, top]), tf.float32)
        boxes = tf.where(classes[:, None] >= 0, (boxes * shown + offset) / frame, boxes)
        return boxes, classes

    def warp(self, target, matrix, height, width):
        from edgecv.data.augment import transform_boxes

        return transform_boxes(target[0], target[1], matrix, height, width)

    def to_model(self, target):
        boxes, classes = target
        return {"boxes": boxes, "classes": classes}

    def eval_item(self, target):
        boxes, classes = target
        keep = classes >= 0
        return boxes[keep].astype(np.float32), classes[keep].astype(np.int32)

    def collate(self, items, size):
        return items

    def to_npz(self, where, targets, n):
        # Flattened with an image index: images hold different numbers of boxes, and a
        # ragged object array would need pickle.
        targets = list(targets)
        if len(targets) != n:
            raise BenchError(f"{where}: {len(targets)} box lists for {n} images")
        boxes, classes, image = [], [], []
        for i, (b, c) in enumerate(targets):
            b = np.asarray(b, dtype=np.float32).reshape(-1, 4)
            c = np.asarray(c, dtype=np.int32).reshape(-1)
            if len(b) != len(c):
                raise BenchError(f"{where}: image {i} has {len(b)} boxes but {len(c)} classes")
            boxes.append(b)
            classes.append(c)
            image.append(np.full(len(c), i, dtype=np.int32))
        return {
            "det_boxes": np.concatenate(boxes) if boxes else np.zeros((0, 4), np.float32),
            "det_classes": np.concatenate(classes) if classes else np.zeros(0, np.int32),
            "det_image": np.concatenate(image) if image else np.zeros(0, np.int32),
        }

    def from_npz(self, data, n):
        return [(data["det_boxes"][data["det_image"] == i], data["det_classes"][data["det_image"] == i])
                for i in range(n)]


class MaskTarget(TargetKind):
    name = "mask"

    def from_files(self, src, num_classes):
        import tensorflow as tf

        from edgecv.data.images import read_index_mask

        def mask_array(i):
            i = int(i)
            if src.mask_fn is not None:
                return np.asarray(src.mask_fn(i), dtype=np.uint8)
            return read_index_mask(src.mask_paths[i])

        def load(i, image):
            mask = tf.numpy_function(mask_array, [i], tf.uint8, stateful=False)
            mask.set_shape([None, None])
            # A mask of another size than its image, or with values past the last class (other
            # than VOID), is a bad sample: the failed check drops it instead of breaking the loss.
            known = tf.logical_or(tf.cast(mask, tf.int32) < num_classes, mask == VOID)
            with tf.control_dependencies([
                tf.debugging.assert_equal(tf.shape(mask), tf.shape(image)[:2],
                                          message="mask size differs from image"),
                tf.debugging.assert_equal(tf.reduce_all(known), True,
                                          message="mask value beyond the class count"),
            ]):
                return tf.identity(mask)

        return load

    def generated_types(self):
        import tensorflow as tf

        return [tf.uint8]

    def stack_generated(self, targets):
        return [np.stack([np.asarray(t) for t in targets]).astype(np.uint8)]

    def unpack_generated(self, arrays, size, max_objects):
        (masks,) = arrays
        masks.set_shape([None, *size])
        return masks

    def stretch(self, target, size):
        import tensorflow as tf

        return tf.image.resize(target[..., None], size, method="nearest")[..., 0]

    def letterbox(self, target, new_hw, pad, out_hw):
        import tensorflow as tf

        target = tf.image.resize(target[..., None], new_hw, method="nearest")[..., 0]
        return tf.pad(target, pad, constant_values=VOID)

    def warp(self, target, matrix, height, width):
        import tensorflow as tf

        from edgecv.data.augment import MASK_FILL, warp

        masks = warp(tf.cast(target, tf.int32)[..., None], matrix, nearest=True, fill=MASK_FILL)
        return tf.cast(masks[..., 0], target.dtype)

    def fix_shape(self, target, size):
        import tensorflow as tf

        return tf.ensure_shape(target, size)

    def collate(self, items, size):
        return np.stack(items).astype(np.uint8) if items else np.zeros((0, *size), np.uint8)

    def to_npz(self, where, targets, n):
        masks = np.asarray(targets)
        if masks.ndim != 3 or len(masks) != n:
            raise BenchError(f"{where}: masks must be [N,H,W] with N={n}, got {list(masks.shape)}")
        return {"masks": masks.astype(np.uint8)}

    def from_npz(self, data, n):
        return data["masks"]


TARGETS: dict[str, TargetKind] = {kind.name: kind for kind in (LabelTarget(), BoxesTarget(), MaskTarget())}


def target_kind(task: str) -> TargetKind:
    """The target kind a task's samples carry."""
    return TARGETS[target_of(task)]
