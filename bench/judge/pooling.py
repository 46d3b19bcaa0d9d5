"""Pooling groups: the cells of a table whose seeds share one noise process, and their pooled seed variance.

    bench stats      (bench.judge.verdicts.judge; `--no-pool`: every cell its own variance)

A table's `pool_by` names the keys cells must share to pool (default: model and
dataset, so that pooled cells differ only by the recipe: optimizer, augmentation,
epochs, rho). A group's variance is sum (n_i - 1) s_i^2 / sum (n_i - 1) over its
tested cells, with that many degrees of freedom, and every cell of the group uses
it; with 3 seeds a cell's own variance has 2 df (t(0.975, 2) = 4.3), a group of
six cells' has 12 (2.18). Bartlett's test (bench.stats.homogeneity) guards the
assumption: below bench.stats.HOMOGENEITY_LEVEL, or where it cannot be computed
(a cell without spread), each cell of the group keeps its own variance, and the
verdict says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bench import stats
from bench.tables.table import Entry, Table


def _model(entry: Entry, entries: dict[str, Entry]) -> str:
    if entry.derived is None:
        return entry.model or "-"
    models = sorted({entries[s].model or "-" for s in entry.derived.sources if s in entries})
    return "+".join(models) or "-"


def _dataset(entry: Entry) -> str:
    if entry.dataset is not None:
        return entry.dataset.name
    if entry.derived is not None:
        return entry.derived.dataset or entry.derived.key
    return "-"


def group_of(table: Table, entry: Entry, entries: dict[str, Entry]) -> str:
    """The entry's pooling group, as a label: its values of the table's `pool_by` keys ("all cells": [])."""
    parts = {"model": lambda: _model(entry, entries), "dataset": lambda: _dataset(entry),
             "row": lambda: entry.row, "column": lambda: entry.column, "entry": lambda: entry.id}
    return " / ".join(parts[k]() for k in table.pool_by) or "all cells"


@dataclass(frozen=True)
class Pool:
    """A group's estimate: its cells, the pooled std and df, Bartlett's p, and whether the cells use it."""

    cells: tuple[str, ...]
    std: float
    df: float
    p_homogeneity: float
    used: bool
    note: str

    @property
    def pooled(self) -> tuple[float, float] | None:
        """(std, df) for bench.stats.test_cell, or None: each cell keeps its own."""
        return (self.std, self.df) if self.used else None


def estimate(values: dict[str, list[float]], level: float = stats.HOMOGENEITY_LEVEL) -> Pool:
    """The pooled estimate of one group's cells ({entry: its runs' values}, two or more runs each)."""
    cells = tuple(values)
    var, df = stats.pooled([np.var(v, ddof=1) for v in values.values()], [len(v) - 1 for v in values.values()])
    std = math.sqrt(var)
    if len(cells) < 2:
        return Pool(cells, std, df, math.nan, False, "")
    p = stats.homogeneity(list(values.values()))
    if not math.isfinite(p):
        return Pool(cells, std, df, p, False, "not pooled: a cell's runs have no spread (Bartlett's test cannot "
                                              "be computed); each cell keeps its own")
    if p < level:
        return Pool(cells, std, df, p, False, f"not pooled: the {len(cells)} cells' spreads differ (Bartlett p = "
                                              f"{p:.3g} < {level:g}); each cell keeps its own")
    return Pool(cells, std, df, p, True, f"pooled over {len(cells)} cells (Bartlett p = {p:.3g})")


def pools(table: Table, values: dict[str, list[float]], entries: dict[str, Entry], pool: bool = True,
          level: float = stats.HOMOGENEITY_LEVEL) -> dict[str, tuple[str, Pool]]:
    """{entry: (its group's label, the group's Pool)} for a table's tested cells ({entry: values});
    `pool=False`: every cell its own group (`--no-pool`)."""
    groups: dict[str, dict[str, list[float]]] = {}
    for eid, v in values.items():
        label = group_of(table, table.entries[eid], entries) if pool else eid
        groups.setdefault(label, {})[eid] = v
    out = {}
    for label, members in groups.items():
        found = estimate(members, level)
        for eid in members:
            out[eid] = (label, found)
    return out
