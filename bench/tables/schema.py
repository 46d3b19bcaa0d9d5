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
         choices: tuple[str, ...] | None = None, noun: str = "", check: Callable | None = None,
         key: str | None = None, reader: Callable | None = None, type_doc: str = "",
         filled: bool = False) -> Any:
    """A typed field: its description, default, range (`lo`..`hi`) or `choices`, and an extra `check`.

    `check(checker, value, path)` returns the value (possibly normalised) or raises through the checker.
    `key`: the YAML key when it is not the field's name (`from`). `reader(checker, raw, path)` reads a
    field whose form the types cannot say (a number kept as printed, one of several kinds); `type_doc`
    names that form for `bench schema`. `filled`: not a key of the file; the parser fills it (an entry's
    id from its mapping key, the table it belongs to).
    """
    meta = {"doc": doc, "lo": lo, "hi": hi, "choices": choices, "noun": noun, "check": check, "key": key,
            "reader": reader, "type_doc": type_doc, "filled": filled}
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


def key_of(f: dataclasses.Field) -> str:
    """The field's key in the file."""
    return f.metadata.get("key") or f.name


def _read(c: Checker, d: dict, f: dataclasses.Field, hint: Any, path: str) -> Any:
    kind, optional = _unwrap(hint)
    meta = f.metadata
    name = key_of(f)
    has_default = f.default is not MISSING or f.default_factory is not MISSING
    default = f.default if f.default is not MISSING else (f.default_factory() if has_default else ...)
    where = f"{path}.{name}".lstrip(".")
    if meta.get("reader") is not None or dataclasses.is_dataclass(kind) or _mapping_of(kind):
        raw = d.get(name)
        if raw is None:
            if not has_default:
                raise c.fail(where, "missing required field")
            return default
        if meta.get("reader") is not None:
            return meta["reader"](c, raw, where)
        if dataclasses.is_dataclass(kind):
            return parse(kind, c, raw, where)
        return _read_mapping(c, raw, where, _mapping_of(kind))
    lo = meta.get("lo") if meta.get("lo") is not None else -math.inf
    hi = meta.get("hi") if meta.get("hi") is not None else math.inf
    if kind is bool:
        return c.get(d, name, path, bool, default)
    if kind is int:
        return c.integer(d, name, path, int(max(lo, -2**63)), int(min(hi, 2**63)), default)
    if kind is float:
        return c.number(d, name, path, lo, hi, default)
    if kind is str:
        if meta.get("choices"):
            return c.choice(d, name, path, meta["choices"], meta.get("noun") or f.name, default)
        return c.get(d, name, path, str, default)
    if typing.get_origin(kind) is tuple:
        value = c.get(d, name, path, list, default)
        inner = typing.get_args(kind)[0]
        if isinstance(value, list) and dataclasses.is_dataclass(inner):
            return tuple(parse(inner, c, item, f"{where}[{i}]") for i, item in enumerate(value))
        if isinstance(value, list) and inner in (str, int, float):
            kinds = (int, float) if inner is float else inner
            for i, item in enumerate(value):
                if not isinstance(item, kinds) or isinstance(item, bool):
                    raise c.fail(f"{where}[{i}]", f"expected {inner.__name__}, got {type(item).__name__} "
                                                  f"{item!r:.60}")
        return tuple(value) if isinstance(value, list) else value
    if typing.get_origin(kind) is dict or kind is dict:
        return c.mapping(c.get(d, name, path, dict, default), where) if d.get(name) is not None else default
    raise TypeError(f"{f.name}: unsupported field type {hint!r}")


def _mapping_of(kind: Any) -> type | None:
    """The dataclass of a `dict[str, <dataclass>]` field (a mapping of ids to parts: entries, arms), or None."""
    if typing.get_origin(kind) is dict:
        value = typing.get_args(kind)[1]
        return value if dataclasses.is_dataclass(value) else None
    return None


def _read_mapping(c: Checker, raw: Any, path: str, cls: type) -> dict[str, Any]:
    """id -> part; each key a valid id, filled into the part's `id` field when it has one."""
    out = {}
    ids = "id" in {f.name for f in dataclasses.fields(cls) if f.metadata.get("filled")}
    for key, value in c.mapping(raw, path).items():
        c.ident(key, f"{path}.{key}")
        out[key] = parse(cls, c, value, f"{path}.{key}", filled={"id": key} if ids else None)
    return out


def parse(cls: type, c: Checker, raw: Any, path: str, defaults: dict[str, Any] | None = None,
          filled: dict[str, Any] | None = None):
    """Read `raw` (a YAML mapping) into dataclass `cls`; `defaults` fill fields that are absent or null;
    `filled` gives the fields that are not keys of the file (spec(filled=True))."""
    d = c.mapping(raw, path)
    fields = [f for f in dataclasses.fields(cls) if not f.metadata.get("filled")]
    c.only(d, path, tuple(key_of(f) for f in fields))
    if defaults:
        d = {**d, **{k: v for k, v in defaults.items() if d.get(k) is None}}
    hints = _hints(cls)
    values = dict(filled or {})
    for f in fields:
        value = _read(c, d, f, hints[f.name], path)
        if f.metadata.get("check") is not None and value is not None:
            value = f.metadata["check"](c, value, f"{path}.{key_of(f)}".lstrip("."))
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


def describe(cls: type, prefix: str = "", expand: bool = True) -> list[tuple[str, str, str, str]]:
    """(field path, type, default, description) of every field, nested parts expanded: `bench schema`.
    A field read by a `reader` shows its `type_doc`; a reader with `rows(prefix)` (kinds) expands too."""
    rows = []
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        meta = f.metadata
        if meta.get("filled"):
            continue
        kind, optional = _unwrap(hints[f.name])
        name = f"{prefix}{key_of(f)}"
        null = " or null" if optional else ""
        if meta.get("reader") is not None:
            rows.append((name, (meta.get("type_doc") or "see meaning") + null, _default(f), meta.get("doc", "")))
            more = getattr(meta["reader"], "rows", None)
            if expand and more is not None:
                rows += more(f"{name}.")
            continue
        if dataclasses.is_dataclass(kind):
            rows.append((name, "mapping" + null, _default(f), meta.get("doc", "")))
            if expand:
                rows += describe(kind, f"{name}.")
            continue
        if _mapping_of(kind):
            rows.append((name, "mapping of id -> part" + null, _default(f), meta.get("doc", "")))
            if expand:
                rows += describe(_mapping_of(kind), f"{name}.<id>.")
            continue
        if meta.get("choices"):
            type_name = "one of " + ", ".join(meta["choices"])
        else:
            type_name = getattr(kind, "__name__", str(kind)).replace("typing.", "")
            if typing.get_origin(kind) is tuple:
                inner = typing.get_args(kind)[0]
                type_name = ("list of " + inner.__name__ if inner in (str, int, float) else "list")
                if dataclasses.is_dataclass(inner) and expand:
                    rows.append((name, "list" + null, _default(f), meta.get("doc", "")))
                    rows += describe(inner, f"{name}[].")
                    continue
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


class Kinds:
    """A field that holds one of several declared parts (kinds): a registry, the field's reader and its
    `bench schema` rows. A mapping names its kind by a `tag` key (`source: {kind: paper, ...}`), or, with
    no tag, by the one marker key (`MARKER`) of a kind it holds (`claims: [{pairs: ...}, {cells: ...}]`).
    A new kind is one `@kinds.register(name)` dataclass; nothing else lists the kinds."""

    def __init__(self, what: str, tag: str | None = None):
        self.what, self.tag = what, tag
        self.classes: dict[str, type] = {}

    def register(self, name: str) -> Callable[[type], type]:
        def add(cls: type) -> type:
            if name in self.classes:
                raise ValueError(f"{self.what} kind {name!r} is registered twice")
            cls.KIND = name
            self.classes[name] = cls
            return cls
        return add

    def kind_of(self, c: Checker, d: dict, path: str) -> str:
        if self.tag is not None:
            name = c.get(d, self.tag, path, str)
            if name not in self.classes:
                raise c.fail(f"{path}.{self.tag}", f"unknown {self.what} kind {name!r}; {choices(name, self.classes)}")
            return name
        found = [n for n, cls in self.classes.items() if cls.MARKER in d]
        markers = " or ".join(f"`{cls.MARKER}`" for cls in self.classes.values())
        if len(found) != 1:
            raise c.fail(path, f"a {self.what} has exactly one of {markers}"
                               + (f"; this one has {' and '.join(self.classes[n].MARKER for n in found)}"
                                  if found else ""))
        return found[0]

    def __call__(self, c: Checker, raw: Any, path: str, filled: dict[str, Any] | None = None) -> Any:
        """The field's reader: the part, parsed as its kind declares."""
        d = c.mapping(raw, path)
        name = self.kind_of(c, d, path)
        if self.tag is not None:
            d = {k: v for k, v in d.items() if k != self.tag}
        return parse(self.classes[name], c, d, path, filled=filled)

    def many(self, c: Checker, raw: Any, path: str, filled: dict[str, Any] | None = None) -> tuple:
        """A list of parts of these kinds."""
        if not isinstance(raw, list):
            raise c.fail(path, f"expected a list, got {type(raw).__name__}")
        return tuple(self(c, item, f"{path}[{i}]", filled) for i, item in enumerate(raw))

    def rows(self, prefix: str) -> list[tuple[str, str, str, str]]:
        """Each kind: a row naming it, then its fields marked with the kind."""
        out = []
        for name, cls in self.classes.items():
            doc = " ".join((cls.__doc__ or "").split())
            if self.tag:
                mark = f"{self.tag}: {name}"
                out.append((f"{prefix}{mark}", "kind", "", doc))
            else:
                mark = f"{name} {self.what}"
                out.append((f"{prefix[:-1]} ({mark})", f"mapping with `{cls.MARKER}`", "", doc))
            out += [(f"{p} ({mark})", t, dflt, d) for p, t, dflt, d in describe(cls, prefix)]
        return out

    def reader(self, many: bool = False) -> Callable:
        """The reader to declare a field with (spec(reader=...)); `many`: a list of these parts."""
        def read(c: Checker, raw: Any, path: str) -> Any:
            return self.many(c, raw, path) if many else self(c, raw, path)

        read.rows = lambda prefix: self.rows(prefix[:-1] + "[]." if many else prefix)
        return read
