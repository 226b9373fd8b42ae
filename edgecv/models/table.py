"""Parameters and MACs of every registered model at its published default configuration.

Building EfficientNet-B7 just to print a table takes longer than `edgecv models`
may (20 s), so the numbers are precomputed from the real builders and kept
honest by tests/test_models_table.py, which rebuilds the models and compares.
Regenerate after changing a builder:  python -m edgecv.models.table
"""
from __future__ import annotations

# name -> (params, MACs)   (generated; do not edit by hand)
DEFAULT_SUMMARIES: dict[str, tuple[int, int]] = {
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
