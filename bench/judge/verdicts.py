"""Verdicts: every table cell and every claim judged from results/runs.csv (pandas).

    bench stats     results/runs.csv + table files -> results/verdicts.csv, claims.csv, summary.json

verdicts.csv has one row per table cell (published against reproduced, the
tests of bench.stats, Holm within the table, the verdict); claims.csv one row
per (claim, pair) with the claim's own verdict repeated on each row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench import stats
from bench.errors import BenchError
from bench.tables.parts import Published
from bench.tables.table import Entry, Table


def _spread(table: Table, entry: Entry) -> tuple[float, int]:
    return entry.published.spread(table.dispersion)


# The published fields of a cell without a reference (an exploratory entry).
_NO_REFERENCE = Published(value=np.nan, dispersion=None, source="")


def _device_hours(runs: pd.DataFrame) -> float:
    """Device-hours of some runs: as recorded (wall time x devices), else wall time alone (older runs)."""
    recorded = runs["device_hours"] if "device_hours" in runs else pd.Series(np.nan, index=runs.index)
    return float(recorded.fillna(runs["wall_time_s"].fillna(0) / 3600.0).sum())


def _why(bad: pd.DataFrame) -> str:
    """The reason a cell has too few runs: one shared reason, or one per seed."""
    reasons = {r if st == "missing" and r else f"{st}: {r}" if r else st
               for st, r in zip(bad.status, bad.reason.fillna(""))}
    if len(reasons) == 1:
        return reasons.pop()
    per_seed = sorted({f"seed {s}: {st}" + (f" ({r})" if r else "") for s, st, r in
                       zip(bad.seed, bad.status, bad.reason.fillna(""))})
    return "fewer than two successful runs: " + "; ".join(per_seed)


def _test_size(runs: pd.DataFrame) -> float | None:
    """The test-set size of a cell's runs (for the quantisation floor), when they recorded it."""
    if "test_examples" not in runs:
        return None
    sizes = pd.to_numeric(runs["test_examples"], errors="coerce").dropna()
    return float(sizes.min()) if len(sizes) else None


def judge(tables: dict[str, Table], runs: pd.DataFrame, alpha: float = 0.05, pool: bool = True) -> pd.DataFrame:
    """One row per cell: published vs reproduced, tests (seed variance pooled per group: bench.judge.pooling;
    `pool=False`: each cell's own), Holm within the table, verdict."""
    from bench.judge import pooling
    from bench.tables.table import all_entries

    everything = all_entries(tables)
    out = []
    for table in tables.values():
        cells, tested = [], {}
        for entry in table.entries.values():
            sel = runs[(runs.entry == entry.id) & (runs.metric == table.metric)]
            ok = sel[sel.status == "ok"].sort_values("seed")
            values = ok["value"].tolist()
            if not np.all(np.isfinite(values)):
                raise BenchError(f"results/runs.csv: {entry.id} has a non-finite {table.metric} with status ok; "
                                 "rerun `bench collect`")
            pub = entry.published or _NO_REFERENCE
            pstd, pn = _spread(table, entry) if entry.published else (np.nan, 0)
            row = {
                "table": table.id, "entry": entry.id, "row": entry.row, "column": entry.column,
                "metric": table.metric, "higher_is_better": table.higher_is_better,
                "published": pub.value, "published_dispersion": pub.dispersion,  # NaN: no reference
                "published_printed": pub.printed, "published_dispersion_printed": pub.printed_dispersion,
                "derived_from": ";".join(entry.derived.sources) if entry.derived else "", "note": entry.note,
                "dispersion_kind": table.dispersion_kind if pub.dispersion is not None else "none",
                "published_n": pn, "published_std": pstd, "source": pub.source, "margin": table.margin,
                "n_runs": len(values), "n_expected": len(sel), "values": ";".join(f"{v:.4f}" for v in values),
                "mean": float(np.mean(values)) if values else np.nan,
                "std": float(np.std(values, ddof=1)) if len(values) > 1 else np.nan,
                "seeds": ";".join(str(s) for s in ok["seed"]),
                "wall_time_s": float(sel.drop_duplicates("seed")["wall_time_s"].fillna(0).sum()),
                "device_hours": _device_hours(sel.drop_duplicates("seed")),
                "device": ", ".join(sorted(set(ok["device_name"].dropna()))),
                "git_commit": ", ".join(sorted(set(ok["git_commit"].dropna()))),
                "reason": "",
            }
            bad = sel[sel.status != "ok"]
            if entry.published is None:  # exploratory: our numbers, compared with nothing, never gating
                row.update(verdict=stats.NO_REFERENCE,
                           reason="no reference: an exploratory entry (record one with "
                                  f"`bench record-reference --entry {entry.id}`)")
            elif len(values) < 2:
                row.update(verdict=stats.UNAVAILABLE, reason=entry.unavailable or _why(bad))
            else:
                if len(bad):
                    row["reason"] = f"{len(bad)} of {len(sel)} runs missing or failed"
                row["spread_floor"] = stats.quantisation(_test_size(ok), pub.unit)
                tested[entry.id] = values
                cells.append(row)
            out.append(row)
        groups = pooling.pools(table, tested, everything, pool)
        for cell in cells:
            label, group = groups[cell["entry"]]
            test = stats.test_cell(tested[cell["entry"]], cell["published"], cell["published_std"],
                                   cell["published_n"], table.margin, alpha, cell["spread_floor"], group.pooled,
                                   table.spread_factor)
            cell.update(stats.as_row(test), group=label, group_cells=len(group.cells), group_std=group.std,
                        group_df=group.df, p_homogeneity=group.p_homogeneity, pooled=group.used,
                        pool_note=group.note)
        # DISCREPANT: the 95% CI outside +-margin, Holm-adjusted across the table's tested cells.
        for cell, p_holm in zip(cells, stats.holm([c["p_beyond"] for c in cells])):
            cell["p_holm"] = p_holm
            cell["verdict"] = (stats.REPRODUCED if cell["p_tost"] < alpha else
                               stats.DISCREPANT if p_holm < alpha else stats.INCONCLUSIVE)
    frame = pd.DataFrame(out)
    for col in VERDICT_TESTS:
        if col not in frame:  # no cell had two runs: keep the columns, empty
            frame[col] = np.nan
    sign = np.where(frame["higher_is_better"], 1.0, -1.0)
    frame["worse"] = (frame.get("delta", pd.Series(np.nan, index=frame.index)) * sign) < 0
    return frame


# The columns of a tested cell (empty where no cell had two runs).
VERDICT_TESTS = ("delta", "ci95_low", "ci95_high", "p_welch", "p_tost", "p_beyond", "df", "se", "spread",
                 "spread_df", "spread_factor", "spread_floor", "mde", "tost_margin80", "prediction_interval",
                 "p_holm", "group", "group_cells", "group_std", "group_df", "p_homogeneity", "pooled", "pool_note")


def _number(value) -> float | int | None:
    """A JSON number rounded for reading (4 decimals), or None when missing."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    if value != value:
        return None
    return int(value) if value.is_integer() and abs(value) < 1e9 else round(value, 4)


def summary(verdicts: pd.DataFrame, claims: pd.DataFrame) -> dict:
    """results/summary.json, the file `dvc metrics` and `dvc exp show` read: per cell that ran, its reproduced
    mean and its delta to the reference under the entry's id (`cells.<entry>.mean`), so `dvc metrics diff`
    names the cell that moved; then the verdict counts and the compute spent. Everything else (spreads,
    CIs, per-table counts) is in results/verdicts.csv and the report."""
    ran = verdicts[verdicts.n_runs > 0]
    cells = {r["entry"]: {"mean": _number(r.get("mean")), "delta": _number(r.get("delta"))}
             for r in ran.to_dict("records")}
    own = verdicts[verdicts.get("derived_from", pd.Series("", index=verdicts.index)).fillna("") == ""]
    counts = verdicts.verdict.value_counts()
    return {"cells": cells,
            "verdicts": {k: int(counts.get(k, 0)) for k in (stats.REPRODUCED, stats.INCONCLUSIVE, stats.DISCREPANT,
                                                             stats.UNAVAILABLE, stats.NO_REFERENCE)},
            "claims": {k: int(v) for k, v in claims.drop_duplicates("claim").claim_verdict.value_counts().items()},
            "device_hours": round(float(own.device_hours.fillna(0).sum()), 4)}


class Context:
    """What a claim kind's judge reads (bench.tables.claims): its table, every loaded entry, the runs'
    values in the table's metric, the published spreads, and the cell verdicts (computed once, on demand)."""

    def __init__(self, tables: dict[str, Table], runs: pd.DataFrame, alpha: float,
                 verdicts: pd.DataFrame | None):
        self.tables, self.runs, self.alpha, self._verdicts = tables, runs, alpha, verdicts
        self.entries = {e.id: (t, e) for t in tables.values() for e in t.entries.values()}
        self.table: Table | None = None

    def values(self, entry: str) -> dict[int, float]:
        """{seed: value} of the entry's successful runs, in the claim's table's metric."""
        runs = self.runs
        sel = runs[(runs.entry == entry) & (runs.metric == self.table.metric) & (runs.status == "ok")]
        return {int(s): float(v) for s, v in zip(sel.seed, sel.value)}

    def test_size(self, entry: str) -> float | None:
        return _test_size(self.runs[self.runs.entry == entry])

    def spread(self, entry: str) -> tuple[float, int]:
        """The published (std, n) of the entry's value, in its own table's dispersion kind."""
        return _spread(*self.entries[entry])

    def why_not(self, entry: str, ran: dict[int, float]) -> str:
        """The recorded reason an arm has fewer than two runs ("not run yet (suite ...)", a failure)."""
        if len(ran) >= 2:
            return ""
        bad = self.runs[(self.runs.entry == entry) & (self.runs.status != "ok")]
        reasons = [str(r) for r in bad.reason.dropna() if str(r)]
        return f"{entry}: {reasons[0]}" if reasons else ""

    def verdicts(self) -> pd.DataFrame:
        if self._verdicts is None:
            self._verdicts = judge(self.tables, self.runs, self.alpha)
        return self._verdicts


CLAIM_COLUMNS = ["claim", "kind", "table", "text", "source", "direction", "min_effect", "gate", "margin", "metric",
                 "treatment", "control", "treatment_row", "treatment_column", "control_column", "n_seeds", "seeds",
                 "effect", "published_effect", "ci95_low", "ci95_high", "gap_ci95_low", "gap_ci95_high",
                 "p_direction", "p_opposite", "p_opposite_holm", "p_gap_tost", "cell_verdict", "verdict", "reason",
                 "claim_verdict"]


def judge_claims(tables: dict, runs: pd.DataFrame, alpha: float = 0.05,
                 verdicts: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per (claim, pair) or (claim, cell), with the claim's own verdict repeated on each row: each
    claim judged by its kind (bench.tables.claims). `verdicts`: the cell verdicts, computed when needed."""
    ctx = Context(tables, runs, alpha, verdicts)
    rows = []
    for t in tables.values():
        ctx.table = t
        for claim in t.claims:
            rows += claim.judge(ctx)
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)
