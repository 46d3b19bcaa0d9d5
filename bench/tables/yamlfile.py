"""YAML as bench reads it (table files, study files, params.yaml): safe, strict, and aware of its merges.

`read(file, text)` is the one way in; every YAML problem becomes one TableError
naming the file and the line:

  * a key written twice in one mapping is refused (PyYAML keeps the second
    silently: a study's second `tuning:` would replace its budget).

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


class Refused(yaml.MarkedYAMLError):
    """A document PyYAML would load but bench does not: a duplicate key."""


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


def load(text: str) -> Any:
    """Safe-load YAML text; mappings keep their merge information. Raises yaml.YAMLError (Refused for a
    duplicate key)."""
    return yaml.load(text, Loader=_Loader)


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
