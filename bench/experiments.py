"""Table files (experiments/**/*.yaml): schema, loading and validation.

One YAML file holds one table: a paper's table (ViT Table 2, SAM Table 10, ...)
or an embedded table whose reference was recorded from a run of this project.
Each entry is one cell: a model, a dataset, a training recipe and the
published (or recorded) value with its source. `bench validate` checks every
file; errors name the file, the entry and the field, with the valid choices.

The schema is documented field by field in experiments/README.md.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench.errors import TableError, choices

SCHEMA_VERSION = 1
METRICS = {"top1": True, "top1_err": False}  # name -> higher is better
DISPERSION_KINDS = ("std", "ci95", "none")
SOURCE_KINDS = ("paper", "recorded")
OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("cosine", "constant")
ID_RE = re.compile(r"^[a-z0-9][a-z0-9_]{0,63}$")


@dataclass(frozen=True)
class Published:
    value: float
    dispersion: float | None  # None: no dispersion printed for this cell
    source: str


@dataclass(frozen=True)
class Entry:
    """One table cell: what to train and evaluate, and the number to compare with."""

    id: str
    table: str
    row: str
    column: str
    model: str
    model_kwargs: dict[str, Any]
    checkpoint: dict[str, str] | None  # {"hub": tag} | {"file": path} | None
    dataset: dict[str, Any]
    recipe: dict[str, Any]
    published: Published
    unavailable: str | None = None  # reason the cell cannot run, kept in the report

    def plan(self) -> dict[str, Any]:
        """What determines a run's result: the part DVC tracks per entry."""
        return {
            "entry": self.id,
            "table": self.table,
            "model": self.model,
            "model_kwargs": self.model_kwargs,
            "checkpoint": self.checkpoint,
            "dataset": self.dataset,
            "recipe": self.recipe,
            "unavailable": self.unavailable,
        }


@dataclass(frozen=True)
class Table:
    id: str
    path: str
    version: int
    title: str
    source: dict[str, Any]
    metric: str
    dispersion_kind: str
    dispersion_n: int
    margin: float
    rows: list[str]
    columns: list[str]
    entries: dict[str, Entry] = field(default_factory=dict)

    @property
    def higher_is_better(self) -> bool:
        return METRICS[self.metric]


class _Checker:
    """Reads typed fields out of a YAML mapping, raising TableError with the path."""

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
            raise self.fail(f"{path}.{key}", f"must lie in [{lo}, {hi}], got {value}")
        return value

    def integer(self, d: dict, key: str, path: str, lo: int, hi: int, default: Any = ...) -> int:
        value = self.get(d, key, path, int, default)
        if value is not None and not lo <= value <= hi:
            raise self.fail(f"{path}.{key}", f"must lie in [{lo}, {hi}], got {value}")
        return value

    def ident(self, value: Any, path: str) -> str:
        if not isinstance(value, str) or not ID_RE.match(value):
            raise self.fail(path, f"{value!r:.60} is not a valid id (lower-case letters, digits and _, at most 64)")
        return value


def _recipe(c: _Checker, raw: Any, path: str) -> dict[str, Any]:
    r = c.mapping(raw, path)
    c.only(r, path, ("optimizer", "schedule", "steps", "batch_size", "accum_steps", "resolution",
                     "grad_clip", "label_smoothing", "augmentation", "eval_batch_size"))
    opt = c.mapping(c.get(r, "optimizer", path, dict), f"{path}.optimizer")
    op = f"{path}.optimizer"
    c.only(opt, op, ("name", "lr", "momentum", "weight_decay", "nesterov", "betas", "sam"))
    name = c.get(opt, "name", op, str)
    if name not in OPTIMIZERS:
        raise c.fail(f"{op}.name", f"unknown optimizer {name!r}; {choices(name, OPTIMIZERS)}")
    optimizer = {
        "name": name,
        "lr": c.number(opt, "lr", op, 1e-8, 10.0),
        "weight_decay": c.number(opt, "weight_decay", op, 0.0, 1.0, 0.0),
        "momentum": c.number(opt, "momentum", op, 0.0, 1.0, 0.9),
        "nesterov": c.get(opt, "nesterov", op, bool, False),
        "sam": None,
    }
    if opt.get("sam") is not None:
        sp = f"{op}.sam"
        sam = c.mapping(opt["sam"], sp)
        c.only(sam, sp, ("rho", "adaptive"))
        optimizer["sam"] = {"rho": c.number(sam, "rho", sp, 0.0, 10.0),
                            "adaptive": c.get(sam, "adaptive", sp, bool, False)}
    sched = c.mapping(c.get(r, "schedule", path, dict, {"name": "cosine"}), f"{path}.schedule")
    sp = f"{path}.schedule"
    c.only(sched, sp, ("name", "warmup_steps"))
    sname = c.get(sched, "name", sp, str, "cosine")
    if sname not in SCHEDULES:
        raise c.fail(f"{sp}.name", f"unknown schedule {sname!r}; {choices(sname, SCHEDULES)}")
    steps = c.integer(r, "steps", path, 1, 10_000_000)
    aug = c.mapping(c.get(r, "augmentation", path, dict, {}), f"{path}.augmentation")
    c.only(aug, f"{path}.augmentation", ("shift", "hflip"))
    return {
        "optimizer": optimizer,
        "schedule": {"name": sname, "warmup_steps": c.integer(sched, "warmup_steps", sp, 0, steps, 0)},
        "steps": steps,
        "batch_size": c.integer(r, "batch_size", path, 1, 1_000_000),
        "accum_steps": c.integer(r, "accum_steps", path, 1, 4096, 1),
        "eval_batch_size": c.integer(r, "eval_batch_size", path, 1, 1_000_000, 512),
        "resolution": c.integer(r, "resolution", path, 1, 4096),
        "grad_clip": c.number(r, "grad_clip", path, 0.0, 1e6, None) if r.get("grad_clip") is not None else None,
        "label_smoothing": c.number(r, "label_smoothing", path, 0.0, 1.0, 0.0),
        "augmentation": {
            "shift": c.integer(aug, "shift", f"{path}.augmentation", 0, 64, 0),
            "hflip": c.get(aug, "hflip", f"{path}.augmentation", bool, False),
        },
    }


def _dataset(c: _Checker, raw: Any, path: str) -> dict[str, Any]:
    d = c.mapping(raw, path)
    c.only(d, path, ("name", "train_split", "test_split", "label_noise", "noise_seed"))
    return {
        "name": c.get(d, "name", path, str),
        "train_split": c.get(d, "train_split", path, str),
        "test_split": c.get(d, "test_split", path, str),
        "label_noise": c.number(d, "label_noise", path, 0.0, 1.0, 0.0),
        "noise_seed": c.integer(d, "noise_seed", path, 0, 2**31 - 1, 0),
    }


def _checkpoint(c: _Checker, raw: Any, path: str) -> dict[str, str] | None:
    if raw is None:
        return None
    d = c.mapping(raw, path)
    if len(d) != 1 or next(iter(d)) not in ("hub", "file"):
        raise c.fail(path, "expected null (train from scratch), {hub: <timm tag>} or {file: <path>}")
    kind, value = next(iter(d.items()))
    if not isinstance(value, str) or not value:
        raise c.fail(f"{path}.{kind}", "expected a non-empty string")
    if kind == "file" and (Path(value).is_absolute() or ".." in Path(value).parts):
        raise c.fail(f"{path}.file", "must be a path relative to the repository, without '..'")
    return {kind: value}


def _entry(c: _Checker, table: Table, eid: str, raw: Any) -> Entry:
    path = f"entries.{eid}"
    c.ident(eid, path)
    e = c.mapping(raw, path)
    c.only(e, path, ("row", "column", "model", "model_kwargs", "checkpoint", "dataset", "recipe",
                     "published", "unavailable"))
    row, column = c.get(e, "row", path, str), c.get(e, "column", path, str)
    if row not in table.rows:
        raise c.fail(f"{path}.row", f"unknown row {row!r}; {choices(row, table.rows)}")
    if column not in table.columns:
        raise c.fail(f"{path}.column", f"unknown column {column!r}; {choices(column, table.columns)}")
    pp = f"{path}.published"
    pub = c.mapping(c.get(e, "published", path, dict), pp)
    c.only(pub, pp, ("value", "dispersion", "source"))
    dispersion = c.number(pub, "dispersion", pp, 0.0, 1e6, None) if pub.get("dispersion") is not None else None
    if table.dispersion_kind == "none" and dispersion is not None:
        raise c.fail(f"{pp}.dispersion", "the table declares dispersion kind 'none'; remove this value")
    return Entry(
        id=eid,
        table=table.id,
        row=row,
        column=column,
        model=c.get(e, "model", path, str),
        model_kwargs=c.mapping(c.get(e, "model_kwargs", path, dict, {}), f"{path}.model_kwargs"),
        checkpoint=_checkpoint(c, e.get("checkpoint"), f"{path}.checkpoint"),
        dataset=_dataset(c, c.get(e, "dataset", path, dict), f"{path}.dataset"),
        recipe=_recipe(c, c.get(e, "recipe", path, dict), f"{path}.recipe"),
        published=Published(c.number(pub, "value", pp, -1e9, 1e9), dispersion, c.get(pub, "source", pp, str)),
        unavailable=c.get(e, "unavailable", path, str, None),
    )


def parse_table(path: str | Path, text: str) -> Table:
    """Parse and check one table file's text; raises TableError naming file and field."""
    c = _Checker(str(path))
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise c.fail(where, f"malformed YAML: {getattr(exc, 'problem', None) or exc}") from None
    top = c.mapping(raw, "")
    c.only(top, "", ("version", "id", "title", "source", "metric", "dispersion", "margin", "layout", "entries"))
    version = c.integer(top, "version", "", 1, 1_000_000)
    source = c.mapping(c.get(top, "source", "", dict), "source")
    kind = c.get(source, "kind", "source", str)
    if kind not in SOURCE_KINDS:
        raise c.fail("source.kind", f"unknown source kind {kind!r}; {choices(kind, SOURCE_KINDS)}")
    required = ("title", "arxiv", "table") if kind == "paper" else ("recorded_on", "commit", "command", "machine")
    for key in required:
        c.get(source, key, "source", (str, int))
    metric = c.get(top, "metric", "", str)
    if metric not in METRICS:
        raise c.fail("metric", f"unknown metric {metric!r}; {choices(metric, METRICS)}")
    disp = c.mapping(c.get(top, "dispersion", "", dict), "dispersion")
    c.only(disp, "dispersion", ("kind", "n"))
    dkind = c.get(disp, "kind", "dispersion", str)
    if dkind not in DISPERSION_KINDS:
        raise c.fail("dispersion.kind", f"unknown dispersion kind {dkind!r}; {choices(dkind, DISPERSION_KINDS)}")
    layout = c.mapping(c.get(top, "layout", "", dict), "layout")
    c.only(layout, "layout", ("rows", "columns"))
    lists = {}
    for key in ("rows", "columns"):
        value = c.get(layout, key, "layout", list)
        if not value or not all(isinstance(v, str) for v in value) or len(set(value)) != len(value):
            raise c.fail(f"layout.{key}", "expected a non-empty list of distinct strings")
        lists[key] = value
    table = Table(
        id=c.ident(c.get(top, "id", "", str), "id"),
        path=str(path),
        version=version,
        title=c.get(top, "title", "", str),
        source=source,
        metric=metric,
        dispersion_kind=dkind,
        dispersion_n=c.integer(disp, "n", "dispersion", 1, 1_000_000),
        margin=c.number(top, "margin", "", 1e-9, 1e6),
        rows=lists["rows"],
        columns=lists["columns"],
    )
    entries = c.mapping(c.get(top, "entries", "", dict), "entries")
    if not entries:
        raise c.fail("entries", "a table needs at least one entry")
    for eid, raw_entry in entries.items():
        table.entries[eid] = _entry(c, table, eid, raw_entry)
    return table


def load_table(path: str | Path) -> Table:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TableError(str(path), "", f"cannot read the file: {exc}") from None
    return parse_table(path, text)


def load_tables(paths: list[str | Path]) -> dict[str, Table]:
    """Load several tables; table ids and entry ids must be unique across them."""
    tables: dict[str, Table] = {}
    owner: dict[str, str] = {}
    for p in paths:
        t = load_table(p)
        if t.id in tables:
            raise TableError(str(p), "id", f"table id {t.id!r} is also used by {tables[t.id].path}")
        for eid in t.entries:
            if eid in owner:
                raise TableError(str(p), f"entries.{eid}", f"entry id is also used in {owner[eid]}")
            owner[eid] = str(p)
        tables[t.id] = t
    return tables


def all_entries(tables: dict[str, Table]) -> dict[str, Entry]:
    return {eid: e for t in tables.values() for eid, e in t.entries.items()}
