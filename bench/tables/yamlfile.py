"""YAML as bench reads it (table files, study files, params.yaml): safe, strict, and aware of its merges.

`read(file, text)` is the one way in; every YAML problem becomes one TableError
naming the file and the line:

  * a key written twice in one mapping is refused (PyYAML keeps the second
    silently: a study's second `tuning:` would replace its budget);
  * aliases may expand a document to at most MAX_VALUES values, checked on the
    composed nodes before anything is built (a billion-laughs document is a few
    hundred bytes that expand to 10^9 strings as soon as a field is copied), and
    may not refer to themselves;
  * nesting deeper than Python's recursion allows is refused, not a crash.

PyYAML's safe loader flattens `<<: *anchor` into the mapping, so after loading
nobody can tell an entry's own `published:` from one it inherited from the
entry it was copied from. `load` keeps that information (the same safe
constructors otherwise); `inherited` names, for each mapping of a dict of
mappings, the keys it took through a merge and the sibling they came from.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from bench.errors import TableError

MERGE_TAG = "tag:yaml.org,2002:merge"
# The most values (scalars, lists, mappings) a document may hold once its aliases are expanded: the largest
# shipped file holds under 5,000; a billion-laughs document 10^9.
MAX_VALUES = 100_000


class Refused(yaml.MarkedYAMLError):
    """A document PyYAML would load but bench does not: a duplicate key, an alias bomb, a self-reference."""


class Mapping(dict):
    """A loaded YAML mapping with its node, its own keys and the nodes it merged (nearest first)."""

    node: Any = None
    own: frozenset = frozenset()
    merged: tuple = ()


class Printed(float):
    """A YAML float that keeps its text as written ("14.00" stays "14.00", not 14.0)."""

    text: str = ""


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader; mappings load as `Mapping`, floats as `Printed`."""


def _construct_float(loader: _Loader, node: yaml.ScalarNode) -> float:
    value = loader.construct_yaml_float(node)
    if value != value or value in (float("inf"), float("-inf")):
        return value
    out = Printed(value)
    out.text = str(node.value).strip()
    return out


def _no_duplicates(loader: _Loader, node: yaml.MappingNode) -> None:
    seen: dict = {}
    for key, _ in node.value:
        if key.tag == MERGE_TAG or not isinstance(key, yaml.ScalarNode):
            continue
        value = loader.construct_object(key)
        try:
            first = seen.setdefault(value, key)
        except TypeError:  # an unhashable key: construct_mapping refuses it
            continue
        if first is not key:
            raise Refused(None, None, f"duplicate key {value!r} (first at line {first.start_mark.line + 1}): "
                                      "YAML would keep only the second; write it once", key.start_mark)


def _construct_mapping(loader: _Loader, node: yaml.MappingNode):
    _no_duplicates(loader, node)
    # Read the merge keys before construct_mapping flattens them into node.value.
    own = frozenset(k.value for k, _ in node.value if k.tag != MERGE_TAG and isinstance(k, yaml.ScalarNode))
    merged = []
    for key, value in node.value:
        if key.tag == MERGE_TAG:
            merged.extend(value.value if isinstance(value, yaml.SequenceNode) else [value])
    data = Mapping()
    data.node, data.own, data.merged = node, own, tuple(merged)
    yield data
    data.update(loader.construct_mapping(node))


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:float", _construct_float)


def _children(node: yaml.Node) -> list:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _bound(root: yaml.Node) -> None:
    """Refuse a document whose aliases expand it past MAX_VALUES values, or refer to themselves: the sizes of
    the composed nodes (an alias is its anchor's node again), each counted once, without expanding anything."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()  # the nodes on the path from the root
    stack = [(root, False)]
    while stack:
        node, closing = stack.pop()
        key = id(node)
        if closing:
            open_.discard(key)
            sizes[key] = 1 + sum(sizes[id(c)] for c in _children(node))
            if sizes[key] > MAX_VALUES:
                raise Refused(None, None, f"aliases expand this value to more than {MAX_VALUES:,} values (a YAML "
                                          "alias bomb?): refused before expanding it", node.start_mark)
            continue
        if key in sizes:
            continue
        if key in open_:
            raise Refused(None, None, "an alias refers to the value that contains it (a self-reference)",
                          node.start_mark)
        open_.add(key)
        stack.append((node, True))
        stack += [(c, False) for c in _children(node) if id(c) not in sizes]


def load(text: str) -> Any:
    """Safe-load YAML text; mappings keep their merge information. Raises yaml.YAMLError (Refused for a
    duplicate key, an alias bomb or a self-reference; too deep a nesting as a YAMLError too)."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _bound(node)
        return loader.construct_document(node)
    except RecursionError:
        raise yaml.YAMLError("nested too deeply to read") from None
    finally:
        loader.dispose()


def read(file: str | Path, text: str) -> Any:
    """`load`, every YAML problem raised as one TableError naming the file and the line (and column)."""
    try:
        return load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        what = "" if isinstance(exc, Refused) else "malformed YAML: "
        raise TableError(str(file), where, f"{what}{problem}") from None


def read_file(path: str | Path) -> Any:
    """A YAML file read with `read`; an unreadable file is a TableError too."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TableError(str(path), "", f"cannot read the file: {getattr(exc, 'strerror', None) or exc}") from None
    return read(path, text)


def inherited(siblings: dict, keys: tuple[str, ...]) -> Iterator[tuple[str, str, str | None]]:
    """(sibling id, key, donor sibling id or None) for each of `keys` a sibling took through `<<`."""
    by_node = {id(v.node): k for k, v in siblings.items() if isinstance(v, Mapping)}
    for name, value in siblings.items():
        if not isinstance(value, Mapping):
            continue
        for key in keys:
            if key in value and key not in value.own:
                donors = [by_node.get(id(n)) for n in value.merged]
                yield name, key, next((d for d in donors if d), None)


def plain(value: Any) -> Any:
    """The same data as plain dicts and lists (no yaml nodes kept alive)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
