"""`csv`: rows of `path,label` (an optional header row `path,label`); paths relative to the CSV."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from edgecv.data.dataset import Dataset, FileSource, Problem, new_dataset
from edgecv.data.images import probe_image
from edgecv.data.readers import class_index, fixed_classes, natural_sorted, require_file, skip
from edgecv.errors import DataError


def read_csv(spec: dict, task: str) -> Dataset:
    table = require_file(spec["path"], "CSV file")
    with open(table, newline="", encoding="utf-8") as handle:
        rows = [(n, row) for n, row in enumerate(csv.reader(handle), start=1) if row and any(c.strip() for c in row)]
    if rows and [c.strip().lower() for c in rows[0][1][:2]] == ["path", "label"]:
        rows = rows[1:]
    problems: list[Problem] = []
    entries: list[tuple[Path, str]] = []
    for line, row in rows:
        if len(row) < 2:
            skip(problems, f"{table}:{line}", f"expected 'path,label', got {','.join(row)!r}")
            continue
        path = (table.parent / row[0].strip()).resolve()
        entries.append((path, row[1].strip()))
    if not entries and not problems:
        raise DataError(f"{table}: no rows")
    names = fixed_classes(spec) or natural_sorted({label for _, label in entries})
    index = class_index(names)
    paths, labels = [], []
    for path, label in entries:
        if label not in index:
            skip(problems, path, f"unknown class {label!r} (classes: {', '.join(names)})")
            continue
        problem = probe_image(path) if path.exists() else "no such file"
        if problem:
            skip(problems, path, problem)
            continue
        paths.append(str(path))
        labels.append(index[label])
    source = FileSource(paths=paths, labels=np.asarray(labels, dtype=np.int32))
    return new_dataset(task, names, source, name=f"csv {table}", problems=problems,
                       limit=spec.get("limit"), seed=spec.get("seed", 0))
