"""Verdicts: every table cell and every claim judged from results/runs.csv (pandas).

    bench stats     results/runs.csv + table files -> results/verdicts.csv, claims.csv, summary.json

verdicts.csv has one row per table cell (published against reproduced, the
tests of bench.judge.stats, Holm within the table, the verdict); claims.csv one row
per (claim, pair) with the claim's own verdict repeated on each row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.judge import stats
from bench.errors import BenchError
from bench.tables.table import Entry, Published, Table
from bench.tables.claims import side_label


def _spread(table: Table, entry: Entry) -> tuple[float, int]:
    return stats.published_spread(entry.published, table.dispersion_kind, table.dispersion_n)


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


def judge(tables: dict[str, Table], runs: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """One row per cell: published vs reproduced, tests, Holm within the table, verdict."""
    out = []
    for table in tables.values():
        cells = []
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
                floor = stats.quantisation(_test_size(ok), pub.printed)
                test = stats.test_cell(values, pub.value, pstd, pn, table.margin, alpha, floor)
                row.update(stats.as_row(test), spread_floor=floor)
                if len(bad):
                    row["reason"] = f"{len(bad)} of {len(sel)} runs missing or failed"
                cells.append(row)
            out.append(row)
        # DISCREPANT: the 95% CI outside +-margin, Holm-adjusted across the table's tested cells.
        for cell, p_holm in zip(cells, stats.holm([c["p_beyond"] for c in cells])):
            cell["p_holm"] = p_holm
            cell["verdict"] = (stats.REPRODUCED if cell["p_tost"] < alpha else
                               stats.DISCREPANT if p_holm < alpha else stats.INCONCLUSIVE)
    frame = pd.DataFrame(out)
    for col in ("delta", "ci95_low", "ci95_high", "p_welch", "p_tost", "p_beyond", "df", "se", "spread",
                "spread_floor", "mde", "tost_margin80", "prediction_interval", "p_holm"):
        if col not in frame:  # no cell had two runs: keep the columns, empty
            frame[col] = np.nan
    sign = np.where(frame["higher_is_better"], 1.0, -1.0)
    frame["worse"] = (frame.get("delta", pd.Series(np.nan, index=frame.index)) * sign) < 0
    return frame


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


# A cells claim's row verdict from its cell's: within the margin, undecided, beyond it, not run.
_WITHIN = {stats.REPRODUCED: stats.CONSISTENT, stats.INCONCLUSIVE: stats.NOT_REPRODUCED,
           stats.DISCREPANT: stats.CONTRADICTED}


def _cell_rows(claim, base: dict, verdicts: pd.DataFrame) -> list[dict]:
    """A cells claim: one row per cell, from the cell's own verdict (bench.judge.verdicts.judge): its delta to the
    reference is the row's effect, tested against zero within the table's margin."""
    rows = []
    by_entry = verdicts.set_index("entry") if len(verdicts) else None
    for eid in claim.cells:
        row = {**base, "treatment": eid, "control": "reference", "published_effect": 0.0}
        if by_entry is None or eid not in by_entry.index:
            rows.append({**row, "verdict": stats.UNAVAILABLE, "n_seeds": 0, "reason": f"no verdict for {eid}"})
            continue
        v = by_entry.loc[eid]
        rows.append({**row, "n_seeds": int(v.n_runs), "seeds": v.seeds, "effect": v.delta,
                     "ci95_low": v.ci95_low, "ci95_high": v.ci95_high, "p_gap_tost": v.p_tost,
                     "cell_verdict": v.verdict, "verdict": _WITHIN.get(v.verdict, stats.UNAVAILABLE),
                     "reason": v.reason if isinstance(v.reason, str) else "", "treatment_row": v.row,
                     "treatment_column": v.column, "margin": v.margin})
    return rows


def judge_claims(tables: dict, runs: pd.DataFrame, alpha: float = 0.05,
                 verdicts: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per (claim, pair) or (claim, cell), with the claim's own verdict repeated on each row.
    `verdicts`: the cell verdicts (`judge`), which cells claims read; computed here when not given."""
    entries = {e.id: (t, e) for t in tables.values() for e in t.entries.values()}
    rows = []
    for t in tables.values():
        for claim in t.claims:
            if claim.cells:
                if verdicts is None:
                    verdicts = judge(tables, runs, alpha)
                base = {"claim": claim.id, "table": t.id, "text": claim.text, "source": claim.source,
                        "direction": claim.direction, "min_effect": 0.0, "gate": claim.gate, "metric": t.metric}
                cell_rows = _cell_rows(claim, base, verdicts)
                verdict = min((r["verdict"] for r in cell_rows), key=stats.CLAIM_ORDER.index)
                rows += [{**r, "claim_verdict": verdict} for r in cell_rows]
                continue
            pair_rows = []
            for treat, ctrl in claim.pairs:
                base = {"claim": claim.id, "table": t.id, "text": claim.text, "source": claim.source,
                        "direction": claim.direction, "min_effect": claim.min_effect, "gate": claim.gate,
                        "margin": claim.margin or t.margin, "metric": t.metric,
                        "treatment": side_label(treat), "control": side_label(ctrl)}
                involved = [*treat, *ctrl]
                missing = [e for e in involved if e not in entries]
                if missing:
                    pair_rows.append({**base, "verdict": stats.UNAVAILABLE, "n_seeds": 0,
                                      "reason": f"entry {missing[0]} is not in the loaded tables"})
                    continue
                arms = {e: _values(runs, e, t.metric) for e in involved}
                seeds = sorted(set.intersection(*(set(v) for v in arms.values())))
                sizes = [x for x in (_test_size(runs[runs.entry == e]) for e in involved) if x]
                te, ce = entries[treat[0]][1], entries[ctrl[0]][1]
                floor = stats.quantisation(min(sizes) if sizes else None, te.published.printed)
                values = {e: [arms[e][s] for s in seeds] for e in involved}
                published = {e: entries[e][1].published.value for e in involved}
                result = stats.paired_test(_side(values, treat), _side(values, ctrl), claim.direction,
                                           _side(published, treat) - _side(published, ctrl), claim.min_effect,
                                           alpha, tuple(_spread(*entries[e]) for e in involved),
                                           claim.margin or t.margin, floor,
                                           arms=[values[e] for e in involved])
                reason = ""
                if result["verdict"] == stats.UNAVAILABLE:
                    reason = (next((entries[e][1].unavailable for e in involved if entries[e][1].unavailable), "")
                              or next((w for e in involved if (w := _why_not(runs, e, arms[e]))), "")
                              or "fewer than two seeds ran in every arm ("
                              + ", ".join(f"{e} {sorted(arms[e])}" for e in involved) + ")")
                pair_rows.append({**base, **result, "seeds": ";".join(str(s) for s in seeds), "reason": reason,
                                  "treatment_row": te.row, "control_column": ce.column,
                                  "treatment_column": te.column})
            stats.claim_verdicts(pair_rows, alpha)  # opposite-direction tests Holm-adjusted across the pairs
            verdict = min((r["verdict"] for r in pair_rows), key=stats.CLAIM_ORDER.index)
            rows += [{**r, "claim_verdict": verdict} for r in pair_rows]
    columns = ["claim", "table", "text", "source", "direction", "min_effect", "gate", "margin", "metric", "treatment",
               "control", "treatment_row", "treatment_column", "control_column", "n_seeds", "seeds", "effect",
               "published_effect", "ci95_low", "ci95_high", "gap_ci95_low", "gap_ci95_high", "p_direction",
               "p_opposite", "p_opposite_holm", "p_gap_tost", "cell_verdict", "verdict", "reason", "claim_verdict"]
    return pd.DataFrame(rows, columns=columns)


def _side(values: dict, side: tuple[str, ...]):
    """A claim side's value(s): the entry's, or an effect's (first entry minus second), per seed."""
    if len(side) == 1:
        return values[side[0]]
    return np.asarray(values[side[0]], float) - np.asarray(values[side[1]], float)


def _why_not(runs: pd.DataFrame, entry: str, ran: dict[int, float]) -> str:
    """The recorded reason an arm has fewer than two runs ("not run yet (suite ...)", a failure)."""
    if len(ran) >= 2:
        return ""
    bad = runs[(runs.entry == entry) & (runs.status != "ok")]
    reasons = [str(r) for r in bad.reason.dropna() if str(r)]
    return f"{entry}: {reasons[0]}" if reasons else ""


def _values(runs: pd.DataFrame, entry: str, metric: str) -> dict[int, float]:
    sel = runs[(runs.entry == entry) & (runs.metric == metric) & (runs.status == "ok")]
    return {int(s): float(v) for s, v in zip(sel.seed, sel.value)}


def operating(tables: dict[str, Table], verdicts: pd.DataFrame, seeds: int, alpha: float = 0.05) -> pd.DataFrame:
    """The gate's operating characteristics per table (bench.judge.power), for a typical cell: the table's median
    published std, and our seeds' median std where cells ran (else the published std, else margin / 3)."""
    from bench.judge import power

    rows = []
    for t in tables.values():
        mine = verdicts[verdicts.table == t.id] if len(verdicts) else verdicts
        referenced = [e for e in t.entries.values() if e.published is not None]
        spreads = [_spread(t, e) for e in referenced]
        with_std = [s for s, n in spreads if n > 1]
        pub_std, pub_n = (float(np.median(with_std)), t.dispersion_n) if with_std else (0.0, 1)
        ran = pd.to_numeric(mine.get("std", pd.Series(dtype=float)), errors="coerce").dropna()
        if len(ran):
            sigma, where = float(ran.median()), f"our seeds' median std ({len(ran)} cells)"
        elif with_std:
            sigma, where = pub_std, "the published std (no runs yet)"
        else:
            sigma, where = t.margin / 3.0, "assumed margin / 3 (no runs yet, no published dispersion)"
        floor = stats.quantisation(None, referenced[0].published.printed if referenced else "0.00")
        c = power.characteristics(max(sigma, floor), seeds, pub_std, pub_n, t.margin, floor, alpha)
        rows.append({"table": t.id, "title": t.title, "margin": t.margin, "seeds": seeds, "sigma": sigma,
                     "sigma_source": where, "published_std": pub_std, "published_n": pub_n, **c,
                     "method": f"simulated: {power.DRAWS} experiments per point, RNG seed 0, one cell before Holm"})
    return pd.DataFrame(rows)
