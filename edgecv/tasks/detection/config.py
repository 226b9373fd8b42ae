"""The recipe's `detection:` section (pydantic only; no TensorFlow)."""
from __future__ import annotations

from typing import ClassVar, Literal, Union

from pydantic import Field

from edgecv.schema import KeyProblem, Strict

# Why integer formats cannot hold the in-graph NMS: one message for the recipe check and
# for `edgecv export --format int8`.
NMS_NOT_INTEGER = ("puts NON_MAX_SUPPRESSION_V5 in the graph, which has no integer kernel: the "
                   "converter leaves it (and the decode before it) in float, so the file is not "
                   "full-integer; export float32, float16 or dynamic, or set postprocess: none")


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

    # Keys read only after training: `edgecv train --resume` may change them (edgecv.recipe).
    RESUME_SAFE: ClassVar[tuple[str, ...]] = ("export",)

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

    def check_formats(self, integer_formats: list[str]) -> None:
        """KeyProblem when the recipe asks for in-graph NMS in a full-integer format."""
        if self.export.postprocess == "nms" and integer_formats:
            raise KeyProblem(("detection", "export", "postprocess"),
                             f"nms with export.formats {', '.join(integer_formats)}: {NMS_NOT_INTEGER}")
