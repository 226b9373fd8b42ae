"""One scaling vocabulary for every family: channel rounding and depth scaling.

These reproduce the reference implementations bit for bit (tf_keras.applications
and the EfficientNet/MobileNet TPU code), so parameter counts match theirs.
"""
from __future__ import annotations

import math


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round `value` to the nearest multiple of `divisor`, never dropping more than 10%.

    The rule of the MobileNetV2/EfficientNet reference code: channel counts stay
    hardware friendly (multiples of 8) without shrinking a layer noticeably.
    """
    if divisor <= 0:
        raise ValueError(f"make_divisible: divisor must be positive, got {divisor}")
    floor = divisor if min_value is None else min_value
    rounded = max(floor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return int(rounded)


def round_filters(filters: int, width: float, divisor: int = 8) -> int:
    """Scale a channel count by the width coefficient and round it (EfficientNet)."""
    return make_divisible(filters * width, divisor)


def round_repeats(repeats: int, depth: float) -> int:
    """Scale a stage's block count by the depth coefficient, rounding up (EfficientNet)."""
    return int(math.ceil(depth * repeats))


def compound_coefficients(phi: float, *, alpha: float = 1.2, beta: float = 1.1,
                          gamma: float = 1.15) -> tuple[float, float, float]:
    """EfficientNet compound scaling: (depth, width, resolution) multipliers for `phi`.

    The paper's grid search found alpha=1.2 (depth), beta=1.1 (width) and
    gamma=1.15 (resolution) under alpha * beta^2 * gamma^2 ~= 2.
    """
    return alpha ** phi, beta ** phi, gamma ** phi
