"""YAML that remembers its merges: which keys a mapping wrote itself and which it took through `<<`.

PyYAML's safe loader flattens `<<: *anchor` into the mapping, so after loading
nobody can tell an entry's own `published:` from one it inherited from the
entry it was copied from. `load` keeps that information (the same safe
constructors otherwise); `inherited` names, for each mapping of a dict of
mappings, the keys it took through a merge and the sibling they came from.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

MERGE_TAG = "tag:yaml.org,2002:merge"


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


def _construct_mapping(loader: _Loader, node: yaml.MappingNode):
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
    """Safe-load YAML text; mappings keep their merge information. Raises yaml.YAMLError."""
    return yaml.load(text, Loader=_Loader)


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
