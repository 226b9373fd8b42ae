"""The recipe's `segmentation:` section (pydantic only; no TensorFlow)."""
from __future__ import annotations

from typing import Literal, Union

from edgecv.schema import Strict


LOSS_KINDS = ("ce", "dice", "ce+dice")


class SegmentationSpec(Strict):
    loss: Literal[LOSS_KINDS] = "ce+dice"  # type: ignore[valid-type]
    class_weights: Union[Literal["auto"], list[float], None] = None
