"""Detection: Tiny-YOLO targets, loss, decoding, per-class NMS and COCO mAP.

The model emits raw heads `(N, GH, GW, A * (5 + C))` (docs/ARCHITECTURE.md); all
YOLO logic lives here and in `edgecv.tasks.detection`:
- `prepare` encodes the pipeline's padded boxes into one target per head;
- `loss` is the YOLOv3 loss with the recipe's `detection:` weights;
- `score` decodes (numpy), runs per-class NMS and reports pycocotools mAP@0.5
  (the report's metric), mAP@0.5:0.95 and AP@0.5 per class.

Anchors are `(w, h)` in input pixels, grouped per head with the finest grid first.
`detection.anchors: auto` is resolved from the training boxes by k-means:
`task = task.adapt_to_data(train_set)` before `prepare`/`loss` (the workflow
does it right after loading the data). `export_metadata()` gives what a .tflite
file must carry so that `make_task(metadata)` can decode without the recipe.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from edgecv.errors import BenchError, DataError, ExportError, RecipeError
from edgecv.tasks.base import Task
from edgecv.tasks.detection.config import DetectionSpec
from edgecv.tasks.detection import postprocess
from edgecv.tasks.detection.anchors import group_anchors, kmeans_anchors, mean_best_iou

ANCHOR_SAMPLES = 2000      # training images read for `anchors: auto`
SAMPLE_IMAGES = 8          # images drawn by write_examples
DISPLAY_SCORE = 0.3        # drawn detections: the mAP threshold (0.001) would draw noise

AnchorGroups = tuple[tuple[tuple[float, float], ...], ...]


@dataclass
class DetectionTask(Task):
    spec: DetectionSpec = field(default_factory=DetectionSpec)
    input_shape: Optional[tuple[int, int, int]] = None
    anchor_groups: Optional[AnchorGroups] = None     # finest head first; None until resolved
    arch: Optional[str] = None                        # to learn the heads' grids without a model
    model_kwargs: dict = field(default_factory=dict)
    grids: Optional[tuple[tuple[int, int], ...]] = None   # (GH, GW) per model output, model order
    anchor_fit: Optional[float] = None                # mean best IoU of the training boxes (auto anchors)
    resize: str = "stretch"                           # recipe data.resize: how boxes reach input pixels
    name: str = "detection"
    monitor: str = "val_loss"
    mode: str = "min"

    # ------------------------------------------------------------ training
    def loss(self, recipe: Any = None):
        from edgecv.tasks.detection.loss import make_loss

        return make_loss(self.head_layouts(), self._input_hw(), self._num_classes(recipe), self.spec)

    def metrics(self) -> list:
        return []   # mAP needs decoding + NMS over the whole set: computed by `score`, not per batch

    def prepare(self, dataset: Any, model: Any) -> Any:
        """(x, {"boxes", "classes"}) batches -> (x, target per head) in the model's output order."""
        import tensorflow as tf

        from edgecv.tasks.detection.targets import encode_targets

        heads = self.head_layouts(model)
        input_hw = self._input_hw()
        max_boxes = self.spec.max_boxes   # fixed target length: the loss recognises heads by it

        def encode(boxes, classes):
            return encode_targets(boxes, classes, heads, input_hw, max_boxes)

        def to_targets(x, y):
            encoded = tf.numpy_function(encode, [y["boxes"], y["classes"]], [tf.float32] * len(heads),
                                        stateful=False)
            for tensor, head in zip(encoded, heads):
                tensor.set_shape([None, head.target_size(max_boxes)])
            return x, (encoded[0] if len(heads) == 1 else tuple(encoded))

        return dataset.map(to_targets, num_parallel_calls=tf.data.AUTOTUNE)

    # ------------------------------------------------------------ scoring
    def detect(self, outputs: Sequence[np.ndarray], num_classes: Optional[int] = None,
               score_threshold: Optional[float] = None) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Model outputs -> per image (boxes [k, 4] normalised x1,y1,x2,y2, scores [k], classes [k]).

        Raw heads are decoded here (with the in-graph NMS's thresholds and one class per box
        when the files carry it, so that the float reference is scored as they are); the
        outputs of a file with in-graph NMS are already detections."""
        outputs = [np.asarray(o, dtype=np.float32) for o in outputs]
        if postprocess.is_nms_layout([o.shape for o in outputs]):
            rows = postprocess.nms_rows(outputs)
            if score_threshold is not None:   # drawing raises it; never lowered below the file's
                rows = [(b[s >= score_threshold], s[s >= score_threshold], c[s >= score_threshold])
                        for b, s, c in rows]
            return rows
        groups = self._require_anchors()
        if num_classes is None:
            num_classes = outputs[0].shape[-1] // len(groups[0]) - 5
        in_graph = self.in_graph_nms()
        options = self.spec.export if in_graph else self.spec
        try:
            return postprocess.detect(
                outputs, groups, self._input_hw(), num_classes,
                score_threshold=options.score_threshold if score_threshold is None else score_threshold,
                iou_threshold=options.iou_threshold, max_detections=options.max_detections,
                multilabel=not in_graph)
        except ValueError as exc:
            raise BenchError(f"detection outputs do not match the anchors: {exc}") from None

    def in_graph_nms(self) -> bool:
        """True when the exported files hold the decode + NMS (`detection.export.postprocess: nms`)."""
        return self.spec.export.postprocess == "nms"

    def score(self, outputs: Sequence[np.ndarray], targets: Any, class_names: Sequence[str]) -> dict:
        from edgecv.tasks.detection.evaluate import coco_map

        detections = self.detect(outputs, len(class_names))
        limit = self.spec.export.max_detections if self.in_graph_nms() else self.spec.max_detections
        result = coco_map(detections, list(targets), list(class_names), image_size=self._input_hw(),
                          max_detections=limit)
        return {"metric": "mAP50", "value": result["map50"], **result}

    def write_examples(self, run_dir, x_uint8, outputs, targets, class_names, *, limit: int = SAMPLE_IMAGES):
        """Images with truth (green) and detections scoring >= DISPLAY_SCORE under run_dir/samples/."""
        from edgecv.tasks.detection.draw import write_sample_images

        count = min(limit, len(x_uint8))
        outputs = [np.asarray(o)[:count] for o in outputs]
        detections = self.detect(outputs, len(class_names), score_threshold=DISPLAY_SCORE)
        return write_sample_images(run_dir, np.asarray(x_uint8)[:count], detections, list(targets)[:count],
                                   class_names, limit=count)

    # ------------------------------------------------------------ anchors and heads
    def adapt_to_data(self, train_set: Any, model: Any = None) -> "DetectionTask":
        """Fix `auto` anchors by k-means on the training boxes (anchors_per_scale x heads of
        them); returns self when the anchors are already known."""
        if self.anchor_groups is not None:
            return self
        heads = len(self._grids(model))
        k = self.spec.anchors_per_scale * heads
        wh = training_box_sizes(train_set, self._input_shape(), resize=self.resize)
        try:
            anchors = kmeans_anchors(wh, k, seed=0)
        except ValueError as exc:
            raise DataError(f"detection.anchors: auto: {exc} ({len(wh)} boxes read from "
                            f"{getattr(train_set, 'name', 'the training data')})") from None
        return replace(self, anchor_groups=_as_groups(group_anchors(anchors, heads)),
                       anchor_fit=mean_best_iou(wh, anchors))

    def head_layouts(self, model: Any = None) -> list:
        """One HeadLayout per model output, in the model's output order."""
        from edgecv.tasks.detection.targets import HeadLayout

        grids = self._grids(model)
        groups = self._require_anchors()
        if len(groups) != len(grids):
            raise RecipeError(f"detection.anchors: {len(groups)} anchor group(s) of "
                              f"{self.spec.anchors_per_scale} for a model with {len(grids)} output head(s); "
                              f"give {self.spec.anchors_per_scale * len(grids)} anchors or use auto")
        finest_first = sorted(range(len(grids)), key=lambda i: -grids[i][0] * grids[i][1])
        rank = {head: r for r, head in enumerate(finest_first)}
        return [HeadLayout(gh, gw, groups[rank[i]]) for i, (gh, gw) in enumerate(grids)]

    def export_metadata(self, model: Any = None) -> dict:
        """What a .tflite needs to be decoded without the recipe (`make_task(metadata)` reads it)."""
        groups = self._require_anchors()
        grids = sorted(self._grids(model), key=lambda g: -g[0] * g[1])
        h, _ = self._input_hw()
        strides = [h // gh for gh, _ in grids]
        anchors = [[list(a) for a in group] for group in groups]
        detection = {
            "format": "yolo",
            "input_shape": list(self._input_shape()),
            "anchors": anchors,            # per head, finest grid first, (w, h) input pixels
            "strides": strides,
            "layout": "per anchor: tx, ty, tw, th, objectness, class logits (raw, no activation)",
            "score_threshold": self.spec.score_threshold,
            "iou_threshold": self.spec.iou_threshold,
            "max_detections": self.spec.max_detections,
        }
        if self.in_graph_nms():
            from edgecv.tasks.detection.graph import OUTPUT_KEYS

            detection["postprocess"] = {
                "kind": "nms", "outputs": list(OUTPUT_KEYS),
                "layout": "location (1, D, 4) x1, y1, x2, y2 in [0, 1]; category (1, D) class index; "
                          "score (1, D); number_of_detections (1,); all float32, rows past the count zero",
                **self.spec.export.model_dump(exclude={"postprocess"})}
        return {"anchors": anchors, "strides": strides, "detection": detection}

    def restore(self, recorded: dict) -> "DetectionTask":
        """`auto` anchors read back from an earlier export's metadata (the in-graph NMS needs them)."""
        anchors = (recorded.get("detection") or {}).get("anchors", recorded.get("anchors"))
        if self.anchor_groups is not None or anchors is None:
            return self
        return replace(self, anchor_groups=_as_groups(anchors))

    def exported_model(self, model: Any, *, integer: bool = False) -> Any:
        """With `detection.export.postprocess: nms`, the model wrapped with the in-graph
        decode + NMS (graph.py); else the model as trained (raw heads)."""
        if not self.in_graph_nms():
            return model
        if integer:
            from edgecv.tasks.detection.config import NMS_NOT_INTEGER

            raise ExportError(f"detection.export.postprocess: nms {NMS_NOT_INTEGER}")
        from edgecv.tasks.detection.graph import with_postprocess

        num_classes = int(model.outputs[0].shape[-1]) // len(self._require_anchors()[0]) - 5
        options = self.spec.export
        return with_postprocess(model, self._require_anchors(), num_classes=num_classes,
                                score_threshold=options.score_threshold,
                                iou_threshold=options.iou_threshold,
                                max_detections=options.max_detections)

    def app_outputs(self, keys):
        """The in-graph NMS outputs as MediaPipe's ObjectDetector reads them (names, box
        layout, labels of the class values, the detection_result group); raw heads are
        plain features (an app decodes them with the anchors in edgecv's metadata)."""
        from edgecv.tasks.app_outputs import AppOutputs, OutputTensor
        from edgecv.tasks.detection.graph import CATEGORY, COUNT, LOCATION, OUTPUT_KEYS, SCORE

        if sorted(keys) != sorted(OUTPUT_KEYS):
            return super().app_outputs(keys)
        group = ("location", "category", "score")
        return AppOutputs((
            OutputTensor(key=LOCATION, name="location", boxes=True, box_index=(0, 1, 2, 3),
                         value_range=(2, 2), value_bounds=(0.0, 1.0),
                         description="Detected boxes: left, top, right, bottom as fractions of the "
                                     "input image"),
            OutputTensor(key=CATEGORY, name="category", labels="value", value_range=(2, 2),
                         description="Class of each detected box (an index into labels.txt)"),
            OutputTensor(key=SCORE, name="score", value_range=(2, 2), value_bounds=(0.0, 1.0),
                         score_threshold=self.spec.export.score_threshold,
                         description="Score of each detected box (objectness x class probability)"),
            OutputTensor(key=COUNT, name="number of detections",
                         description="Number of valid rows in location, category and score"),
        ), group=("detection_result", group), summary="object detector (in-graph NMS)")

    def _grids(self, model: Any = None) -> tuple[tuple[int, int], ...]:
        """(GH, GW) per model output: from the model when given, else from the model's card."""
        if model is not None:   # remembered: `loss()` is called without the model
            self.grids = _model_grids(model)
            return self.grids
        if self.grids is None:
            if self.arch is None:
                raise RecipeError("detection: the heads' grid sizes are unknown; build the task from a "
                                  "recipe or pass the model")
            from edgecv.models import model_card

            self.grids = model_card(self.arch).output_grids(self._input_shape())
        return self.grids

    def _require_anchors(self) -> AnchorGroups:
        if self.anchor_groups is None:
            raise RecipeError("detection.anchors: 'auto' anchors are not computed yet; call "
                              "task.adapt_to_data(train_set) first, or read them from a .tflite's metadata "
                              "with get_task('detection', metadata)")
        return self.anchor_groups

    def _input_shape(self) -> tuple[int, int, int]:
        if self.input_shape is None:
            raise RecipeError("detection: the model input shape is unknown (no recipe or metadata given)")
        return self.input_shape

    def _input_hw(self) -> tuple[int, int]:
        return tuple(self._input_shape()[:2])  # type: ignore[return-value]

    def _num_classes(self, recipe: Any) -> Optional[int]:
        return getattr(getattr(recipe, "model", None), "num_classes", None)


def make_task(source: Any = None) -> DetectionTask:
    """The task from a recipe, from a .tflite metadata dict, or with defaults (None)."""
    if source is None:
        return DetectionTask()
    if isinstance(source, Mapping):
        return _task_from_metadata(source)
    spec = getattr(source, "detection", None) or DetectionSpec()
    model = source.model
    kwargs = model.builder_kwargs()
    kwargs.pop("input_shape", None)
    model_anchors = kwargs.get("num_anchors", _builder_default(model.arch, "num_anchors"))
    if model_anchors is not None and model_anchors != spec.anchors_per_scale:
        raise RecipeError(f"detection.anchors_per_scale: {spec.anchors_per_scale} but {model.arch} predicts "
                          f"{model_anchors} anchors per scale; set model.num_anchors: {spec.anchors_per_scale} "
                          f"or detection.anchors_per_scale: {model_anchors}")
    groups = None
    if spec.anchors != "auto":
        anchors = np.asarray(spec.anchors, dtype=np.float64)
        if len(anchors) % spec.anchors_per_scale:
            raise RecipeError(f"detection.anchors: {len(anchors)} anchors do not split into heads of "
                              f"anchors_per_scale={spec.anchors_per_scale}")
        if np.any(anchors <= 0):
            raise RecipeError(f"detection.anchors: widths and heights must be > 0, got {anchors.tolist()}")
        groups = _as_groups(group_anchors(anchors, len(anchors) // spec.anchors_per_scale))
    return DetectionTask(spec=spec, input_shape=tuple(model.input_shape), anchor_groups=groups,
                         arch=model.arch, model_kwargs=kwargs, resize=source.data.resize)


def _task_from_metadata(meta: Mapping) -> DetectionTask:
    det = meta.get("detection") or {}
    anchors = det.get("anchors", meta.get("anchors"))
    shape = det.get("input_shape", meta.get("input_shape"))
    options = {k: det[k] for k in ("score_threshold", "iou_threshold", "max_detections") if k in det}
    in_graph = det.get("postprocess")
    if isinstance(in_graph, Mapping) and in_graph.get("kind") == "nms":
        options["export"] = {"postprocess": "nms", **{
            k: in_graph[k] for k in ("score_threshold", "iou_threshold", "max_detections") if k in in_graph}}
    groups = None
    if anchors is not None:
        groups = _as_groups(anchors)
        options["anchors_per_scale"] = len(groups[0])
    try:
        spec = DetectionSpec(**options)
    except ValueError as exc:
        raise BenchError(f"model metadata: invalid detection options {options} ({exc})") from None
    return DetectionTask(spec=spec, input_shape=None if shape is None else tuple(int(v) for v in shape),
                         anchor_groups=groups)


def _builder_default(arch: str, argument: str) -> Any:
    """A model builder's default for one argument (None when it has no such argument)."""
    import inspect

    from edgecv.models import MODELS

    parameter = inspect.signature(MODELS.get(arch)).parameters.get(argument)
    return None if parameter is None or parameter.default is inspect.Parameter.empty else parameter.default


def _as_groups(groups: Sequence[Sequence[Sequence[float]]]) -> AnchorGroups:
    return tuple(tuple((float(w), float(h)) for w, h in group) for group in groups)


def _model_grids(model: Any) -> tuple[tuple[int, int], ...]:
    grids = []
    for output in model.outputs:
        shape = tuple(output.shape)
        if len(shape) != 4 or shape[1] is None or shape[2] is None:
            raise RecipeError(f"detection: model output {shape} is not a YOLO head (N, GH, GW, A*(5+C))")
        grids.append((int(shape[1]), int(shape[2])))
    return tuple(grids)


def training_box_sizes(dataset: Any, input_shape: Sequence[int], limit: int = ANCHOR_SAMPLES,
                       resize: str = "stretch") -> np.ndarray:
    """(w, h) in input pixels of the boxes of (up to `limit` images of) a detection dataset.

    Indexed annotations are read directly (stretch: normalised sizes times the input
    size; letterbox: times each image's size, from its header, times its fit scale);
    generated data is drawn through edgecv.data.eval_arrays.
    """
    source = getattr(dataset, "source", None)
    boxes = getattr(source, "boxes", None)
    classes = getattr(source, "classes", None)
    in_wh = np.array([input_shape[1], input_shape[0]], dtype=np.float64)
    if boxes is not None and classes is not None:
        indices = np.asarray(dataset.indices)
        if len(indices) > limit:
            indices = np.sort(np.random.default_rng(0).choice(indices, limit, replace=False))
        parts = []
        for i in indices:
            image_boxes = np.asarray(boxes[i], np.float64)[np.asarray(classes[i]) >= 0]
            parts.append((image_boxes[:, 2:] - image_boxes[:, :2]) * _box_scale(source.paths[i], in_wh, resize))
        wh = np.concatenate(parts) if parts else np.zeros((0, 2))
    else:
        from edgecv.data import eval_arrays

        _, targets = eval_arrays(dataset, input_shape=tuple(input_shape), limit=limit, resize=resize)
        parts = [np.asarray(b, np.float64).reshape(-1, 4)[np.asarray(c).reshape(-1) >= 0] for b, c in targets]
        flat = np.concatenate(parts) if parts else np.zeros((0, 4))
        wh = (flat[:, 2:] - flat[:, :2]) * in_wh
    wh = wh[(wh[:, 0] > 0) & (wh[:, 1] > 0)]
    if not len(wh):
        raise DataError(f"{getattr(dataset, 'name', 'dataset')}: no boxes to compute anchors from")
    return wh


def _box_scale(image_path: str, in_wh: np.ndarray, resize: str) -> np.ndarray:
    """Input pixels per unit of normalised box size for one image."""
    if resize != "letterbox":
        return in_wh
    from edgecv.data.images import image_header

    header = image_header(image_path)
    if header is None:      # unreadable: the decode check drops it from training anyway
        return in_wh
    image_wh = np.array(header[:2], dtype=np.float64)
    return image_wh * float(np.min(in_wh / image_wh))

