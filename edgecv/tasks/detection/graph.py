"""Optional in-graph YOLO post-processing (recipe `detection.export.postprocess: nms`):
raw heads -> fixed-size detections, with builtin TFLite ops only (NON_MAX_SUPPRESSION_V5,
never Flex or custom ops), in the layout MediaPipe's ObjectDetector reads from a model
with in-model NMS: four outputs `location (1, D, 4)`, `category (1, D)`, `score (1, D)`,
`number_of_detections (1,)`, all float32 (MediaPipe reads the count and the classes as
floats).

It follows the decoding conventions of postprocess.py (channels tx, ty, tw, th, obj,
classes; anchors in input pixels, grouped finest grid first) but keeps one class per box
(the best; `postprocess.detect(..., multilabel=False)` is its numpy twin, which scores the
float reference the same way), with per-class NMS done by offsetting boxes by class so
that boxes of different classes never overlap.
"""
from __future__ import annotations

from typing import Sequence

from edgecv.errors import ExportError

# Keras output names, hence the file's signature output names: the standard metadata is
# matched to them by name (`app_outputs`), and they are the order MediaPipe defaults to.
LOCATION, CATEGORY, SCORE, COUNT = "location", "category", "score", "number_of_detections"
OUTPUT_KEYS = (LOCATION, CATEGORY, SCORE, COUNT)

# exp() argument clip, as in postprocess.decode_head: a saturated head must not overflow.
_EXP_MIN, _EXP_MAX = -10.0, 8.0


def with_postprocess(model, anchor_groups: Sequence[Sequence[Sequence[float]]], *,
                     num_classes: int, score_threshold: float = 0.25,
                     iou_threshold: float = 0.45, max_detections: int = 100):
    """Wrap a detection model (batch 1) so that it outputs OUTPUT_KEYS: boxes normalised
    x1, y1, x2, y2 (left, top, right, bottom), class index, score, count; rows past the
    count are zero padding."""
    import tensorflow as tf
    import tf_keras as keras

    heads = model.outputs
    if len(heads) != len(anchor_groups):
        raise ExportError(f"{len(heads)} output heads but {len(anchor_groups)} anchor groups")
    h_in, w_in = (int(d) for d in model.input_shape[1:3])
    # finest grid first, as the anchor groups are
    order = sorted(range(len(heads)), key=lambda i: -int(heads[i].shape[1]) * int(heads[i].shape[2]))
    for rank, i in enumerate(order):
        ch = int(heads[i].shape[-1])
        if ch != len(anchor_groups[rank]) * (5 + num_classes):
            raise ExportError(f"head {i} has {ch} channels, expected {len(anchor_groups[rank])} "
                              f"anchors x (5 + {num_classes})")

    def decode(outputs):
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        boxes, scores = [], []
        for rank, i in enumerate(order):
            out = outputs[i]
            anchors = tf.constant(anchor_groups[rank], tf.float32)
            a = len(anchor_groups[rank])
            gh, gw = int(out.shape[1]), int(out.shape[2])
            raw = tf.reshape(out, [1, gh, gw, a, 5 + num_classes])
            cols = tf.reshape(tf.range(gw, dtype=tf.float32), [1, 1, gw, 1])
            rows = tf.reshape(tf.range(gh, dtype=tf.float32), [1, gh, 1, 1])
            cx = (tf.sigmoid(raw[..., 0]) + cols) / gw
            cy = (tf.sigmoid(raw[..., 1]) + rows) / gh
            w = anchors[:, 0] / w_in * tf.exp(tf.clip_by_value(raw[..., 2], _EXP_MIN, _EXP_MAX))
            h = anchors[:, 1] / h_in * tf.exp(tf.clip_by_value(raw[..., 3], _EXP_MIN, _EXP_MAX))
            box = tf.clip_by_value(tf.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1),
                                   0.0, 1.0)
            prob = tf.sigmoid(raw[..., 4:5]) * tf.sigmoid(raw[..., 5:])
            boxes.append(tf.reshape(box, [-1, 4]))
            scores.append(tf.reshape(prob, [-1, num_classes]))
        boxes = tf.concat(boxes, 0)
        scores = tf.concat(scores, 0)
        best = tf.reduce_max(scores, -1)
        cls = tf.cast(tf.argmax(scores, -1), tf.float32)
        # NMS within each class: shift each class's boxes into its own square.
        shifted = boxes + (cls * 2.0)[:, None]
        keep, kept_scores, count = tf.raw_ops.NonMaxSuppressionV5(
            boxes=shifted, scores=best, max_output_size=max_detections,
            iou_threshold=iou_threshold, score_threshold=score_threshold,
            soft_nms_sigma=0.0, pad_to_max_output_size=True)
        valid = tf.cast(tf.range(max_detections) < count, tf.float32)
        out_boxes = tf.gather(boxes, keep) * valid[:, None]
        out_scores = kept_scores * valid
        out_classes = tf.gather(cls, keep) * valid
        return (out_boxes[None], out_classes[None], out_scores[None],
                tf.reshape(tf.cast(count, tf.float32), [1]))

    inp = keras.Input(batch_size=1, shape=model.input_shape[1:])
    raw = model(inp, training=False)
    decoded = keras.layers.Lambda(decode, name="yolo_postprocess")(raw)
    # Identity layers only to name the outputs (a Lambda's outputs share its name).
    outputs = [keras.layers.Activation("linear", name=key)(t) for key, t in zip(OUTPUT_KEYS, decoded)]
    return keras.Model(inp, outputs, name=f"{model.name}_postprocess")
