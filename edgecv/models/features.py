"""Pyramid feature outputs for any registered backbone, so detection and
segmentation heads can sit on it.

Generic over families: the backbone is built with include_top=False and, for each
requested stride, the *last* layer whose output has H/stride x W/stride pixels is
taken (the deepest feature at that resolution). The result is a flat functional
model sharing the backbone's layers, so tfmot can still quantize it.
"""
from __future__ import annotations

from collections.abc import Sequence

from edgecv.errors import ModelError


def pyramid_model(name: str, *, strides: Sequence[int] = (8, 16, 32), **kwargs):
    """Backbone `name` with one output per stride, in the order of `strides`."""
    from tf_keras import Model

    from edgecv.models import create_model, model_info

    if model_info(name)["task"] != "classification":
        raise ModelError(f"pyramid_model: {name!r} is a {model_info(name)['task']} model; "
                         "use a classification backbone (mobilenet_*, efficientnet_*)")
    backbone = create_model(name, include_top=False, **kwargs)
    height, width = backbone.input_shape[1:3]
    outputs = []
    for stride in strides:
        if not isinstance(stride, int) or stride < 1 or height % stride or width % stride:
            raise ModelError(f"pyramid_model: stride {stride!r} does not divide the input "
                             f"size {height}x{width}")
        target = (height // stride, width // stride)
        found = [layer for layer in backbone.layers
                 if len(layer.output_shape) == 4 and tuple(layer.output_shape[1:3]) == target]
        if not found or stride == 1:
            raise ModelError(f"pyramid_model: {name!r} has no feature map at stride {stride}")
        outputs.append(found[-1].output)
    return Model(backbone.input, outputs, name=f"{backbone.name}_pyramid")
