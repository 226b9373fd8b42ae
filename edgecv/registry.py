"""A name -> object registry that refuses duplicates and suggests close names."""
from __future__ import annotations

import difflib
import fnmatch
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from edgecv.errors import EdgecvError


def suggest(name: str, choices: list[str] | tuple[str, ...]) -> str:
    """Return '; did you mean X?' for the closest choice, or '' when nothing is close."""
    close = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


@dataclass(frozen=True)
class Entry:
    name: str
    obj: Any
    info: dict = field(default_factory=dict)


class Registry:
    """Holds named entries (model builders, dataset formats, export formats...)."""

    def __init__(self, kind: str, error: type[EdgecvError] = EdgecvError):
        self.kind = kind
        self.error = error
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, **info: Any) -> Callable[[Any], Any]:
        def decorator(obj: Any) -> Any:
            self.add(name, obj, **info)
            return obj

        return decorator

    def add(self, name: str, obj: Any, **info: Any) -> None:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = Entry(name, obj, dict(info))

    def entry(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise self.error(
                f"unknown {self.kind} {name!r}{suggest(name, self.names())}"
            ) from None

    def get(self, name: str) -> Any:
        return self.entry(name).obj

    def names(self, pattern: str = "*") -> list[str]:
        return sorted(n for n in self._entries if fnmatch.fnmatchcase(n, pattern))

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries[n] for n in self.names())

    def __len__(self) -> int:
        return len(self._entries)
