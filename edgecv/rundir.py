"""Run folders: what edgecv may delete, one writer at a time, leftovers of killed runs.

- `.edgecv-run` (JSON: edgecv version, created time, recipe name) is written when edgecv
  creates a run folder. `edgecv train --force` deletes only a folder holding it, and
  never one that holds the recipe file or any path the recipe reads (data.*.path /
  images / annotations / masks, model.init_from). A folder from an edgecv version
  before the marker (recipe.yaml + train/, no marker) is refused too: edgecv cannot
  tell it from a user's folder, so the message says to delete it by hand.
- `.edgecv-lock`: an advisory `fcntl.flock` held by the process writing the folder
  (`edgecv train`, `edgecv bench RUN_DIR`, `edgecv export RUN_DIR`), for the whole
  command, with that process' pid in it. The kernel drops a flock when its process dies,
  so a killed run never leaves a stale lock; a live holder is named by pid. Multi-worker
  training: only the chief takes it (other workers never write the run folder).
- Temp names edgecv itself creates, left behind by a SIGKILL, are removed when the next
  command takes the lock: `.tmp-XXXXXXXX-NAME` (edgecv.fileio) anywhere in the folder,
  and `.NAME_saved_model.XXXXXXXX` / `.NAME_saved_model.old` SavedModel staging folders
  in export/, and TensorFlow's checkpoint staging folders `train/<stage>/ckpt/epoch-N_temp`
  / `train/<stage>/output_temp` (a save killed or out of disk space). Nothing else is touched.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

from edgecv.errors import EdgecvError

MARKER = ".edgecv-run"
LOCK = ".edgecv-lock"
# Names edgecv's own temp files get (fileio: mkstemp/mkdtemp prefix ".tmp-" + 8 random
# characters + "-" + the final name; export/tflite.py: SavedModel staging directories).
_TMP_NAME = re.compile(r"^\.tmp-[a-z0-9_]{8}-.+$")
_SAVED_MODEL_STAGING = re.compile(r"^\..+_saved_model\.([a-z0-9_]{8}|old)$")
# tf.train.Checkpoint.write(PREFIX) stages its shards in PREFIX_temp/ (edgecv.train.stages).
_CHECKPOINT_STAGING = re.compile(r"^(epoch-\d+|output)_temp$")


class RunFolderError(EdgecvError):
    """The run folder cannot be used as asked (not edgecv's, busy, holds the data)."""


# ---------------------------------------------------------------- marker
def is_edgecv_run(folder: Path) -> bool:
    """True when `folder` holds a readable edgecv run marker."""
    try:
        data = json.loads((Path(folder) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "edgecv" in data


def write_marker(folder: Path, recipe_name: str) -> None:
    from edgecv.version import __version__
    from edgecv.fileio import write_json

    write_json(Path(folder) / MARKER, {"edgecv": __version__, "recipe": recipe_name,
                                       "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")})


def _looks_like_old_run(folder: Path) -> bool:
    """recipe.yaml + train/state.json: a run of an edgecv version before the marker."""
    return (folder / "recipe.yaml").is_file() and (folder / "train" / "state.json").is_file()


# ---------------------------------------------------------------- protected paths
def protected_paths(recipe: Any, recipe_path: Optional[Path]) -> list[tuple[str, Path]]:
    """(what, absolute path) of everything a run reads and must never delete."""
    found: list[tuple[str, Path]] = []
    if recipe_path is not None:
        found.append(("the recipe file", Path(recipe_path).resolve()))
    for split in ("train", "val", "test"):
        spec = getattr(recipe.data, split, None)
        for key in ("path", "images", "annotations", "masks"):
            value = getattr(spec, key, None) if spec is not None else None
            if value is not None:
                found.append((f"data.{split}.{key}", Path(value).resolve()))
    if getattr(recipe.model, "init_from", None) is not None:
        found.append(("model.init_from", Path(recipe.model.init_from).resolve()))
    return found


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_deletable(folder: Path, recipe: Any, recipe_path: Optional[Path]) -> None:
    """RunFolderError unless `--force` may delete `folder`: edgecv's and holding no input."""
    folder = Path(folder)
    real = folder.resolve()
    for what, path in protected_paths(recipe, recipe_path):
        if _inside(path, real):
            raise RunFolderError(f"--force {folder}: refusing to delete it, it holds {what} ({path})")
    if not is_edgecv_run(folder):
        if _looks_like_old_run(folder):
            raise RunFolderError(
                f"--force {folder}: refusing to delete it, it has no {MARKER} marker (a run of an older "
                f"edgecv, or not a run folder); delete it yourself if it is an old run, or use --out NEW_DIR")
        raise RunFolderError(f"--force {folder}: refusing to delete it, it was not made by edgecv "
                             f"(no {MARKER} marker); choose another --out")


def check_not_inside_data(folder: Path, recipe: Any) -> None:
    """A run folder inside a dataset folder would become part of the dataset (a folder-format
    reader takes every sub-folder for a class): refuse it."""
    real = Path(folder).resolve()
    for what, path in protected_paths(recipe, None):
        if what.startswith("data.") and path.is_dir() and _inside(real, path) and real != path:
            raise RunFolderError(f"--out {folder}: is inside {what} ({path}); the run's files would "
                                 f"become part of the dataset, choose a folder outside it")


def _clear(folder: Path) -> None:
    """Delete everything in `folder` but the lock this process holds in it."""
    for child in folder.iterdir():
        if child.name == LOCK:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


# ---------------------------------------------------------------- lock
def holder_pid(folder: Path) -> Optional[int]:
    """pid of a live process holding `folder`'s lock, else None. Creates nothing."""
    import fcntl

    path = Path(folder) / LOCK
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                return _read_pid(fd) or -1
            return None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _read_pid(fd: int) -> Optional[int]:
    try:
        text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
        return int(text.split()[0]) if text else None
    except (OSError, ValueError, IndexError):
        return None


def _busy(folder: Path, pid: Optional[int]) -> RunFolderError:
    who = f"pid {pid}" if pid and pid > 0 else "another process"
    return RunFolderError(f"{folder}: another edgecv process ({who}) is writing this run folder; "
                          f"wait for it to finish, or use --out NEW_DIR")


@dataclass
class RunLock:
    """An exclusive flock on `folder/.edgecv-lock`; release() or process exit frees it."""

    folder: Path
    fd: Optional[int] = None

    def acquire(self) -> "RunLock":
        import fcntl

        try:
            fd = os.open(self.folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:  # read-only folder, not ours: one line, not a traceback
            raise RunFolderError(f"{self.folder}: cannot write in this folder "
                                 f"({exc.strerror or exc})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            pid = _read_pid(fd)
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise _busy(self.folder, pid) from None
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)   # closing the descriptor drops the flock
            self.fd = None


@contextlib.contextmanager
def locked(folder: Path, *, clean: bool = True) -> Iterator[RunLock]:
    """Hold the folder's lock for the block; first remove what killed runs left there."""
    lock = RunLock(Path(folder)).acquire()
    try:
        if clean and is_edgecv_run(folder):
            clean_leftovers(folder)
        yield lock
    finally:
        lock.release()


# ---------------------------------------------------------------- leftovers
def leftovers(folder: Path) -> list[Path]:
    """edgecv-named temp files and folders under `folder` (see the module docstring)."""
    found = []
    for root, dirs, files in os.walk(folder):
        here = Path(root)
        for name in files + dirs:
            if _TMP_NAME.match(name) or (here.name == "export" and name in dirs
                                         and _SAVED_MODEL_STAGING.match(name)) \
                    or (name in dirs and _CHECKPOINT_STAGING.match(name) and _under_train(folder, here)):
                found.append(here / name)
        dirs[:] = [d for d in dirs if here / d not in found]
    return found


def _under_train(folder: Path, here: Path) -> bool:
    relative = here.relative_to(folder).parts
    return len(relative) >= 2 and relative[0] == "train"


def clean_leftovers(folder: Path) -> list[Path]:
    """Remove leftovers of killed runs; only call while holding the folder's lock."""
    removed = leftovers(folder)
    for path in removed:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                path.unlink()
    return removed


# ---------------------------------------------------------------- edgecv train
@dataclass
class RunFolder:
    """What `prepare` did: `created` is True when this process made the folder."""

    path: Path
    created: bool = False
    lock: Optional[RunLock] = None
    notes: list[str] = field(default_factory=list)

    def remove(self) -> None:
        """Delete a folder this process created (a run that failed before producing anything)."""
        if self.created:
            shutil.rmtree(self.path, ignore_errors=True)


@contextlib.contextmanager
def prepare(run_dir: Path, *, recipe: Any, recipe_path: Optional[Path], resume: bool, force: bool,
            is_chief: bool = True) -> Iterator[RunFolder]:
    """Check and lock the run folder of `edgecv train` for the whole block.

    Fresh: create it, lock, write the marker. --force: refuse unless edgecv's and free of
    inputs, lock (a live writer is never deleted under), then empty it. --resume: the
    folder must hold a run whose recipe differs only in resume-safe keys
    (edgecv.resume). Non-chief workers of a multi-worker run touch nothing.
    """
    run_dir = Path(run_dir)
    if not is_chief:        # they train into a temp folder; the chief owns the run folder
        yield RunFolder(run_dir)
        return
    if run_dir.exists() and not run_dir.is_dir():
        raise RunFolderError(f"--out {run_dir}: exists and is not a directory")
    check_not_inside_data(run_dir, recipe)
    existed = run_dir.exists()
    in_use = existed and any(p.name != LOCK for p in run_dir.iterdir())
    if in_use and not resume and not force:
        pid = holder_pid(run_dir)
        if pid is not None:
            raise _busy(run_dir, pid)
        kind = "an edgecv run folder" if is_edgecv_run(run_dir) else "not an edgecv run folder"
        raise RunFolderError(
            f"{run_dir}: already exists ({kind}); pass --resume to continue its run, --out NEW_DIR "
            f"for a new one, or --force to replace it (only an edgecv run folder can be replaced)")
    if in_use and force:
        check_deletable(run_dir, recipe, recipe_path)
    if resume:
        from edgecv.resume import ResumeError, check_resumable

        if (run_dir / "recipe.yaml").is_file() and not is_edgecv_run(run_dir) \
                and not (run_dir / "train" / "state.json").is_file():
            raise ResumeError(f"--resume: {run_dir} is not an edgecv run folder (no {MARKER} "
                              "marker, no train/state.json); use --out NEW_DIR for a new run")

        check_resumable(run_dir, recipe)
    if not existed:
        try:
            run_dir.mkdir(parents=True)
        except FileExistsError:  # two commands started on one --out at the same moment
            raise _busy(run_dir, holder_pid(run_dir)) from None
    lock = RunLock(run_dir).acquire()
    try:
        if in_use and force:
            check_deletable(run_dir, recipe, recipe_path)   # again: it may have changed meanwhile
            _clear(run_dir)
        elif resume:
            from edgecv.resume import check_resumable

            check_resumable(run_dir, recipe)                 # again, now that no one else writes
            if is_edgecv_run(run_dir):
                clean_leftovers(run_dir)
        if not is_edgecv_run(run_dir):
            write_marker(run_dir, recipe.name)
        yield RunFolder(run_dir, created=not existed, lock=lock)
    finally:
        lock.release()


def guard_write(folder: Path):
    """The lock for a command that writes into an existing run folder (bench/export
    RUN_DIR); a no-op context for anything else."""
    folder = Path(folder)
    if not folder.is_dir():
        return contextlib.nullcontext()
    return locked(folder)


__all__ = ["MARKER", "LOCK", "RunFolderError", "RunFolder", "RunLock", "prepare", "locked",
           "guard_write", "check_deletable", "protected_paths", "is_edgecv_run", "write_marker",
           "holder_pid", "leftovers", "clean_leftovers"]
