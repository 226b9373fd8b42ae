"""Images too large to decode safely are named and skipped while indexing, never decoded.

A 389 KB PNG can declare 20000x20000 pixels: decoding it takes 1.2 GB (RGB) before the
pipeline shrinks it to 32x32. Like Pillow's decompression-bomb guard, every image whose
header declares more than `max_pixels` (dataset spec key; default Pillow's
MAX_IMAGE_PIXELS, ~89.5 Mpx, 1.5x a 50 Mpx camera) becomes a skipped `Problem`, so
`edgecv data check`, training, calibration and `edgecv bench --data` leave it out and
say why. Only the header is read (Pillow parses it lazily).
"""
from __future__ import annotations

import os
from dataclasses import replace
from typing import Optional

import numpy as np

from edgecv.data.dataset import Dataset, FileSource, Problem

DEFAULT_MAX_PIXELS = 89_478_485     # = PIL.Image.MAX_IMAGE_PIXELS (1024 * 1024 * 1024 // 4 // 3)


def header_size(path: str | os.PathLike) -> Optional[tuple[int, int]]:
    """(width, height) the file's header declares, or None when unreadable. Pillow's own
    bomb check is lifted for this read only: it would raise before telling the size."""
    from PIL import Image

    guard = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        with Image.open(path) as image:
            return int(image.size[0]), int(image.size[1])
    except Exception:  # an unreadable header is probe_image's finding, not this one
        return None
    finally:
        Image.MAX_IMAGE_PIXELS = guard


def pixel_problem(path: str, max_pixels: int) -> Optional[str]:
    size = header_size(path)
    if size is None or size[0] * size[1] <= max_pixels:
        return None
    width, height = size
    return (f"image is {width}x{height} = {width * height / 1e6:.1f} Mpx, over the "
            f"{max_pixels / 1e6:.1f} Mpx limit (dataset key max_pixels); skipped")


def drop_oversized(ds: Dataset, max_pixels: Optional[int] = None) -> Dataset:
    """`ds` without the file samples (images or masks) over the pixel limit, each a Problem."""
    src = ds.source
    if not isinstance(src, FileSource) or len(ds) == 0:
        return ds   # arrays and generated samples have the size they were made with
    limit = int(max_pixels or DEFAULT_MAX_PIXELS)
    problems: list[Problem] = []
    keep = np.ones(len(ds.indices), dtype=bool)
    for i, position in enumerate(ds.indices):
        files = [src.paths[position]]
        if src.mask_paths is not None:
            files.append(src.mask_paths[position])
        for path in files:
            message = pixel_problem(path, limit)
            if message:
                problems.append(Problem(str(path), message))
                keep[i] = False
                break
    if keep.all():
        return ds
    return replace(ds, indices=ds.indices[keep], problems=list(ds.problems) + problems)
