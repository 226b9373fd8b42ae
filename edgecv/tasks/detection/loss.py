"""The YOLOv3 loss for one head, in TensorFlow (targets from edgecv.tasks.detection.targets).

Per anchor of every cell, summed over the image, averaged over the batch by Keras:
- coordinates (responsible anchors only, weighted by 2 - w*h so small boxes count):
  lambda_coord * [BCE(sigmoid(t_xy), offset in the cell) + 0.5 * (t_wh - log(wh / anchor))^2]
- objectness: lambda_obj * BCE for responsible anchors, lambda_noobj * BCE for the
  others unless their decoded box already overlaps a ground-truth box by more than
  the ignore threshold (those are neither pushed up nor down);
- classes: lambda_class * BCE per class (multilabel, as in YOLOv3).
"""
from __future__ import annotations

from typing import Optional, Sequence

from edgecv.tasks.detection.targets import CELL_VALUES, HeadLayout


def make_loss(heads: Sequence[HeadLayout], input_hw: Sequence[int], num_classes: Optional[int], spec):
    """A Keras loss `fn(y_true, y_pred)` for any of `heads`; the head is recognised by the
    prediction's static grid size, so one function serves every output. Without
    `num_classes` the class count is read from the head's channels."""
    import tensorflow as tf

    by_grid = {(h.grid_h, h.grid_w): h for h in heads}
    if len(by_grid) != len(heads):
        raise ValueError(f"heads must have distinct grid sizes, got {[(h.grid_h, h.grid_w) for h in heads]}")

    def yolo_loss(y_true, y_pred):
        head = _which_head(heads, by_grid, y_true, y_pred, spec.max_boxes)
        grid = (head.grid_h, head.grid_w)
        channels = int(y_pred.shape[-1])
        classes = num_classes if num_classes is not None else channels // head.num_anchors - 5
        if channels != head.num_anchors * (5 + classes) or classes < 1:
            raise ValueError(f"head {grid[0]}x{grid[1]} has {channels} channels, expected "
                             f"{head.num_anchors} anchors x (5 + classes); does model.num_anchors "
                             f"match detection.anchors_per_scale?")
        return head_loss(tf, y_true, y_pred, head, input_hw, classes, spec)

    return yolo_loss


def _which_head(heads, by_grid, y_true, y_pred, max_boxes: int) -> HeadLayout:
    """The head of this output: by the prediction's grid when its shape is static, else by
    the target's length (cells + 4 * max_boxes; images may reach the model with unknown
    height and width after augmentation)."""
    grid = tuple(y_pred.shape[1:3])
    if None not in grid:
        if grid not in by_grid:
            raise ValueError(f"no head with a {grid[0]}x{grid[1]} grid; known: {sorted(by_grid)}")
        return by_grid[grid]
    length = y_true.shape[-1]
    matches = [h for h in heads if h.target_size(max_boxes) == length]
    if len(matches) != 1:
        raise ValueError(f"cannot tell which head a target of length {length} belongs to "
                         f"(prediction shape {y_pred.shape})")
    return matches[0]


def head_loss(tf, y_true, y_pred, head: HeadLayout, input_hw, num_classes: int, spec):
    gh, gw, anchors_n = head.grid_h, head.grid_w, head.num_anchors
    y_pred = tf.cast(y_pred, tf.float32)
    y_true = tf.cast(y_true, tf.float32)
    batch = tf.shape(y_pred)[0]
    pred = tf.reshape(y_pred, [batch, gh, gw, anchors_n, 5 + num_classes])
    n_cells = head.cell_size()
    cells = tf.reshape(y_true[:, :n_cells], [batch, gh, gw, anchors_n, CELL_VALUES])
    true_boxes = tf.reshape(y_true[:, n_cells:], [batch, 1, 1, 1, -1, 4])

    obj = cells[..., 4:5]
    true_cxcy, true_wh = cells[..., 0:2], cells[..., 2:4]
    grid_xy = tf.cast(tf.stack(tf.meshgrid(tf.range(gw), tf.range(gh)), axis=-1), tf.float32)
    grid_xy = grid_xy[None, :, :, None, :]                       # [1, GH, GW, 1, (col, row)]
    grid_wh = tf.constant([gw, gh], tf.float32)
    anchors = tf.constant([[w / input_hw[1], h / input_hw[0]] for w, h in head.anchors], tf.float32)

    # Coordinates, responsible anchors only.
    offset = tf.clip_by_value(true_cxcy * grid_wh - grid_xy, 0.0, 1.0)
    t_wh = tf.math.log(tf.maximum(true_wh, 1e-9) / anchors) * obj
    box_scale = 2.0 - true_wh[..., 0:1] * true_wh[..., 1:2]
    xy_loss = tf.nn.sigmoid_cross_entropy_with_logits(labels=offset, logits=pred[..., 0:2])
    wh_loss = 0.5 * tf.square(t_wh - pred[..., 2:4])
    coord = obj * box_scale * (xy_loss + wh_loss)

    # Ignore mask: predicted boxes that already overlap some true box well.
    pred_cxcy = (tf.sigmoid(pred[..., 0:2]) + grid_xy) / grid_wh
    pred_wh = anchors * tf.exp(tf.clip_by_value(pred[..., 2:4], -10.0, 8.0))
    pred_boxes = tf.concat([pred_cxcy - pred_wh / 2, pred_cxcy + pred_wh / 2], axis=-1)[..., None, :]
    top_left = tf.maximum(pred_boxes[..., :2], true_boxes[..., :2])
    bottom_right = tf.minimum(pred_boxes[..., 2:], true_boxes[..., 2:])
    inter = tf.reduce_prod(tf.maximum(bottom_right - top_left, 0.0), axis=-1)
    area_pred = tf.reduce_prod(pred_boxes[..., 2:] - pred_boxes[..., :2], axis=-1)
    area_true = tf.reduce_prod(true_boxes[..., 2:] - true_boxes[..., :2], axis=-1)
    iou = inter / tf.maximum(area_pred + area_true - inter, 1e-9)
    best_iou = tf.reduce_max(iou, axis=-1, keepdims=True) if iou.shape[-1] else tf.zeros_like(obj)
    ignore = tf.stop_gradient(tf.cast(best_iou < spec.ignore_threshold, tf.float32))

    obj_bce = tf.nn.sigmoid_cross_entropy_with_logits(labels=obj, logits=pred[..., 4:5])
    objectness = spec.lambda_obj * obj * obj_bce + spec.lambda_noobj * (1.0 - obj) * ignore * obj_bce

    class_ids = tf.cast(cells[..., 5], tf.int32)
    one_hot = tf.one_hot(class_ids, num_classes)
    class_bce = tf.nn.sigmoid_cross_entropy_with_logits(labels=one_hot, logits=pred[..., 5:])
    classes = obj * class_bce

    per_anchor = (spec.lambda_coord * tf.reduce_sum(coord, -1) + tf.reduce_sum(objectness, -1)
                  + spec.lambda_class * tf.reduce_sum(classes, -1))
    return tf.reduce_sum(per_anchor, axis=[1, 2, 3])
