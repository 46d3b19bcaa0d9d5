"""Typed table-file fields: frozen dataclasses that parse, check, document and serialise themselves.

A field of a parsed part (a recipe, its optimizer, a dataset...) is declared
once, as a dataclass field built by `spec()`: its type, default, range or
choices, and the one-line description that `bench schema` prints. `parse()`
reads a YAML mapping into the dataclass through the `Checker`, so that every
error names the file and the dotted field path and lists the valid choices;
a part's cross-field rules live in its `check()` method. `to_json()` and
`from_json()` give the plain JSON form of plan files (the keys are the field
names, so a plan file's keys are the schema's).

Pure Python (no torch, pandas or scipy): `bench validate` and `bench plan` stay fast.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from typing import Any, Callable

from bench.errors import TableError, choices

ID_RE = re.compile(r"^[a-z0-9][a-z0-9_]{0,63}$")
SEED_MAX = 2**31 - 1  # numpy's and torch's seeds: integers in [0, 2**31)


def seed_arg(text: str) -> int:
    """argparse type of a seed: an integer in [0, 2**31), else a clear usage error (exit 2, nothing run)."""
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer seed") from None
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"{value} is outside [0, 2**31): seeds are non-negative integers")
    return value
MISSING = dataclasses.MISSING


class Checker:
    """Reads typed fields out of a YAML mapping, raising TableError with the file and field path."""

    def __init__(self, file: str):
        self.file = file

    def fail(self, path: str, message: str) -> TableError:
        return TableError(self.file, path, message)

    def mapping(self, value: Any, path: str) -> dict:
        if not isinstance(value, dict):
            raise self.fail(path, f"expected a mapping, got {type(value).__name__}")
        bad = [k for k in value if not isinstance(k, str)]
        if bad:
            raise self.fail(path, f"keys must be strings, got {bad[0]!r}")
        return value

    def only(self, d: dict, path: str, allowed: tuple[str, ...]) -> None:
        for key in d:
            if key not in allowed:
                raise self.fail(f"{path}.{key}".lstrip("."), f"unknown field; {choices(key, allowed)}")

    def get(self, d: dict, key: str, path: str, kind: type | tuple, default: Any = ..., required: bool = True):
        where = f"{path}.{key}".lstrip(".")
        if key not in d or d[key] is None and default is not ...:
            if default is ... and required:
                raise self.fail(where, "missing required field")
            return None if default is ... else default
        value = d[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            names = " or ".join(k.__name__ for k in kinds)
            raise self.fail(where, f"expected {names}, got {type(value).__name__} {value!r:.60}")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail(where, f"must be a finite number, got {value!r}")
        return value

    def number(self, d: dict, key: str, path: str, lo: float, hi: float, default: Any = ...) -> float:
        value = self.get(d, key, path, float, default)
        if value is not None and not lo <= value <= hi:
            raise self.fail(f"{path}.{key}".lstrip("."), f"must lie in [{lo}, {hi}], got {value}")
        return value

    def integer(self, d: dict, key: str, path: str, lo: int, hi: int, default: Any = ...) -> int:
        value = self.get(d, key, path, int, default)
        if value is not None and not lo <= value <= hi:
            raise self.fail(f"{path}.{key}".lstrip("."), f"must lie in [{lo}, {hi}], got {value}")
        return value

    def choice(self, d: dict, key: str, path: str, valid: tuple[str, ...], noun: str, default: Any = ...):
        value = self.get(d, key, path, str, default)
        if value is not None and value not in valid:
            raise self.fail(f"{path}.{key}".lstrip("."), f"unknown {noun} {value!r}; {choices(value, valid)}")
        return value

    def ident(self, value: Any, path: str) -> str:
        if not isinstance(value, str) or not ID_RE.match(value):
            raise self.fail(path, f"{value!r:.60} is not a valid id (lower-case letters, digits and _, at most 64)")
        return value


def spec(doc: str, default: Any = MISSING, *, lo: float | None = None, hi: float | None = None,
         choices: tuple[str, ...] | None = None, noun: str = "", check: Callable | None = None) -> Any:
    """A typed field: its description, default, range (`lo`..`hi`) or `choices`, and an extra `check`.

    `check(checker, value, path)` returns the value (possibly normalised) or raises through the checker.
    """
    meta = {"doc": doc, "lo": lo, "hi": hi, "choices": choices, "noun": noun, "check": check}
    if isinstance(default, (list, dict)):
        raise TypeError("use a tuple or a dataclass instance as a default")
    if dataclasses.is_dataclass(default):
        return dataclasses.field(default_factory=lambda: default, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _unwrap(hint: Any) -> tuple[Any, bool]:
    """(the type inside Optional[...], whether None is allowed)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return hint, False


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _read(c: Checker, d: dict, f: dataclasses.Field, hint: Any, path: str) -> Any:
    kind, optional = _unwrap(hint)
    meta = f.metadata
    has_default = f.default is not MISSING or f.default_factory is not MISSING
    default = f.default if f.default is not MISSING else (f.default_factory() if has_default else ...)
    where = f"{path}.{f.name}".lstrip(".")
    if dataclasses.is_dataclass(kind):
        raw = d.get(f.name)
        if raw is None:
            if not has_default:
                raise c.fail(where, "missing required field")
            return default
        return parse(kind, c, raw, where)
    lo = meta.get("lo") if meta.get("lo") is not None else -math.inf
    hi = meta.get("hi") if meta.get("hi") is not None else math.inf
    if kind is bool:
        return c.get(d, f.name, path, bool, default)
    if kind is int:
        return c.integer(d, f.name, path, int(max(lo, -2**63)), int(min(hi, 2**63)), default)
    if kind is float:
        return c.number(d, f.name, path, lo, hi, default)
    if kind is str:
        if meta.get("choices"):
            return c.choice(d, f.name, path, meta["choices"], meta.get("noun") or f.name, default)
        return c.get(d, f.name, path, str, default)
    if typing.get_origin(kind) is tuple:
        value = c.get(d, f.name, path, list, default)
        inner = typing.get_args(kind)[0]
        if isinstance(value, list) and dataclasses.is_dataclass(inner):
            return tuple(parse(inner, c, item, f"{where}[{i}]") for i, item in enumerate(value))
        return tuple(value) if isinstance(value, list) else value
    if typing.get_origin(kind) is dict or kind is dict:
        return c.mapping(c.get(d, f.name, path, dict, default), where) if d.get(f.name) is not None else default
    raise TypeError(f"{f.name}: unsupported field type {hint!r}")


def parse(cls: type, c: Checker, raw: Any, path: str, defaults: dict[str, Any] | None = None):
    """Read `raw` (a YAML mapping) into dataclass `cls`; `defaults` fill fields that are absent or null."""
    d = c.mapping(raw, path)
    names = tuple(f.name for f in dataclasses.fields(cls))
    c.only(d, path, names)
    if defaults:
        d = {**d, **{k: v for k, v in defaults.items() if d.get(k) is None}}
    hints = _hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        value = _read(c, d, f, hints[f.name], path)
        if f.metadata.get("check") is not None and value is not None:
            value = f.metadata["check"](c, value, f"{path}.{f.name}".lstrip("."))
        values[f.name] = value
    obj = cls(**values)
    check = getattr(obj, "check", None)
    if check is not None:
        check(c, path)
    return obj


def to_json(obj: Any) -> Any:
    """The plain JSON form: dataclasses as mappings of their fields, tuples as lists."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_json(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_json(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_json(v) for k, v in obj.items()}
    return obj


def from_json(cls: type, data: Any) -> Any:
    """Rebuild a dataclass from its `to_json` form (plan files; no checks: `bench plan` wrote them)."""
    if data is None:
        return None
    hints = _hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue  # the default
        kind, _ = _unwrap(hints[f.name])
        value = data[f.name]
        if dataclasses.is_dataclass(kind):
            value = from_json(kind, value)
        elif typing.get_origin(kind) is tuple and value is not None:
            inner = typing.get_args(kind)[0]
            value = tuple(from_json(inner, v) if dataclasses.is_dataclass(inner) else v for v in value)
        values[f.name] = value
    unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown keys {sorted(unknown)}")
    return cls(**values)


def describe(cls: type, prefix: str = "") -> list[tuple[str, str, str, str]]:
    """(field path, type, default, description) of every field, nested parts expanded: `bench schema`."""
    rows = []
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        kind, optional = _unwrap(hints[f.name])
        name = f"{prefix}{f.name}"
        meta = f.metadata
        if dataclasses.is_dataclass(kind):
            rows.append((name, "mapping" + (" or null" if optional else ""), _default(f), meta.get("doc", "")))
            rows += describe(kind, f"{name}.")
            continue
        if meta.get("choices"):
            type_name = "one of " + ", ".join(meta["choices"])
        else:
            type_name = getattr(kind, "__name__", str(kind)).replace("typing.", "")
            if typing.get_origin(kind) is tuple:
                type_name = "list"
        lo, hi = meta.get("lo"), meta.get("hi")
        if lo is not None or hi is not None:
            type_name += f" in [{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}]"
        rows.append((name, type_name + (" or null" if optional else ""), _default(f), meta.get("doc", "")))
    return rows


def _default(f: dataclasses.Field) -> str:
    """A default as YAML would write it (null, true, [0.5, 0.5, 0.5], {name: cosine, ...})."""
    import json

    if f.default is MISSING and f.default_factory is MISSING:
        return "required"
    value = to_json(f.default if f.default is not MISSING else f.default_factory())
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {json.dumps(v)}" for k, v in value.items()) + "}"
    return json.dumps(value).strip('"') if isinstance(value, str) else json.dumps(value)
