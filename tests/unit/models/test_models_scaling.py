"""Golden values for the channel/depth scaling rules (from the reference implementations)."""
import math

import pytest

from edgecv.models.scaling import compound_coefficients, make_divisible, round_filters, round_repeats


@pytest.mark.parametrize("value, expected", [
    (32 * 0.35, 16),   # 11.2 rounds down to 8, which loses >10%, so bumps to 16
    (5, 8),            # never below the divisor
    (10, 16),          # 8 would lose 20%
    (24, 24),
    (1280 * 1.4, 1792),
    (96 * 0.75, 72),
    (12, 16),          # halfway rounds up: int(12 + 4) // 8 * 8
])
def test_make_divisible_golden(value, expected):
    assert make_divisible(value, 8) == expected


def test_make_divisible_min_value_and_divisor():
    assert make_divisible(3, 4, min_value=2) == 4
    assert make_divisible(1, 4, min_value=2) == 2
    with pytest.raises(ValueError, match="divisor must be positive, got 0"):
        make_divisible(3, 0)


@pytest.mark.parametrize("filters, width, expected", [
    (32, 1.1, 32),     # EfficientNet-B2 stem stays 32
    (32, 1.4, 48),     # B4 stem
    (1280, 2.0, 2560), # B7 head
    (40, 1.8, 72),
    (16, 1.4, 24),
    (320, 1.1, 352),
])
def test_round_filters_golden(filters, width, expected):
    assert round_filters(filters, width) == expected


@pytest.mark.parametrize("repeats, depth, expected", [
    (2, 1.1, 3), (1, 3.1, 4), (3, 1.2, 4), (4, 1.0, 4), (4, 2.6, 11),
])
def test_round_repeats_golden(repeats, depth, expected):
    assert round_repeats(repeats, depth) == expected


def test_compound_coefficients_follow_the_paper():
    depth, width, resolution = compound_coefficients(1)
    assert (depth, width, resolution) == (1.2, 1.1, 1.15)
    depth, width, resolution = compound_coefficients(0)
    assert (depth, width, resolution) == (1.0, 1.0, 1.0)
    depth, width, resolution = compound_coefficients(2)
    assert math.isclose(depth * width ** 2 * resolution ** 2, (1.2 * 1.21 * 1.3225) ** 2)
