"""YAML from users, with limits: the alias-expanded size of a document, its depth, its file size.

PyYAML's `safe_load` shares one object per anchor, so a "billion laughs" document loads
in microseconds — and then explodes in whatever walks it (pydantic validation,
json.dumps for the recipe digest, yaml.safe_dump of recipe.yaml). A top-level bomb used
to be caught by luck (unknown keys are errors at the top level); one nested under an
open section such as `model:` grew until the machine ran out of memory. So every YAML
a user gives edgecv (recipes, `--set` values, dataset spec files) is composed into
nodes first, and the size it would have once every alias is expanded is counted
(memoised per node, so counting a bomb is cheap) before any Python object is built.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from edgecv.errors import RecipeError

MAX_VALUES = 100_000            # scalars + collections once aliases are expanded
MAX_FILE_BYTES = 10 * 1024 * 1024   # a recipe or dataset spec is a few KB; a class list a few MB at most


class YamlLimitError(RecipeError):
    """A YAML document is over one of the limits above (a bomb, or not a recipe at all)."""


def load(text: str, *, where: str, error: type[Exception] = YamlLimitError) -> Any:
    """`yaml.safe_load(text)` that refuses documents expanding past MAX_VALUES values.

    yaml.YAMLError (syntax) propagates as before; a limit problem raises `error` naming
    `where` (a file, or `--set key`).
    """
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = expanded_size(node, where=where, error=error)
        if size > MAX_VALUES:
            raise error(f"{where}: YAML expands to more than {MAX_VALUES} values through "
                        f"aliases (&anchor / *alias); refusing it (an alias bomb?)")
        return loader.construct_document(node)
    except RecursionError:  # PyYAML composes and constructs recursively: [[[[...]]]] deep
        raise error(f"{where}: YAML nested too deeply") from None
    finally:
        loader.dispose()


def expanded_size(root: yaml.Node, *, where: str = "YAML", error: type[Exception] = YamlLimitError) -> int:
    """Values the document would hold with every alias expanded (stops counting past the limit).

    Iterative with a memo per node: an alias is one more reference to an already counted
    node, so a 9-level, 9-wide bomb (387 million values) costs a few dozen steps.
    """
    sizes: dict[int, int] = {}
    active: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in sizes:
            continue
        children = _children(node)
        if children_done:
            active.discard(key)
            # Cap each partial sum: exact values past the limit do not matter.
            sizes[key] = min(1 + sum(sizes[id(c)] for c in children), MAX_VALUES + 1)
            continue
        if key in active:
            raise error(f"{where}: YAML alias refers to itself (a recursive structure)")
        active.add(key)
        stack.append((node, True))
        for child in children:
            if id(child) in active:
                raise error(f"{where}: YAML alias refers to itself (a recursive structure)")
            if id(child) not in sizes:
                stack.append((child, False))
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def read_text(path: str | os.PathLike, *, what: str, error: type[Exception] = YamlLimitError) -> str:
    """The text of a user's YAML file, refusing devices, FIFOs and files over MAX_FILE_BYTES
    (`edgecv train /dev/zero` must not read forever)."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: not a regular file, expected a YAML {what} file")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise error(f"{path}: {size / 1024 / 1024:.0f} MB is too large for a YAML {what} file "
                    f"(limit {MAX_FILE_BYTES // 1024 // 1024} MB)")
    return path.read_text(encoding="utf-8")
