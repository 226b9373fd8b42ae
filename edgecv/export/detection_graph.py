"""Optional in-graph YOLO post-processing: raw heads -> fixed-size detections, using
only builtin TFLite ops (NON_MAX_SUPPRESSION_V5, never Flex ops).

The default stays decoding outside the graph (edgecv.tasks.detection.postprocess, numpy),
which is exact multilabel per-class NMS and works for int8 files. This variant is for
float exports to apps that want boxes straight out of the interpreter. It follows the
same decoding conventions as postprocess.py (channels tx, ty, tw, th, obj, classes;
anchors in input pixels, grouped finest grid first) but keeps one class per box (the
best), with per-class NMS done by offsetting boxes by class so classes never overlap.
"""
from __future__ import annotations

from typing import Sequence

from edgecv.errors import ExportError

# exp() argument clip, as in postprocess.decode_head: a saturated head must not overflow.
_EXP_MIN, _EXP_MAX = -10.0, 8.0


def with_postprocess(model, anchor_groups: Sequence[Sequence[Sequence[float]]], *,
                     num_classes: int, score_threshold: float = 0.25,
                     iou_threshold: float = 0.45, max_detections: int = 100):
    """Wrap a detection model (batch 1) so it outputs
    `boxes (1, D, 4)` normalised x1,y1,x2,y2, `scores (1, D)`, `classes (1, D)` float,
    `count (1,)` int32; rows past `count` are zero padding."""
    import tensorflow as tf
    import tf_keras as keras

    heads = model.outputs
    if len(heads) != len(anchor_groups):
        raise ExportError(f"{len(heads)} output heads but {len(anchor_groups)} anchor groups")
    h_in, w_in = (int(d) for d in model.input_shape[1:3])
    # finest grid first, as the anchor groups are
    order = sorted(range(len(heads)), key=lambda i: -int(heads[i].shape[1]) * int(heads[i].shape[2]))
    for rank, i in enumerate(order):
        gh, gw, ch = (int(d) for d in heads[i].shape[1:])
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
        return (out_boxes[None], out_scores[None], out_classes[None],
                tf.reshape(count, [1]))

    inp = keras.Input(batch_size=1, shape=model.input_shape[1:])
    raw = model(inp, training=False)
    outs = keras.layers.Lambda(decode, name="yolo_postprocess")(raw)
    return keras.Model(inp, list(outs), name=f"{model.name}_postprocess")
