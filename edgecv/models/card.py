"""A registered model's typed card: what callers need to know without building it.

Like timm's `feature_info`: tasks read a detector's head grids from `output_strides`
instead of building a whole model to look at its output shapes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from edgecv.errors import ModelError


@dataclass(frozen=True)
class ModelCard:
    name: str
    family: str
    task: str                              # the task its top serves: classification | detection | segmentation
    input_shape: tuple[int, int, int]      # the published default (H, W, C)
    output_strides: tuple[int, ...] = ()   # per model output, in output order (detection heads); () = not a grid
    feature_strides: tuple[int, ...] = ()  # include_top=False outputs, in output order

    def output_grids(self, input_shape: Sequence[int]) -> tuple[tuple[int, int], ...]:
        """(GH, GW) of each output for an input (H, W, C) ('same' padding: ceil(H / stride))."""
        if not self.output_strides:
            raise ModelError(f"{self.name}: its outputs are not grids (no output strides on its card)")
        h, w = int(input_shape[0]), int(input_shape[1])
        return tuple((-(-h // s), -(-w // s)) for s in self.output_strides)


def card_from_info(name: str, info: dict) -> ModelCard:
    return ModelCard(name=name, family=info.get("family", name), task=info["task"],
                     input_shape=tuple(info["input_shape"]),
                     output_strides=tuple(info.get("output_strides", ())),
                     feature_strides=tuple(info.get("feature_strides", ())))
