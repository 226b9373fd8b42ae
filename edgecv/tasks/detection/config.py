"""The recipe's `detection:` section (pydantic only; no TensorFlow)."""
from __future__ import annotations

from typing import Literal, Union

from pydantic import Field

from edgecv.schema import Strict


class DetectionExportSpec(Strict):
    """What the exported files hold: raw heads decoded by edgecv (`postprocess: none`), or
    the decode + NMS in the graph (`nms`: what MediaPipe's ObjectDetector and apps that
    want boxes straight from the interpreter run). Thresholds are the app's, baked into the
    file; the bench scores the float reference with the same ones."""

    postprocess: Literal["none", "nms"] = "none"
    score_threshold: float = Field(0.25, ge=0.0, lt=1.0)
    iou_threshold: float = Field(0.45, gt=0.0, le=1.0)
    max_detections: int = Field(25, gt=0, le=1000)


class DetectionSpec(Strict):
    """YOLO settings; anchors are (width, height) in input pixels, or `auto` (k-means)."""

    anchors: Union[Literal["auto"], list[tuple[float, float]]] = "auto"
    anchors_per_scale: int = Field(3, ge=1, le=9)
    lambda_coord: float = Field(1.0, ge=0.0)                 # BCE xy: 5 (the YOLOv1 value) trains slower
    lambda_noobj: float = Field(0.5, ge=0.0)
    lambda_obj: float = Field(1.0, ge=0.0)
    lambda_class: float = Field(1.0, ge=0.0)
    ignore_threshold: float = Field(0.5, gt=0.0, lt=1.0)
    score_threshold: float = Field(0.001, ge=0.0, lt=1.0)   # for mAP; apps raise it
    iou_threshold: float = Field(0.45, gt=0.0, le=1.0)
    max_detections: int = Field(100, gt=0)
    max_boxes: int = Field(20, gt=0)                         # padding per image in the pipeline
    export: DetectionExportSpec = Field(default_factory=DetectionExportSpec)
