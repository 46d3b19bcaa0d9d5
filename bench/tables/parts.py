"""The parts of a table file besides its entries' recipes: where the table comes from, its layout and
dispersion, a cell's published number, derived cells, printed compute rows and effect charts.

Declared as bench.tables.recipe's parts are (bench.tables.schema): `bench schema` lists every key, and an
error names the file and the dotted field. Where a table comes from is one of three source kinds, each
one declaration with the report's line about it (PARTIAL): a paper's table, a reference this project
recorded, or results another project recorded for released checkpoints.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Callable

from bench.tables.recipe import RESULT_KEYS
from bench.errors import choices
from bench.tables.schema import Checker, Kinds, parse, spec
from bench.tables.yamlfile import Printed

NUMBER_RE = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")
# name -> higher is better. A table has one; its runs.csv rows carry that metric and its complement.
METRICS = {"top1": True, "top1_err": False, "top5": True, "top5_err": False}
SQRT12 = math.sqrt(12.0)


def _text(c: Checker, raw: Any, path: str) -> str:
    """A name as printed: text, or a number such as a table's (`table: 10`)."""
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        raise c.fail(path, f"expected text, got {type(raw).__name__} {raw!r:.60}")
    return str(raw)


# -- where a table comes from ------------------------------------------------------------------------

SOURCES = Kinds("source", tag="kind")


@SOURCES.register("paper")
@dataclass(frozen=True, kw_only=True)
class PaperSource:
    """A paper's table."""

    paper: str = spec("the paper's short name (ViT, SAM)")
    title: str = spec("its title")
    arxiv: str = spec("its arXiv id")
    table: str = spec("the table's number as printed", reader=_text, type_doc="text or number")

    PARTIAL = "Source: {{ src.title }} (arXiv:{{ src.arxiv }}), Table {{ src.table }}."  # the report's line (Jinja)


@SOURCES.register("recorded")
@dataclass(frozen=True, kw_only=True)
class RecordedSource:
    """A reference this project recorded from its own runs (`bench record-reference`)."""

    recorded_on: str = spec("the date of the recording", reader=_text, type_doc="text")
    commit: str = spec("the code's commit")
    command: str = spec("the command that recorded it")
    machine: str = spec("where it ran")
    packages: str = spec("the numeric packages' versions", "")

    PARTIAL = ("Recorded reference (not a paper's result): recorded {{ src.recorded_on }} at commit <code>"
               "{{ src.commit }}</code> on {{ src.machine }} with <code>{{ src.command }}</code>.")


@SOURCES.register("results")
@dataclass(frozen=True, kw_only=True)
class ResultsSource:
    """Results another project recorded for released checkpoints (timm's results CSVs)."""

    project: str = spec("the project (timm)")
    repository: str = spec("its repository")
    files: str = spec("the results files read")
    commit: str = spec("their commit")

    PARTIAL = ("Source: results {{ src.project }} recorded for released checkpoints ({{ src.repository }}, "
               "{{ src.files }} at commit <code>{{ src.commit }}</code>).")


# -- layout and dispersion ---------------------------------------------------------------------------

def _names(c: Checker, value: tuple, path: str) -> tuple:
    if not value or len(set(value)) != len(value):
        raise c.fail(path, "expected a non-empty list of distinct strings")
    return value


@dataclass(frozen=True, kw_only=True)
class Layout:
    """The printed table's rows and columns; each entry sits at one (row, column)."""

    rows: tuple[str, ...] = spec("the rows, exactly as printed", check=_names)
    columns: tuple[str, ...] = spec("the columns, exactly as printed", check=_names)


# How a paper prints a cell's run-to-run spread: kind -> the sample std that a printed value h over n runs
# implies (a new kind is one function here). "none": the paper printed no spread.
DISPERSIONS: dict[str, Callable[[float, int], float]] = {}


def _dispersion_kind(name: str):
    def add(fn):
        DISPERSIONS[name] = fn
        return fn
    return add


@_dispersion_kind("std")
def _std(h: float, n: int) -> float:
    """The sample std over n runs, as printed."""
    return h


@_dispersion_kind("ci95")
def _ci95(h: float, n: int) -> float:
    """A 95% CI half-width of the mean of n runs: h = t(0.975, n - 1) * std / sqrt(n)."""
    from scipy import stats

    return h * math.sqrt(n) / float(stats.t.ppf(0.975, n - 1))


def printed_unit(text: str) -> float:
    """The unit of a number's last printed digit: "99.50" -> 0.01, "<0.1" -> 0.1, "14" -> 1."""
    text = text.strip().lstrip("<")
    return 10.0 ** -(len(text.split(".")[1]) if "." in text else 0)


def published_std(dispersion: float | None, kind: str, n: int, printed: str | None = None) -> tuple[float, int]:
    """(sample std, n) of a published value; n = 1: a single draw (no dispersion printed).

    `printed`: the dispersion as printed; its last digit's unit / sqrt(12) floors the printed
    number before it is converted (a printed "0.00" carries rounding, not zero).
    """
    if kind == "none" or dispersion is None:
        return 0.0, 1
    if not math.isfinite(dispersion):
        raise ValueError(f"dispersion must be finite, got {dispersion}")
    if kind not in DISPERSIONS:
        raise ValueError(f"unknown dispersion kind {kind!r}")
    if n < 2:
        raise ValueError(f"a {kind} dispersion needs the number of runs it was computed over (n >= 2), got {n}")
    h = dispersion
    if printed:
        h = max(h, printed_unit(printed) / SQRT12)
    return DISPERSIONS[kind](h, n), n


@dataclass(frozen=True, kw_only=True)
class Dispersion:
    """How the paper printed each cell's run-to-run spread."""

    kind: str = spec("std (the sample std); ci95 (a 95% CI half-width of the mean); none (no spread printed)",
                     choices=(*DISPERSIONS, "none"), noun="dispersion kind")
    n: int = spec("the number of runs it was computed over (at least 2 for std and ci95; 1 with none)", lo=1,
                  hi=1_000_000)

    def check(self, c: Checker, path: str) -> None:
        if self.kind != "none" and self.n < 2:
            raise c.fail(f"{path}.n", f"a {self.kind} dispersion is computed over at least 2 runs, got n: {self.n} "
                                      "(a paper that printed single runs has dispersion kind none)")


# -- how our seeds' spread is estimated and what is assumed of the paper's ----------------------------

# What a table's cells may be pooled by (`pool_by`): the keys of a pooling group (bench.judge.pooling).
POOL_KEYS = ("model", "dataset", "row", "column", "entry")
# Cells that share the network and the data share a noise process: they differ only by the recipe (optimizer,
# augmentation, epochs, rho), which moves the mean far more than the seed-to-seed spread.
DEFAULT_POOL_BY = ("model", "dataset")
# A paper that printed no spread: its run-to-run std is taken as up to this factor times ours (bench.stats
# holds the same number; README, "How verdicts are made", says why 2).
DEFAULT_SPREAD_FACTOR = 2.0


def check_pool_by(c: Checker, value: tuple, path: str) -> tuple:
    for i, key in enumerate(value):
        if key not in POOL_KEYS:
            raise c.fail(f"{path}[{i}]", f"unknown pooling key {key!r}; {choices(str(key), POOL_KEYS)}")
    if len(set(value)) != len(value):
        raise c.fail(path, "a pooling key is listed twice")
    return value


@dataclass(frozen=True, kw_only=True)
class SeedPrior:
    """Our seeds' std expected before any run (what `bench power` recommends seeds from), with its source."""

    value: float = spec("the seed-to-seed std of a typical cell, in metric points", lo=1e-6, hi=1e6)
    source: str = spec("where it comes from: the papers' printed spreads, the official repositories' logs, or "
                       "our recorded runs, and how it was derived")


# -- a cell's number ---------------------------------------------------------------------------------

def _printed(c: Checker, raw: Any, path: str, bound: bool = False) -> Printed:
    """A number kept as printed: quoted ("99.50"), or a YAML number whose digits are kept as written;
    with `bound`, "<0.1" (a dispersion printed as a bound: its upper bound is used)."""
    if isinstance(raw, str):
        text = raw.strip()
        is_bound = bound and text.startswith("<")
        if not NUMBER_RE.match(text[1:].strip() if is_bound else text):
            raise c.fail(path, "expected a number as printed (e.g. \"99.50\""
                               + (", or \"<0.1\" for a dispersion printed as a bound" if bound else "")
                               + f"), got {raw!r:.60}")
        out = Printed(float(text[1:] if is_bound else text))
        out.text = text
        return out
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise c.fail(path, f"expected a number, got {type(raw).__name__} {raw!r:.60}")
    number = float(raw)
    if not math.isfinite(number) or not -1e9 <= number <= 1e9:
        raise c.fail(path, f"must be a finite number in [-1e9, 1e9], got {raw!r}")
    out = Printed(number)
    written = getattr(raw, "text", "")
    out.text = written if NUMBER_RE.match(written) else f"{number:g}"
    return out


def _dispersion(c: Checker, raw: Any, path: str) -> Printed:
    value = _printed(c, raw, path, bound=True)
    if value < 0:
        raise c.fail(path, f"must be >= 0, got {float(value)}")
    return value


@dataclass(frozen=True, kw_only=True)
class Published:
    """The cell's number as the paper (or the recording) printed it, and where it is printed."""

    value: float = spec("the number; quote it to keep the printed digits (\"99.50\")", reader=_printed,
                        type_doc="number as printed")
    dispersion: float | None = spec("its spread as printed (the table's dispersion kind and n); \"<0.1\" for "
                                    "a printed bound", None, reader=_dispersion, type_doc="number as printed")
    source: str = spec("paper, table, row and column (or the recording's date, commit and seeds)")

    @property
    def printed(self) -> str:
        """The value as printed ("99.50")."""
        return getattr(self.value, "text", "") or f"{self.value:g}"

    def spread(self, dispersion: Dispersion) -> tuple[float, int]:
        """(sample std, n) of this value in a table of that dispersion kind and n."""
        return published_std(self.dispersion, dispersion.kind, dispersion.n, self.printed_dispersion or None)

    @property
    def unit(self) -> float:
        """The unit of the value's last printed digit (the floor of any spread it can show)."""
        return printed_unit(self.printed)

    @property
    def printed_dispersion(self) -> str:
        """The dispersion as printed ("0.10", "<0.1"); "" when none was printed."""
        if self.dispersion is None:
            return ""
        return getattr(self.dispersion, "text", "") or f"{self.dispersion:g}"


def _entry_ids(c: Checker, value: tuple, path: str) -> tuple:
    if not value:
        raise c.fail(path, "expected a non-empty list of entry ids")
    for i, eid in enumerate(value):
        c.ident(eid, f"{path}[{i}]")
    return value


@dataclass(frozen=True, kw_only=True)
class Derived:
    """A cell that is other entries' runs seen another way (ImageNet ReaL, the VTAB mean): no run of its own."""

    sources: tuple[str, ...] = spec("the entries it is computed from (the per-seed mean of `key` over them)",
                                    key="from", check=_entry_ids)
    key: str = spec("a result key of their metrics.json", choices=RESULT_KEYS, noun="result key")
    dataset: str | None = spec("the dataset shown in runs.csv and `bench published`", None)


# -- printed compute and effect charts ---------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class CostValue:
    id: str = spec("an id for the printed number", check=lambda c, v, p: c.ident(v, p))
    printed: str = spec("as printed")
    value: float = spec("its value", lo=0.0, hi=1e12)
    source: str = spec("paper, table, row and column")


@dataclass(frozen=True, kw_only=True)
class Costs:
    """A printed compute row (ViT Table 2's TPUv3-core-days)."""

    row: str = spec("the row's name as printed")
    unit: str = spec("its unit")
    values: dict[str, CostValue] = spec("per column (a column of the layout): the printed number",
                                        reader=lambda c, raw, path: {
                                            str(k): _cost(c, v, f"{path}.{k}")
                                            for k, v in c.mapping(raw, path).items()},
                                        type_doc="mapping of column -> {id, printed, value, source}")


def _cost(c: Checker, raw: Any, path: str) -> CostValue:
    return parse(CostValue, c, raw, path)


@dataclass(frozen=True, kw_only=True)
class Figure:
    """An effect chart (SAM's Figure 1, left): per row, treatment columns against a control column."""

    title: str = spec("the chart's title")
    control: str = spec("the control column")
    treatments: tuple[str, ...] = spec("the treatment columns")
