"""File-system faults a user can fix (disk full, read-only, no permission) as one line.

They reach the command line from anywhere that writes: an `OSError` from Python
(`mkdir`, an atomic write) or a TensorFlow op error whose message carries the OS text
(`ResourceExhaustedError: PATH; No space left on device [Op:SaveV2]` from a checkpoint
save, the converter writing its SavedModel). `edgecv.cli.main` asks `user_message` once
for any exception no other handler took, instead of a try/except at every call site.
Exceptions are matched by errno or by message text, never by importing TensorFlow here.
"""
from __future__ import annotations

import errno
import re

# errno -> the short reason shown. Only conditions of the machine the user can change;
# ENOENT and friends stay with the code that knows which input is missing.
REASONS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}
# The same conditions as TensorFlow's C++ file system spells them (strerror text).
_TF_TEXT = {"No space left on device": errno.ENOSPC, "Disk quota exceeded": errno.EDQUOT,
            "Read-only file system": errno.EROFS, "Permission denied": errno.EACCES}
_TF_FAULT = re.compile(r"(?P<path>/[^;{}\n]*?)\s*;\s*(?P<text>" + "|".join(map(re.escape, _TF_TEXT)) + ")")
# TensorFlow writes a checkpoint `PREFIX` through `PREFIX_temp/part-...tempstateNNN`: the
# user knows the prefix (and the folder), not the staging name.
_TF_STAGING = re.compile(r"_temp/part-[^/]*$")

HINT = {errno.ENOSPC: "free some space", errno.EDQUOT: "free some space",
        errno.EROFS: "use a writable folder",
        errno.EACCES: "check its permissions or use another folder",
        errno.EPERM: "check its permissions or use another folder"}


def fault(exc: BaseException) -> tuple[int, str] | None:
    """(errno, path) of the first file-system fault in `exc` or its causes, else None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in REASONS:
            return exc.errno, str(exc.filename if exc.filename is not None else "")
        match = _TF_FAULT.search(str(getattr(exc, "message", "") or exc))
        if match is not None and _is_tensorflow_error(exc):
            return _TF_TEXT[match["text"]], _TF_STAGING.sub("", match["path"])
        exc = exc.__cause__ or exc.__context__
    return None


def user_message(exc: BaseException) -> str | None:
    """`PATH: no space left on device (free some space, then run the command again ...)`."""
    found = fault(exc)
    if found is None:
        return None
    code, path = found
    where = f"{path}: " if path else ""
    return (f"{where}{REASONS[code]} ({HINT[code]}, then run the command again; "
            "an interrupted `edgecv train` continues with --resume)")


def _is_tensorflow_error(exc: BaseException) -> bool:
    return type(exc).__module__.startswith(("tensorflow.", "tf_keras."))
