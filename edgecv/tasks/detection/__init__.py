"""Detection: Tiny-YOLO anchors, targets, loss, decoding, NMS, mAP and drawing.

- task.py         the task object (workflow hooks, scoring) and `make_task`
- config.py       the recipe's `detection:` section
- postprocess.py  numpy only (no TensorFlow, no edgecv): IoU, decoding of raw heads,
                  per-class NMS; self-contained so it can travel with the bench runner
- anchors.py      k-means anchors with the 1 - IoU distance (numpy)
- targets.py      padded boxes -> per-output YOLO targets (numpy)
- loss.py         the YOLOv3 loss (TensorFlow)
- evaluate.py     mAP@0.5 and mAP@0.5:0.95 through pycocotools
- draw.py         sample images with drawn boxes (OpenCV)
- commands.py     `edgecv data anchors`
"""
from edgecv.tasks.detection.task import DetectionTask, make_task, training_box_sizes

__all__ = ["DetectionTask", "make_task", "training_box_sizes"]
