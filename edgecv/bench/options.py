"""`edgecv bench` options that can be refused before any model is loaded or run."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from edgecv.bench.runner import MAX_THREADS
from edgecv.errors import BenchError


def check_options(*, threads: Optional[int] = None, json_out: Optional[Path] = None) -> None:
    """One-line BenchErrors for a thread count LiteRT cannot take and a --json target that
    cannot be written (a folder; under a file) — found now, not after the benchmark."""
    if threads is not None and not 1 <= threads <= MAX_THREADS:
        raise BenchError(f"--threads {threads}: must be between 1 and {MAX_THREADS}")
    if json_out is not None:
        json_out = Path(json_out)
        if json_out.is_dir():
            raise BenchError(f"--json {json_out}: is a directory; give a file name, "
                             f"e.g. --json {json_out / 'report.json'}")
        parent = next((p for p in json_out.parents if p.exists()), None)
        if parent is not None and not parent.is_dir():
            raise BenchError(f"--json {json_out}: {parent} is a file, not a directory")
