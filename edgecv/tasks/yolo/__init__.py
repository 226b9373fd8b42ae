"""YOLO detection pieces, one job per module.

- postprocess.py  numpy only (no TensorFlow, no edgecv): IoU, decoding of raw
                  heads, per-class NMS. Self-contained so it can travel with
                  edgecv/bench/runner.py to a device.
- anchors.py      k-means anchors with the 1 - IoU distance (numpy).
- targets.py      padded boxes -> per-output YOLO targets (numpy).
- loss.py         the YOLOv3 loss (TensorFlow).
- evaluate.py     mAP@0.5 and mAP@0.5:0.95 through pycocotools.
- drawing.py      sample images with drawn boxes (OpenCV).
"""
