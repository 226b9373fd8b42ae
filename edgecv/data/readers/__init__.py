"""One module per dataset format; each exposes `read_<format>(spec: dict, task) -> Dataset`.

Readers index files and annotations only; pixels are decoded by the pipeline.
Shared helpers live here.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from edgecv.data.dataset import Problem
from edgecv.errors import DataError


def require_dir(path: Path, what: str) -> Path:
    if not Path(path).is_dir():
        raise DataError(f"{path}: {what} is not a directory")
    return Path(path)


def require_file(path: Path, what: str) -> Path:
    if not Path(path).is_file():
        raise DataError(f"{path}: {what} is not a file")
    return Path(path)


def natural_sorted(names) -> list[str]:
    """Sort class names; all-numeric names sort by value (2 before 10)."""
    names = list(names)
    if names and all(n.lstrip("-").isdigit() for n in names):
        return sorted(names, key=int)
    return sorted(names)


def read_class_file(path: Path) -> list[str]:
    """One class name per non-empty line (YOLO classes.txt, masks classes.txt)."""
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not names:
        raise DataError(f"{path}: class file holds no class names")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DataError(f"{path}: duplicate class names {dupes}")
    return names


def class_index(names: list[str]) -> dict[str, int]:
    return {name: i for i, name in enumerate(names)}


def fixed_classes(spec: dict) -> Optional[list[str]]:
    classes = spec.get("classes")
    return list(classes) if classes else None


def skip(problems: list[Problem], file, message: str) -> None:
    """Record a sample that is left out."""
    problems.append(Problem(str(file), message, skipped=True))


def note(problems: list[Problem], file, message: str) -> None:
    """Record a problem that does not remove a sample (extra files, empty classes)."""
    problems.append(Problem(str(file), message, skipped=False))


def readable_images(root: Path, problems: list[Problem]) -> list[Path]:
    """images.list_images(root), each sub-folder it cannot list noted in `problems` with the
    OS's reason: its images would otherwise just be missing."""
    from edgecv.data.images import image_files, walk_files

    files, unreadable = walk_files(root)
    for path, reason in unreadable:
        note(problems, path, f"folder cannot be read ({reason}); its images are left out")
    return image_files(root, files)
