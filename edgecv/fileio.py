"""Atomic file writing: a crash never leaves a half-written model or report."""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator


def plain_mode(*, directory: bool = False) -> int:
    """The mode a plain open() / mkdir() would give under the current umask (mkstemp and
    mkdtemp make 0600 / 0700, which a renamed temp file or folder would keep)."""
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if directory else 0o666) & ~umask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it into place only on success."""
    path = Path(path)
    with _naming(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        # The temp name keeps the real suffix: Keras and TF pick a format from it.
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=f"-{path.name}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp creates 0600; give the final file the permissions a plain open() would.
    os.chmod(tmp_path, plain_mode())
    try:
        with _naming(path):
            yield tmp_path
            os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def _naming(path: Path) -> Iterator[None]:
    """A write's OSError names the file being written: `f.write` failing with ENOSPC says only
    "No space left on device" and mkstemp names its random temp file, but the command
    line's one-line error should name the file the user asked for."""
    try:
        yield
    except OSError as exc:
        named = exc.filename is not None and not Path(str(exc.filename)).name.startswith(".tmp-")
        if named or exc.errno is None:
            raise
        raise OSError(exc.errno, exc.strerror, str(path)) from exc


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_jsonable) + "\n")


def _jsonable(value: Any) -> Any:
    """Let numpy scalars/arrays and paths pass through json.dumps."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside `path`; it replaces `path` only on success."""
    import shutil

    path = Path(path)
    with _naming(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp_path = Path(tempfile.mkdtemp(prefix=".tmp-", suffix=f"-{path.name}", dir=path.parent))
    try:
        with _naming(path):
            yield tmp_path
            if path.exists():
                shutil.rmtree(path)
            os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            shutil.rmtree(tmp_path, ignore_errors=True)


def write_png(path: str | os.PathLike, image) -> Path:
    """Encode an OpenCV (BGR or grey) image as PNG and write it atomically."""
    import cv2

    ok, png = cv2.imencode(".png", image)
    if not ok:
        raise ValueError(f"OpenCV could not encode {Path(path).name} as PNG")
    return write_bytes(path, png.tobytes())
