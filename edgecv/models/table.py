"""Parameters and MACs of every registered model at its published default configuration.

Building EfficientNet-B7 just to print a table takes longer than `edgecv models`
may (20 s), so the numbers are precomputed from the real builders and kept
honest by tests/test_models_table.py, which rebuilds the models and compares.
Regenerate after changing a builder:  python -m edgecv.models.table
"""
from __future__ import annotations

# name -> (params, MACs)   (generated; do not edit by hand)
DEFAULT_SUMMARIES: dict[str, tuple[int, int]] = {
    'efficientnet': (5330564, 385814752),
    'efficientnet_b0': (5330564, 385814752),
    'efficientnet_b1': (7856232, 686802832),
    'efficientnet_b2': (9177562, 993561872),
    'efficientnet_b3': (12320528, 1827141392),
    'efficientnet_b4': (19466816, 4393771024),
    'efficientnet_b5': (30562520, 10266384752),
    'efficientnet_b6': (43265136, 19067593536),
    'efficientnet_b7': (66658680, 37745884192),
    'efficientnet_lite0': (4694024, 385187552),
    'efficientnet_lite1': (5470344, 600185232),
    'efficientnet_lite2': (6150168, 859736272),
    'efficientnet_lite3': (8273768, 1383321872),
    'efficientnet_lite4': (13118936, 2553034336),
    'inception_v3': (23851784, 5713216096),
    'mobilenet_v1': (4253864, 568740352),
    'mobilenet_v2': (3538984, 300774272),
    'resnet18': (11699112, 1814073344),
    'resnet34': (21814696, 3663761408),
    'resnet50': (25636712, 3857973248),
    'tiny_yolo_v2': (11237145, 2703221248),
    'tiny_yolo_v3': (8858734, 2782480896),
    'unet': (31031810, 48171581440),
    'unet_mobilenet_v2': (2374570, 433257216),
}


def compute(name: str) -> tuple[int, int]:
    """Build `name` at its defaults and return (params, MACs)."""
    from edgecv.models import create_model
    from edgecv.models.macs import count_macs

    model = create_model(name)
    return int(model.count_params()), int(count_macs(model))


def main() -> None:
    import re
    from pathlib import Path

    from edgecv.fileio import write_text
    from edgecv.models import list_models

    rows = "".join(f"    {name!r}: {compute(name)!r},\n" for name in list_models())
    path = Path(__file__)
    text = re.sub(r"(DEFAULT_SUMMARIES: dict\[str, tuple\[int, int\]\] = \{\n).*?(^\})",
                  lambda m: m.group(1) + rows + m.group(2), path.read_text(),
                  flags=re.S | re.M)
    write_text(path, text)
    print(f"wrote {len(rows.splitlines())} models to {path}")


if __name__ == "__main__":
    main()
