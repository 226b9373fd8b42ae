"""Typed errors. The CLI turns every EdgecvError into one stderr line and exit code 2."""


class EdgecvError(Exception):
    """A user-facing error: bad input, missing file, unreachable host. Never a bug."""


class RecipeError(EdgecvError):
    """A recipe (or a --set override) is malformed; the message names the key path."""


class ModelError(EdgecvError):
    """An unknown model name or invalid builder arguments."""


class DataError(EdgecvError):
    """A dataset cannot be read or is invalid; the message names the file."""


class ExportError(EdgecvError):
    """A conversion failed or a .tflite file is unusable."""


class BenchError(EdgecvError):
    """A benchmark could not run (missing runtime, delegate, host, data)."""
