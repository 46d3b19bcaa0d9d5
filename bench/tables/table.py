"""Table files (experiments/**/*.yaml): schema, loading and validation.

One YAML file holds one table: a paper's table (ViT Table 2, SAM Table 10, ...)
or an embedded table whose reference was recorded from a run of this project.
Each entry is one cell: a model, a dataset, a training recipe and the
published (or recorded) value with its source. `bench validate` checks every
file; errors name the file, the entry and the field, with the valid choices.

The schema is documented field by field in experiments/README.md.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import TableError, choices
from bench.tables import protocol, yamlfile
from bench.tables.claims import Claim, read_claims
from bench.tables.parts import (DEFAULT_POOL_BY, DEFAULT_SPREAD_FACTOR, METRICS, SOURCES, Costs, Derived,
                                Dispersion, Figure, Layout, Published, PaperSource, RecordedSource, ResultsSource,
                                SeedPrior, check_pool_by)
from bench.tables.recipe import Dataset, Plan, Recipe, parse_checkpoint, parse_dataset, parse_recipe
from bench.tables.schema import Checker, describe, parse, spec

# Fields a YAML merge must never carry into another entry: a cell's number belongs to that cell alone.
OWN_FIELDS = ("published",)


def _dataset(c: Checker, raw: Any, path: str) -> Dataset:
    return parse_dataset(c, raw, path, partial=True)  # the splits a runnable entry needs: Entry.check


@dataclass(frozen=True, kw_only=True)
class Entry:
    """One table cell: what to train and evaluate, and the number to compare with."""

    id: str = spec("the entry id (its key under `entries:`)", filled=True)
    table: str = spec("the table it belongs to", filled=True)
    row: str = spec("the row it is printed in (one of layout.rows)")
    column: str = spec("the column it is printed in (one of layout.columns)")
    model: str | None = spec("a timm model name (required unless the entry is derived or unavailable)", None)
    model_kwargs: dict[str, Any] | None = spec("the model's keyword arguments (`img_size: 384` interpolates a "
                                               "ViT's position embeddings)", None)
    checkpoint: dict[str, str] | None = spec("null: from scratch; {hub: <timm pretrained tag>} or {file: <path "
                                             "in the repository>}", None, reader=parse_checkpoint,
                                             type_doc="mapping")
    dataset: Dataset | None = spec("the TFDS data and splits (the dataset fields below)", None, reader=_dataset,
                                   type_doc="mapping")
    recipe: Recipe | None = spec("how it is trained and evaluated (the recipe fields below)", None,
                                 reader=parse_recipe, type_doc="mapping")
    published: Published | None = spec("the number to compare with; none: an exploratory entry (reported as "
                                       "NO_REFERENCE, never gating)", None)
    unavailable: str | None = spec("why the cell cannot run (private weights): no stage, shown as UNAVAILABLE",
                                   None)
    derived: Derived | None = spec("the cell is the per-seed mean of `key` over other entries' runs (VTAB mean, "
                                   "ReaL from the ImageNet run): no stage of its own", None)
    note: str = spec("free text shown in the report's details", "")

    def __post_init__(self):
        if self.model_kwargs is None:
            object.__setattr__(self, "model_kwargs", {})

    def check(self, c: Checker, path: str) -> None:
        if self.derived is not None and any(x is not None for x in (self.model, self.dataset, self.recipe,
                                                                     self.checkpoint)):
            raise c.fail(f"{path}.derived", "a derived entry has no model, dataset, checkpoint or recipe of its own")
        if not self.runs:
            return  # an entry that cannot run (private weights) may omit what it would need
        for key in ("model", "dataset", "recipe"):
            if getattr(self, key) is None:
                raise c.fail(f"{path}.{key}", "missing required field")
        for key in ("train_split", "test_split"):
            if getattr(self.dataset, key) is None:
                raise c.fail(f"{path}.dataset.{key}", "missing required field")
        if self.recipe.select and not (self.dataset.sweep_val_split and self.dataset.sweep_train_split):
            raise c.fail(f"{path}.dataset", "recipe.select needs sweep_train_split and sweep_val_split "
                                            "(the held-out split the choice is made on)")

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


def _entries(c: Checker, raw: Any, path: str) -> dict[str, Entry]:
    """The cells, by id; an entry's `published` value is never taken through a YAML merge (<<)."""
    entries = c.mapping(raw, path)
    if not entries:
        raise c.fail(path, "a table needs at least one entry")
    for eid, key, donor in yamlfile.inherited(entries, OWN_FIELDS):
        origin = f"entry {donor!r}" if donor else "a merged mapping"
        raise c.fail(f"{path}.{eid}.{key}",
                     f"inherited from {origin} through a YAML merge (<<); a {key} value belongs to one cell: "
                     f"write this entry's own {key} (or leave it out: an entry without one is exploratory and "
                     "never gates CI)")
    out = {}
    for eid, value in yamlfile.plain(entries).items():
        c.ident(eid, f"{path}.{eid}")
        out[eid] = parse(Entry, c, value, f"{path}.{eid}", filled={"id": eid, "table": ""})
    return out


_entries.rows = lambda prefix: describe(Entry, prefix[:-1] + ".<id>.")


@dataclass(frozen=True, kw_only=True)
class Table:
    """One table file: a paper's table (ViT Table 2, SAM Table 10, ...) or an embedded table whose reference
    was recorded from a run of this project."""

    path: str = spec("the file", filled=True)
    version: int = spec("the table's own version, bumped when a change makes earlier runs of it incomparable "
                        "(shown in the report beside the file; each run also records the file's SHA-256)",
                        lo=1, hi=1_000_000)
    id: str = spec("table id, unique across files ([a-z0-9_])", check=lambda c, v, p: c.ident(v, p))
    title: str = spec("shown in the report")
    source: PaperSource | RecordedSource | ResultsSource = spec(
        "where the table comes from: one of the kinds below", reader=SOURCES.reader(), type_doc="mapping")
    metric: str = spec("the cells' metric (top1, top5: higher is better; *_err: lower)", choices=tuple(METRICS),
                       noun="metric")
    dispersion: Dispersion = spec("how the paper printed each cell's spread")
    margin: float = spec("equivalence margin in metric points, fixed before any run (say why in a comment)",
                         lo=1e-9, hi=1e6)
    seeds: int | None = spec("the seeds each cell runs (0..seeds-1; the SAM tables printed means over 5 runs); "
                             "`bench suite use` runs the suite's main table's (DVC's train matrix is entries "
                             "x one list of seeds); null: params.yaml's seeds", None, lo=2, hi=1000)
    pool_by: tuple[str, ...] = spec("the cells that pool their seed variance: those alike in these keys (model, "
                                    "dataset, row, column; [entry]: each cell its own; []: the whole table). "
                                    "Bartlett's test falls back to each cell's own variance when a group's "
                                    "spreads differ", DEFAULT_POOL_BY, check=check_pool_by)
    spread_factor: float = spec("a cell printed without a spread: the paper's run-to-run std is taken as up to "
                                "this factor times our seeds' (the rule keeps false failure at the margin <= "
                                "alpha up to it)", DEFAULT_SPREAD_FACTOR, lo=1.0, hi=100.0)
    seed_std: SeedPrior | None = spec("our seeds' std expected before any run, with its source (`bench power` "
                                      "recommends seeds from it until cells have run)", None)
    layout: Layout = spec("rows and columns exactly as printed")
    entries: dict[str, Entry] = spec("the cells, by entry id ([a-z0-9_], at most 64 characters, unique across "
                                     "files); the entry fields are under entries.<id>.", reader=_entries,
                                     type_doc="mapping of id -> entry")
    costs: Costs | None = spec("a printed compute row", None)
    claims: tuple[Claim, ...] = spec("the paper's claims, each of one kind (below)", (),
                                     reader=read_claims, type_doc="list")
    figures: tuple[Figure, ...] = spec("effect charts", ())
    sources: dict[str, Any] = spec("the source of every protocol field's value (bench/tables/protocol.py)",
                                   None, reader=lambda c, raw, path: protocol.parse_sources(c, raw),
                                   type_doc="mapping of field path -> source, or -> {value: source}")

    def __post_init__(self):
        object.__setattr__(self, "sources", self.sources or {})
        object.__setattr__(self, "entries", {k: dataclasses.replace(e, table=self.id)
                                             for k, e in self.entries.items()})

    def check(self, c: Checker, path: str) -> None:
        """What relates the parts: each cell at a printed (row, column), spreads only where the table prints
        them, claims, charts and costs over this table's entries and columns, a source for every field."""
        for e in self.entries.values():
            where = f"entries.{e.id}"
            if e.row not in self.rows:
                raise c.fail(f"{where}.row", f"unknown row {e.row!r}; {choices(e.row, self.rows)}")
            if e.column not in self.columns:
                raise c.fail(f"{where}.column", f"unknown column {e.column!r}; {choices(e.column, self.columns)}")
            if e.published and not 0.0 <= e.published.value <= 100.0:  # every metric (METRICS) is a percentage
                raise c.fail(f"{where}.published.value", f"{e.published.printed} is not a percentage: a "
                                                         f"{self.metric} value lies in [0, 100]")
            if self.dispersion_kind == "none" and e.published and e.published.dispersion is not None:
                raise c.fail(f"{where}.published.dispersion",
                             "the table declares dispersion kind 'none'; remove this value")
        for i, fig in enumerate(self.figures):
            for col in [fig.control, *fig.treatments]:
                if col not in self.columns:
                    raise c.fail(f"figures[{i}]", f"unknown column {col!r}; {choices(str(col), self.columns)}")
        for column in (self.costs.values if self.costs else {}):
            if column not in self.columns:
                raise c.fail(f"costs.values.{column}", f"unknown column {column!r}; {choices(column, self.columns)}")
        for where, message in protocol.check(self):  # every field of every run has a source
            raise c.fail(where, message)

    @property
    def rows(self) -> tuple[str, ...]:
        return self.layout.rows

    @property
    def columns(self) -> tuple[str, ...]:
        return self.layout.columns

    @property
    def dispersion_kind(self) -> str:
        return self.dispersion.kind

    @property
    def dispersion_n(self) -> int:
        return self.dispersion.n

    @property
    def paper(self) -> str:
        # embedded tables: recorded references; released checkpoints: the project that recorded their results
        return getattr(self.source, "paper", None) or getattr(self.source, "project", None) or "recorded"

    @property
    def higher_is_better(self) -> bool:
        return METRICS[self.metric]


def parse_table(path: str | Path, text: str) -> Table:
    """Parse and check one table file's text; raises TableError naming file and field."""
    return parse(Table, Checker(str(path)), yamlfile.read(path, text), "", filled={"path": str(path)})


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
            for where, eid in claim.entries():
                if eid not in entries:
                    raise TableError(t.path, f"claims[{i}].{where}", f"unknown entry {eid!r}; {choices(eid, entries)}")
                if entries[eid].published is None:
                    raise TableError(t.path, f"claims[{i}].{where}",
                                     f"entry {eid!r} has no published value: {claim.needs_published()}")
    return tables


def all_entries(tables: dict[str, Table]) -> dict[str, Entry]:
    return {eid: e for t in tables.values() for eid, e in t.entries.items()}
