"""Table files (experiments/**/*.yaml): schema, loading and validation.

One YAML file holds one table: a paper's table (ViT Table 2, SAM Table 10, ...)
or an embedded table whose reference was recorded from a run of this project.
Each entry is one cell: a model, a dataset, a training recipe and the
published (or recorded) value with its source. `bench validate` checks every
file; errors name the file, the entry and the field, with the valid choices.

The schema is documented field by field in experiments/README.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench.tables import protocol, yamlfile
from bench.errors import TableError, choices
from bench.tables.recipe import RESULT_KEYS, Dataset, Plan, Recipe, parse_checkpoint, parse_dataset, parse_recipe
from bench.tables.schema import Checker
from bench.tables.claims import Claim, claims, costs, figures

SCHEMA_VERSION = 1
# name -> higher is better. A table has one; its runs.csv rows carry that metric and its complement.
METRICS = {"top1": True, "top1_err": False, "top5": True, "top5_err": False}
DISPERSION_KINDS = ("std", "ci95", "none")
# paper: a paper's table; recorded: a reference this project recorded (embedded tables); results: results
# another project recorded for released checkpoints (timm's results CSVs).
SOURCE_KINDS = ("paper", "recorded", "results")
NUMBER_RE = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")


@dataclass(frozen=True)
class Published:
    value: float
    dispersion: float | None  # None: no dispersion printed for this cell
    source: str
    printed: str = ""  # the value as printed in the paper ("99.50"), for `bench published`
    printed_dispersion: str = ""  # as printed; "<0.1": a bound, used as the dispersion (its upper bound)


@dataclass(frozen=True)
class Derived:
    """A cell that is other entries' runs seen another way (ImageNet ReaL, the VTAB mean): no run of its own."""

    sources: tuple[str, ...]  # entry ids; the cell is the mean of `key` over them, per seed
    key: str  # a result key of their metrics.json
    dataset: str | None = None  # shown in runs.csv and `bench published`


@dataclass(frozen=True)
class Entry:
    """One table cell: what to train and evaluate, and the number to compare with."""

    id: str
    table: str
    row: str
    column: str
    model: str | None
    model_kwargs: dict[str, Any]
    checkpoint: dict[str, str] | None  # {"hub": tag} | {"file": path} | None
    dataset: Dataset | None
    recipe: Recipe | None
    published: Published | None  # None: an exploratory entry (no reference: reported, never gating)
    unavailable: str | None = None  # reason the cell cannot run, kept in the report
    derived: Derived | None = None
    note: str = ""

    @property
    def runs(self) -> bool:
        """Whether the entry has train stages of its own (not derived, not unavailable)."""
        return self.derived is None and self.unavailable is None

    def plan(self) -> Plan:
        """What determines a run's result: the part DVC tracks per entry (entries that run)."""
        if not self.runs:
            raise ValueError(f"entry {self.id} has no runs of its own (derived or unavailable)")
        return Plan(entry=self.id, table=self.table, model=self.model, model_kwargs=self.model_kwargs,
                    checkpoint=self.checkpoint, dataset=self.dataset, recipe=self.recipe,
                    unavailable=self.unavailable)


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
    # A printed compute row (ViT Table 2's TPUv3-core-days): row name, unit, column -> Published.
    costs: dict[str, Any] | None = None
    claims: list[Claim] = field(default_factory=list)
    figures: list[dict[str, Any]] = field(default_factory=list)  # effect charts: {title, control, treatments}
    # The source of each protocol field's value (bench.tables.protocol): path -> source, or path -> {value: source}.
    sources: dict[str, Any] = field(default_factory=dict)

    @property
    def paper(self) -> str:
        # embedded tables: recorded references; released checkpoints: the project that recorded their results
        return str(self.source.get("paper") or self.source.get("project") or "recorded")

    @property
    def higher_is_better(self) -> bool:
        return METRICS[self.metric]


# Fields a YAML merge must never carry into another entry: a cell's number belongs to that cell alone.
OWN_FIELDS = ("published",)


def _inherited(c: Checker, entries: dict) -> None:
    """Reject an entry that takes another entry's published value through `<<: *anchor`, naming both."""
    for eid, key, donor in yamlfile.inherited(entries, OWN_FIELDS):
        origin = f"entry {donor!r}" if donor else "a merged mapping"
        raise c.fail(f"entries.{eid}.{key}",
                     f"inherited from {origin} through a YAML merge (<<); a {key} value belongs to one cell: "
                     f"write this entry's own {key} (or leave it out: an entry without one is exploratory and "
                     "never gates CI)")


def _published(c: Checker, pub: dict, pp: str, table: Table) -> Published:
    """Values may be quoted ("99.50") to keep the digits exactly as printed in the paper."""
    c.only(pub, pp, ("value", "dispersion", "source"))
    parsed = {}
    for key in ("value", "dispersion"):
        raw = pub.get(key)
        if raw is None:
            parsed[key] = (None, "")
        elif isinstance(raw, str):
            text = raw.strip()
            bound = key == "dispersion" and text.startswith("<")  # "± <0.1": kept as printed, an upper bound
            if not NUMBER_RE.match(text[1:].strip() if bound else text):
                raise c.fail(f"{pp}.{key}", f"expected a number as printed (e.g. \"99.50\", or \"<0.1\" for a "
                                           f"dispersion printed as a bound), got {raw!r:.60}")
            parsed[key] = (float(text[1:] if bound else text), text)
        else:  # a YAML number keeps its digits as written (yamlfile.Printed): 14.00 stays "14.00"
            number = c.number(pub, key, pp, -1e9, 1e9)
            text = getattr(raw, "text", "")
            parsed[key] = (float(number), text if NUMBER_RE.match(text) else f"{number:g}")
    value, printed = parsed["value"]
    if value is None:
        raise c.fail(f"{pp}.value", "missing required field")
    dispersion, printed_dispersion = parsed["dispersion"]
    if dispersion is not None and dispersion < 0:
        raise c.fail(f"{pp}.dispersion", f"must be >= 0, got {dispersion}")
    if table.dispersion_kind == "none" and dispersion is not None:
        raise c.fail(f"{pp}.dispersion", "the table declares dispersion kind 'none'; remove this value")
    return Published(value, dispersion, c.get(pub, "source", pp, str), printed, printed_dispersion)


def _derived(c: Checker, raw: Any, path: str) -> Derived | None:
    if raw is None:
        return None
    d = c.mapping(raw, path)
    c.only(d, path, ("from", "key", "dataset"))
    sources = c.get(d, "from", path, list)
    if not sources:
        raise c.fail(f"{path}.from", "expected a non-empty list of entry ids")
    for i, eid in enumerate(sources):
        c.ident(eid, f"{path}.from[{i}]")
    key = c.choice(d, "key", path, RESULT_KEYS, "result key")
    return Derived(tuple(sources), key, c.get(d, "dataset", path, str, None))


def _entry(c: Checker, table: Table, eid: str, raw: Any) -> Entry:
    path = f"entries.{eid}"
    c.ident(eid, path)
    e = c.mapping(raw, path)
    c.only(e, path, ("row", "column", "model", "model_kwargs", "checkpoint", "dataset", "recipe",
                     "published", "unavailable", "derived", "note"))
    row, column = c.get(e, "row", path, str), c.get(e, "column", path, str)
    if row not in table.rows:
        raise c.fail(f"{path}.row", f"unknown row {row!r}; {choices(row, table.rows)}")
    if column not in table.columns:
        raise c.fail(f"{path}.column", f"unknown column {column!r}; {choices(column, table.columns)}")
    unavailable = c.get(e, "unavailable", path, str, None)
    derived = _derived(c, e.get("derived"), f"{path}.derived")
    if derived is not None and any(k in e for k in ("model", "dataset", "recipe", "checkpoint")):
        raise c.fail(f"{path}.derived", "a derived entry has no model, dataset, checkpoint or recipe of its own")
    # An entry that cannot run (private weights) may omit what it would need; one that runs may not.
    required = unavailable is None and derived is None
    model = c.get(e, "model", path, str, required=required)
    dataset = e.get("dataset")
    recipe = e.get("recipe")
    if required and (dataset is None or recipe is None):
        raise c.fail(f"{path}.{'dataset' if dataset is None else 'recipe'}", "missing required field")
    dataset = parse_dataset(c, dataset, f"{path}.dataset", partial=not required) if dataset is not None else None
    recipe = parse_recipe(c, recipe, f"{path}.recipe") if recipe is not None else None
    if recipe and recipe.select and not (dataset and dataset.sweep_val_split and dataset.sweep_train_split):
        raise c.fail(f"{path}.dataset", "recipe.select needs sweep_train_split and sweep_val_split "
                                        "(the held-out split the choice is made on)")
    return Entry(
        id=eid,
        table=table.id,
        row=row,
        column=column,
        model=model,
        model_kwargs=c.mapping(c.get(e, "model_kwargs", path, dict, {}), f"{path}.model_kwargs"),
        checkpoint=parse_checkpoint(c, e.get("checkpoint"), f"{path}.checkpoint"),
        dataset=dataset,
        recipe=recipe,
        published=(_published(c, c.mapping(e["published"], f"{path}.published"), f"{path}.published", table)
                   if e.get("published") is not None else None),
        unavailable=unavailable,
        derived=derived,
        note=c.get(e, "note", path, str, ""),
    )


def parse_table(path: str | Path, text: str) -> Table:
    """Parse and check one table file's text; raises TableError naming file and field."""
    c = Checker(str(path))
    try:
        raw = yamlfile.load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise c.fail(where, f"malformed YAML: {getattr(exc, 'problem', None) or exc}") from None
    top = c.mapping(raw, "")
    c.only(top, "", ("version", "id", "title", "source", "metric", "dispersion", "margin", "layout", "entries",
                     "costs", "claims", "figures", "sources"))
    version = c.integer(top, "version", "", 1, 1_000_000)
    source = c.mapping(c.get(top, "source", "", dict), "source")
    kind = c.get(source, "kind", "source", str)
    if kind not in SOURCE_KINDS:
        raise c.fail("source.kind", f"unknown source kind {kind!r}; {choices(kind, SOURCE_KINDS)}")
    required = {"paper": ("paper", "title", "arxiv", "table"),
                "recorded": ("recorded_on", "commit", "command", "machine"),
                "results": ("project", "repository", "files", "commit")}[kind]
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
    _inherited(c, entries)
    entries = yamlfile.plain(entries)
    for eid, raw_entry in entries.items():
        table.entries[eid] = _entry(c, table, eid, raw_entry)
    if top.get("costs") is not None:
        object.__setattr__(table, "costs", costs(c, top["costs"], table))  # frozen: set once, here
    if top.get("claims") is not None:
        table.claims.extend(claims(c, top["claims"], table))
    if top.get("figures") is not None:
        table.figures.extend(figures(c, top["figures"], table))
    table.sources.update(protocol.parse_sources(c, top.get("sources") or {}))
    for where, message in protocol.check(table):  # every field of every run has a source
        raise c.fail(where, message)
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
    entries = all_entries(tables)
    for t in tables.values():
        for e in t.entries.values():
            for i, src in enumerate(e.derived.sources if e.derived else ()):
                if src not in entries:
                    raise TableError(t.path, f"entries.{e.id}.derived.from[{i}]",
                                     f"unknown entry {src!r} (not in the tables loaded together: "
                                     f"{', '.join(tables)}); {choices(src, entries)}")
                if entries[src].derived is not None:
                    raise TableError(t.path, f"entries.{e.id}.derived.from[{i}]",
                                     f"{src!r} is itself derived; derive from entries that run")
        for i, claim in enumerate(t.claims):
            for j, eid in enumerate(claim.cells):
                if eid not in entries:
                    raise TableError(t.path, f"claims[{i}].cells[{j}]", f"unknown entry {eid!r}; {choices(eid, entries)}")
                if entries[eid].published is None:
                    raise TableError(t.path, f"claims[{i}].cells[{j}]",
                                     f"entry {eid!r} has no reference value to be within")
            for j, pair in enumerate(claim.pairs):
                for eid in (e for side in pair for e in side):
                    if eid not in entries:
                        raise TableError(t.path, f"claims[{i}].pairs[{j}]",
                                         f"unknown entry {eid!r}; {choices(eid, entries)}")
                    if entries[eid].published is None:
                        raise TableError(t.path, f"claims[{i}].pairs[{j}]",
                                         f"entry {eid!r} has no published value: a claim compares published "
                                         "effects, so each of its entries needs one")
    return tables


def all_entries(tables: dict[str, Table]) -> dict[str, Entry]:
    return {eid: e for t in tables.values() for eid, e in t.entries.items()}
