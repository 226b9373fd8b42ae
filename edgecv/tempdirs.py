"""edgecv's folders in the system temp dir, named with their creator's pid.

`edgecv-<kind>-<pid>-XXXXXXXX`: a `with` removes its folder on every exit path (SIGTERM
included, see edgecv.signals), but a SIGKILL runs no code. So each new temp folder
first sweeps those of its kind whose pid is no longer alive (and that belong to this
user): the leftovers of killed runs disappear with the next run. Folders of live
processes, other users' folders and older names without a pid are never touched.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path


def _prefix(kind: str) -> str:
    return f"edgecv-{kind}-{os.getpid()}-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:     # someone else's live process
        return True
    return True


def clean_stale(kind: str) -> list[Path]:
    """Remove `edgecv-<kind>-<pid>-*` folders of dead processes of this user."""
    pattern = re.compile(rf"^edgecv-{re.escape(kind)}-(\d+)-[a-z0-9_]+$")
    removed = []
    root = Path(tempfile.gettempdir())
    try:
        entries = list(os.scandir(root))
    except OSError:
        return removed
    for entry in entries:
        match = pattern.match(entry.name)
        if not match or not entry.is_dir(follow_symlinks=False):
            continue
        try:
            if entry.stat(follow_symlinks=False).st_uid != os.getuid():
                continue
        except OSError:
            continue
        pid = int(match.group(1))
        if pid != os.getpid() and not _alive(pid):
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
    return removed


def temp_dir(kind: str) -> tempfile.TemporaryDirectory:
    """A TemporaryDirectory named edgecv-<kind>-<pid>-*, after sweeping dead ones."""
    clean_stale(kind)
    return tempfile.TemporaryDirectory(prefix=_prefix(kind))


def make(kind: str) -> Path:
    """mkdtemp named edgecv-<kind>-<pid>-* (the caller removes it), after sweeping dead ones."""
    clean_stale(kind)
    return Path(tempfile.mkdtemp(prefix=_prefix(kind)))
