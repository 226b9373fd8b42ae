"""`folder`: DIR/<class name>/<images>, classes from the sub-folder names (sorted)."""
from __future__ import annotations

import numpy as np

from edgecv.data.dataset import Dataset, FileSource, Problem, new_dataset
from edgecv.data.images import is_image_name, probe_image, walk_files
from edgecv.data.readers import fixed_classes, natural_sorted, note, require_dir, skip


def read_folder(spec: dict, task: str) -> Dataset:
    root = require_dir(spec["path"], "dataset folder")
    subdirs = {d.name: d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")}
    names = fixed_classes(spec) or natural_sorted(subdirs)
    problems: list[Problem] = []
    for extra in sorted(set(subdirs) - set(names)):
        note(problems, subdirs[extra], "folder is not one of the classes; ignored")
    for loose in sorted(p for p in root.iterdir() if p.is_file() and not p.name.startswith(".")):
        note(problems, loose, "file outside any class folder; ignored")

    paths: list[str] = []
    labels: list[int] = []
    for label, name in enumerate(names):
        folder = subdirs.get(name)
        if folder is None:
            note(problems, root / name, f"class {name!r} has no folder")
            continue
        before = len(paths)
        files, unreadable = walk_files(folder)
        for path, reason in unreadable:
            note(problems, path, f"class {name!r}: folder cannot be read ({reason}); its images are left out")
        for path in (p for p in files if not p.name.startswith(".")):
            if not is_image_name(path):
                note(problems, path, f"not an image file name ({path.suffix or 'no extension'}); ignored")
                continue
            problem = probe_image(path)
            if problem:
                skip(problems, path, problem)
                continue
            paths.append(str(path))
            labels.append(label)
        if len(paths) == before and not unreadable:   # an unreadable folder was named above
            note(problems, folder, f"class {name!r} has no usable images")
    source = FileSource(paths=paths, labels=np.asarray(labels, dtype=np.int32))
    return new_dataset(task, names, source, name=f"folder {root}", problems=problems,
                       limit=spec.get("limit"), seed=spec.get("seed", 0))

