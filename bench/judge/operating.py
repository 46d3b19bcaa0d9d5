"""What each table's gate can show: its typical cell's operating characteristics, at the seeds it is set to
run and at the seeds recommended for it (bench.judge.power simulates them).

    bench power      (results/power.csv from `bench stats`; the report's "How often the gate is wrong")

A table's typical cell: the median printed std of its cells that print one (a single published draw where
none does), our seeds' std (the table's runs pooled where cells have run, else the table's stated prior,
`seed_std`; never the published std), the median size of its cells' pooling groups, its spread factor, and
its tested cells (those with a reference that can run) for Holm.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd

from bench import stats
from bench.judge import power
from bench.judge.pooling import group_of
from bench.tables.table import Table, all_entries


def _observed(table: Table, verdicts: pd.DataFrame) -> tuple[float, str] | None:
    """Our seeds' std pooled over the table's cells that ran (sum (n_i - 1) s_i^2 / sum (n_i - 1))."""
    if not len(verdicts) or "std" not in verdicts:
        return None
    mine = verdicts[(verdicts.table == table.id) & (pd.to_numeric(verdicts.n_runs, errors="coerce") >= 2)]
    sd = pd.to_numeric(mine["std"], errors="coerce")
    ok = sd.notna()
    if not ok.any():
        return None
    var, df = stats.pooled(sd[ok] ** 2, pd.to_numeric(mine.n_runs[ok]) - 1)
    return math.sqrt(var), f"our runs: {int(ok.sum())} cells pooled ({df:g} df)"


def setting(table: Table, tables: dict[str, Table], verdicts: pd.DataFrame, seeds: int, alpha: float = 0.05,
            pool: bool = True) -> tuple[power.Setting | None, str]:
    """The typical cell's Setting at `seeds`, and where its seed std comes from (None: no runs, no prior)."""
    entries = all_entries(tables)
    tested = [e for e in table.entries.values() if e.published is not None and e.unavailable is None]
    spreads = [e.published.spread(table.dispersion) for e in tested]
    with_std = [s for s, n in spreads if n > 1]
    printed = 2 * len(with_std) >= len(spreads) and with_std
    pub_std, pub_n = (float(np.median(with_std)), table.dispersion_n) if printed else (0.0, 1)
    sizes: dict[str, int] = {}
    for e in tested:
        key = group_of(table, e, entries)
        sizes[key] = sizes.get(key, 0) + 1
    group = int(np.median([sizes[group_of(table, e, entries)] for e in tested])) if tested and pool else 1
    found = _observed(table, verdicts)
    if found is None and table.seed_std is not None:
        found = table.seed_std.value, f"prior: {table.seed_std.source}"
    if found is None:
        return None, "no runs yet and no seed_std prior in the table file"
    floor = stats.quantisation(None, tested[0].published.unit if tested else 0.01)
    sigma, where = found
    return power.Setting(max(sigma, floor), seeds, pub_std, pub_n, table.margin, floor, group=group,
                         factor=table.spread_factor, cells=max(1, len(tested)), alpha=alpha, pool=pool), where


COLUMNS = ["table", "title", "margin", "seeds", "sigma", "sigma_source", "published_std", "published_n", "cells",
           "group", "spread_df", "spread_factor", "false_fail_at_margin", "reproduced_at_zero",
           "reproduced_at_margin", "caught80_cell", "caught80_holm", "power_2x_holm", "smallest_margin80",
           "seeds_recommended", "recommended_because", "reproduced_at_zero_recommended",
           "caught80_holm_recommended", "smallest_margin80_recommended", "seeds_2x", "seeds_equal",
           "least_margin80", "least_caught80", "reaches80", "method"]


def operating(tables: dict[str, Table], verdicts: pd.DataFrame, seeds: int, alpha: float = 0.05,
              pool: bool = True, force: int | None = None) -> pd.DataFrame:
    """One row per table: its typical cell's characteristics at its seeds (`force`, else the table's `seeds`,
    else `seeds`: params.yaml's) and at the recommended seeds."""
    rows = []
    for t in tables.values():
        n = force or t.seeds or seeds
        s, where = setting(t, tables, verdicts, n, alpha, pool)
        row = {"table": t.id, "title": t.title, "margin": t.margin, "seeds": n, "sigma_source": where,
               "method": f"simulated: {power.DRAWS} experiments per point, RNG seed 0"}
        if s is not None:
            now = power.characteristics(s)
            rec = power.recommend(s)
            best, why = rec["seeds"], rec["why"]
            then = power.characteristics(replace(s, n=best))
            row.update(sigma=s.sigma, published_std=s.pub_std, published_n=s.pub_n, cells=s.cells, group=s.group,
                       spread_df=s.group * (n - 1) if s.group > 1 else n - 1,
                       spread_factor=s.factor if s.pub_n == 1 else math.nan, **now, seeds_recommended=best,
                       recommended_because=why, reproduced_at_zero_recommended=then["reproduced_at_zero"],
                       caught80_holm_recommended=then["caught80_holm"],
                       smallest_margin80_recommended=then["smallest_margin80"],
                       seeds_2x=rec["seeds_2x"], seeds_equal=rec["seeds_equal"],
                       least_margin80=rec["least_margin80"], least_caught80=rec["least_caught80"],
                       reaches80=rec["seeds_equal"] is not None)
        rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def reach(r) -> str:
    """What the table can and cannot show, in words (a row of `operating`)."""
    if pd.isna(r.sigma):
        return ""
    twice = (f"a cell twice the margin off is caught 80% after Holm from {int(r.seeds_2x)} seeds"
             if not pd.isna(r.seeds_2x) else
             f"a cell twice the margin off is not caught 80% after Holm with up to {power.MAX_SEEDS} seeds (the "
             f"least difference caught 80%: {r.least_caught80:.4g})")
    if not pd.isna(r.seeds_equal):
        equal = f"REPRODUCED at 0 reaches 80% at the margin {r.margin:g} from {int(r.seeds_equal)} seeds"
    else:
        equal = (f"REPRODUCED at 0 cannot reach 80% at the margin {r.margin:g} with up to {power.MAX_SEEDS} seeds "
                 f"(it would take a margin of {r.least_margin80:.4g})")
    return f"{equal}; {twice}."
