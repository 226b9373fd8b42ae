"""`edgecv data check`: decode every sample once and report every problem by file name.

Indexing (the readers) already finds missing/extra files, zero-byte, non-image and
truncated files, bad boxes, unknown classes and mask sizes; this adds what needs
the pixels: images that fail to decode and masks with values past the class count.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from edgecv.data.dataset import VOID, ArraySource, Dataset, FileSource, Problem
from edgecv.data.images import read_index_mask
from edgecv.errors import DataError


@dataclass
class CheckReport:
    where: str
    dataset: Dataset
    sizes: Counter = field(default_factory=Counter)         # (width, height) -> images
    problems: list[Problem] = field(default_factory=list)
    decode_failures: int = 0                                 # indexed samples that failed to decode

    @property
    def clean(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        ds = self.dataset
        bad = sum(1 for p in self.problems if p.skipped)
        out = [f"{self.where}: {ds.name} ({ds.task})",
               f"  samples: {len(ds) - self.decode_failures} usable, {bad} bad",
               f"  classes ({len(ds.class_names)}): "
               + (", ".join(f"{name} {count}" for name, count in ds.class_counts().items())
                  or ", ".join(ds.class_names))]
        if self.sizes:
            common = self.sizes.most_common(5)
            more = len(self.sizes) - len(common)
            out.append("  image sizes: " + ", ".join(f"{w}x{h} ({n})" for (w, h), n in common)
                       + (f", {more} more" if more > 0 else ""))
        if self.problems:
            out.append(f"  problems ({len(self.problems)}):")
            out += [f"    {p}" for p in self.problems]
        else:
            out.append("  no problems")
        return out


def mask_problem(path: str, image_hw: tuple[int, int], num_classes: int) -> Optional[str]:
    """What is wrong with one index mask, or None."""
    try:
        mask = read_index_mask(path)
    except DataError as exc:
        return str(exc).removeprefix(f"{path}: ")
    values = np.unique(mask)
    unknown = values[(values >= num_classes) & (values != VOID)]
    if len(unknown):
        return (f"mask has values {unknown.tolist()[:5]} beyond the {num_classes} classes "
                f"(0..{num_classes - 1}; {VOID} = unlabelled)")
    if mask.shape[:2] != image_hw:
        return f"mask is {mask.shape[1]}x{mask.shape[0]} but its image is {image_hw[1]}x{image_hw[0]}"
    return None


def check_dataset(ds: Dataset, where: str = "dataset") -> CheckReport:
    import cv2

    report = CheckReport(where=where, dataset=ds, problems=list(ds.problems))
    src = ds.source
    if isinstance(src, ArraySource):
        h, w = src.images.shape[1:3]
        report.sizes[(w, h)] = len(ds)
        bad = ds.labels >= len(ds.class_names)
        for i in np.flatnonzero(bad):
            report.problems.append(Problem(f"{ds.name}[{int(ds.indices[i])}]", f"label {ds.labels[i]} has no class name"))
        return report
    if not isinstance(src, FileSource):   # generated samples need no check
        return report
    for position in ds.indices:
        path = src.paths[position]
        image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if image is None:
            report.problems.append(Problem(path, "cannot decode image"))
            report.decode_failures += 1
            continue
        report.sizes[(image.shape[1], image.shape[0])] += 1
        if src.mask_paths is not None:
            mask_path = src.mask_paths[position]
            problem = mask_problem(mask_path, image.shape[:2], len(ds.class_names))
            if problem:
                report.problems.append(Problem(mask_path, problem))
                report.decode_failures += 1
    return report
