"""The recipe's `data:` section and one dataset spec (pydantic only; no TensorFlow).

Which keys a dataset spec needs depends on its `format` (edgecv.data.formats checks that).
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional, Union

from pydantic import Field, field_validator

from edgecv.data.normalize import RESIZE_MODES
from edgecv.schema import Strict


class AugmentSpec(Strict):
    flip: bool = False                                  # horizontal
    vflip: bool = False
    crop: float = Field(0.0, ge=0.0, lt=1.0)            # max fraction cut away by random resized crop
    rotate: float = Field(0.0, ge=0.0, le=180.0)        # max degrees either way
    shear: float = Field(0.0, ge=0.0, lt=1.0)
    color: float = Field(0.0, ge=0.0, le=1.0)           # brightness/contrast/saturation jitter strength
    pca_color: float = Field(0.0, ge=0.0, le=1.0)       # AlexNet-style PCA lighting noise


class DatasetSpec(Strict):
    """One dataset; which fields are required depends on `format` (see edgecv.data)."""

    format: str
    path: Optional[Path] = None
    images: Optional[Path] = None
    annotations: Optional[Path] = None
    masks: Optional[Path] = None
    split: Optional[str] = None
    classes: Optional[list[str]] = None
    samples: Optional[int] = Field(None, gt=0)
    seed: int = 0
    limit: Optional[int] = Field(None, gt=0)            # use at most this many samples
    max_pixels: Optional[int] = Field(None, gt=0)       # larger images are skipped (edgecv.data.limits)
    backgrounds: Optional[Path] = None                  # photo folder of a pasted set (fashion_composite)

    @field_validator("classes")
    @classmethod
    def _unique_classes(cls, value: Optional[list[str]]) -> Optional[list[str]]:
        if value is not None:
            if not value:
                raise ValueError("must name at least one class")
            dupes = sorted({c for c in value if value.count(c) > 1})
            if dupes:
                raise ValueError(f"duplicate class names {dupes}")
        return value


class DataSpec(Strict):
    train: DatasetSpec
    val: Optional[DatasetSpec] = None
    test: Optional[DatasetSpec] = None
    val_split: float = Field(0.2, gt=0.0, lt=1.0)       # used only when `val` is absent
    # Classes (names, or indices into the class list) kept out of training entirely: train
    # drops them, val holds only them (from `val`, else all their `train` samples). Open-set
    # evaluation: an embedding is verified on identities it never saw.
    holdout_classes: Optional[list[Union[int, str]]] = None
    batch_size: int = Field(32, gt=0)
    augment: AugmentSpec = AugmentSpec()
    cache: bool = False
    # How images reach the model size: stretch each axis, or letterbox (keep the aspect
    # ratio, pad with grey). Stored in the export metadata: apps must do the same.
    resize: Literal[RESIZE_MODES] = "stretch"  # type: ignore[valid-type]
