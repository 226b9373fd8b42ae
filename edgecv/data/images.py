"""Cheap image-file checks used while indexing: no decoding, two small reads per file.

They catch what would otherwise fail mid-epoch: zero-byte files, text or other
data under an image name, JPEGs without their end marker, PNGs without IEND.
Full decoding happens only in `edgecv data check` (edgecv.data.check).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

# What tf.io.decode_image reads; anything else is not indexed.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")

_MAGIC = (
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp"),
)


def is_image_name(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def image_kind(head: bytes) -> Optional[str]:
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return None


def probe_image(path: str | os.PathLike) -> Optional[str]:
    """None when the file looks like a whole image, else what is wrong with it."""
    try:
        size = os.path.getsize(path)
        if size == 0:
            return "zero-byte file"
        with open(path, "rb") as handle:
            head = handle.read(16)
            handle.seek(max(0, size - 32))
            tail = handle.read()
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    kind = image_kind(head)
    if kind is None:
        return f"not an image file (starts with {head[:8]!r})"
    if kind == "jpeg" and not tail.rstrip(b"\x00\r\n ").endswith(b"\xff\xd9"):
        return "truncated JPEG (no end-of-image marker)"
    if kind == "png" and b"IEND" not in tail:
        return "truncated PNG (no IEND chunk)"
    return None


def image_header(path: str | os.PathLike) -> Optional[tuple[int, int, str]]:
    """(width, height, Pillow mode) from the file header only (Pillow reads headers
    lazily); None if unreadable."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.size[0], image.size[1], image.mode
    except Exception:  # any unreadable header means "no size"; probe_image says why
        return None


# Index masks Pillow reads as class ids: greyscale, palette (VOC-style; the palette is only
# for viewing, the pixel values are the ids) and 1-bit.
MASK_MODES = ("L", "P", "1")


def read_index_mask(path: str | os.PathLike):
    """uint8 [H, W] class ids from an index-mask PNG; DataError saying why when it is not one.

    Pillow, not tf.io.decode_png: TensorFlow expands palette PNGs to colours, which loses
    the class ids of VOC-style masks.
    """
    import numpy as np
    from PIL import Image

    from edgecv.errors import DataError

    try:
        with Image.open(path) as image:
            if image.mode not in MASK_MODES:
                raise DataError(f"{path}: mask must be a single-channel index PNG "
                                f"(Pillow mode {', '.join(MASK_MODES)}), got mode {image.mode}")
            return np.asarray(image, dtype=np.uint8)
    except DataError:
        raise
    except Exception as exc:  # any decode failure is the finding itself
        raise DataError(f"{path}: cannot decode mask: {exc}") from None


def walk_files(root: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Every file under root (recursive, sorted), and the folders that could not be listed
    with the OS's reason: Path.rglob skips those silently, so their files would just be
    missing (a class folder would look empty)."""
    unreadable: list[tuple[Path, str]] = []

    def failed(error: OSError) -> None:
        unreadable.append((Path(error.filename or root), error.strerror or type(error).__name__))

    files = [Path(top) / name for top, _dirs, names in os.walk(root, onerror=failed) for name in names]
    return sorted(p for p in files if p.is_file()), unreadable


def list_images(root: Path) -> list[Path]:
    """Image files under root (recursive, sorted, hidden files skipped). Folders that cannot
    be listed are left out unreported here; a reader names them (readers.readable_images)."""
    return image_files(root, walk_files(root)[0])


def image_files(root: Path, files: list[Path]) -> list[Path]:
    """The image files among walk_files(root)'s files, hidden ones (or under hidden folders) skipped."""
    return [p for p in files
            if is_image_name(p) and not any(part.startswith(".") for part in p.relative_to(root).parts)]
