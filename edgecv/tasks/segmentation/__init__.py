"""Segmentation: int masks in, per-pixel softmax out; CE/Dice loss, mIoU, overlays.

- task.py      the task object and `make_task`
- config.py    the recipe's `segmentation:` section
- metrics.py   the one numpy definition of mIoU, Dice, pixel accuracy
- training.py  the tf_keras loss and the Keras metrics that reproduce metrics.py
- draw.py      prediction-vs-truth overlays (OpenCV)
"""
from edgecv.tasks.segmentation.task import (
    SegmentationTask,
    auto_class_weights,
    decode_masks,
    make_task,
    write_overlays,
)

__all__ = ["SegmentationTask", "auto_class_weights", "decode_masks", "make_task", "write_overlays"]
