"""The model registry and the argument checks every builder shares (no TensorFlow here)."""
from __future__ import annotations

from collections.abc import Sequence

from edgecv.errors import ModelError
from edgecv.registry import Registry

# name -> builder; info: task (the task its top serves), input_shape (the published
# default), family, and for grid outputs output_strides / feature_strides (see card.py).
MODELS = Registry("model", ModelError)


def check_input_shape(model: str, input_shape: Sequence[int], *, multiple: int = 1,
                      minimum: int = 32) -> tuple[int, int, int]:
    """(H, W, C) of positive ints, H and W >= `minimum` and divisible by `multiple`."""
    try:
        shape = tuple(int(v) for v in input_shape)
    except (TypeError, ValueError):
        raise ModelError(f"{model}: input_shape must be [H, W, C] integers, got {input_shape!r}") from None
    if len(shape) != 3 or min(shape) <= 0 or any(int(v) != v for v in input_shape):
        raise ModelError(f"{model}: input_shape must be [H, W, C] positive integers, got {list(input_shape)!r}")
    h, w, _ = shape
    if h < minimum or w < minimum:
        raise ModelError(f"{model}: input_shape {list(shape)} is smaller than {minimum}x{minimum}")
    if h % multiple or w % multiple:
        raise ModelError(f"{model}: input_shape {list(shape)}: height and width must be "
                         f"multiples of {multiple} (the network's output stride)")
    return shape


def check_positive(model: str, name: str, value, *, integer: bool = False):
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
    if integer:
        ok = ok and int(value) == value
    if not ok:
        kind = "a positive integer" if integer else "a positive number"
        raise ModelError(f"{model}: {name} must be {kind}, got {value!r}")
    return int(value) if integer else float(value)


def check_choice(model: str, name: str, value, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ModelError(f"{model}: {name} must be one of {', '.join(choices)}, got {value!r}")
    return value
