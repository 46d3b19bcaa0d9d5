"""From run directories to tidy results and per-cell verdicts (pandas).

    bench collect   runs/<entry>/<seed>/metrics.json -> results/runs.csv
    bench stats     results/runs.csv + table files   -> results/verdicts.csv

runs.csv has one row per (table, entry, dataset, seed, metric) with the run's
provenance; runs that are missing or failed appear with their status, never as
a number. verdicts.csv has one row per table cell.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from bench import stats
from bench.experiments import METRICS, Table
from bench.published import dataset_name

PROVENANCE = ("git_commit", "device", "device_name", "wall_time_s", "device_hours", "images_per_s", "steps",
              "epochs")
RUN_COLUMNS = ["table", "entry", "row", "column", "dataset", "seed", "metric", "value", "status", "reason",
               *PROVENANCE, "torch", "timm", "run_dir"]


def read_run(path: Path) -> dict:
    """One metrics.json; a missing or unreadable file becomes a status, not an exception."""
    if not path.is_file():
        return {"status": "missing", "reason": f"{path} not found"}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        return {"status": "failed", "reason": f"{path} unreadable: {exc}"}
    return data


def _derive(entry, seed: int, runs_dir: Path, entries: dict) -> dict:
    """One seed of a derived cell: the mean of `key` over its source entries' runs of that seed."""
    key = entry.derived["key"].removesuffix("_err")
    values, runs, sources = [], [], entry.derived["from"]
    for src in sources:
        if src not in entries:
            return {"status": "missing", "reason": f"source entry {src} is not in the loaded tables"}
        if entries[src].unavailable:
            return {"status": "unavailable", "reason": entries[src].unavailable}
        data = read_run(runs_dir / src / str(seed) / "metrics.json")
        if data.get("status") != "ok":
            return {**data, "status": data.get("status", "failed"),
                    "reason": f"from {src}: {data.get('reason', data.get('status'))}"}
        if key not in data:
            return {"status": "failed", "reason": f"{src} seed {seed}: metrics.json has no {key!r}"}
        values.append(float(data[key]))
        runs.append(data)
    mean = float(np.mean(values))
    wall = sum(float(r.get("wall_time_s") or 0) for r in runs)
    hours = sum(float(r.get("device_hours") or float(r.get("wall_time_s") or 0) / 3600.0) for r in runs)
    return {**runs[0], "status": "ok", "top1": mean, "top1_err": 100.0 - mean, "wall_time_s": wall,
            "device_hours": hours,
            "reason": f"mean of {len(sources)} entries" if len(sources) > 1 else f"{key} of {sources[0]}"}


def collect(tables: dict[str, Table], seeds: list[int], runs_dir: str | Path = "runs",
            not_run: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per (entry, seed, metric) for every table; derived cells computed from their sources.

    `not_run` gives, per table id, the reason shown for runs that do not exist yet
    (typically: which suite to select to run them).
    """
    entries = {eid: e for t in tables.values() for eid, e in t.entries.items()}
    rows = []
    for table in tables.values():
        for entry in table.entries.values():
            for seed in seeds:
                run_dir = Path(runs_dir) / entry.id / str(seed)
                if entry.unavailable:
                    data = {"status": "unavailable", "reason": entry.unavailable}
                elif entry.derived:
                    data = _derive(entry, seed, Path(runs_dir), entries)
                else:
                    data = read_run(run_dir / "metrics.json")
                status = data.get("status", "failed")
                if status == "missing":
                    data["reason"] = (not_run or {}).get(table.id, "not run yet")
                for metric in METRICS:
                    value = data.get(metric) if status == "ok" else None
                    rows.append({
                        "table": table.id, "entry": entry.id, "row": entry.row, "column": entry.column,
                        "dataset": dataset_name(entry), "seed": seed,
                        "metric": metric, "value": float(value) if value is not None else np.nan,
                        "status": status, "reason": data.get("reason", ""),
                        **{k: data.get(k) for k in PROVENANCE},
                        "torch": (data.get("packages") or {}).get("torch"),
                        "timm": (data.get("packages") or {}).get("timm"),
                        "run_dir": str(run_dir),
                    })
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def printed_decimals(value: float | str) -> int:
    """Decimals as printed: "99.50" -> 2, 88.55 -> 2 (for the rounding floor of the published std)."""
    text = value if isinstance(value, str) else repr(float(value))
    if "." not in text or "e" in text:
        return 0
    return len(text.split(".")[1]) if isinstance(value, str) else len(text.split(".")[1].rstrip("0"))


def published_spread(table: Table, entry) -> tuple[float, int]:
    """(sample std, n) of an entry's published value: its dispersion normalised, with the rounding floor."""
    p = entry.published
    return stats.published_std(p.dispersion, table.dispersion_kind, table.dispersion_n,
                               printed_decimals(p.printed or p.value) if p.dispersion is not None else None)


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


def judge(tables: dict[str, Table], runs: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """One row per cell: published vs reproduced, tests, Holm within the table, verdict."""
    out = []
    for table in tables.values():
        cells = []
        for entry in table.entries.values():
            sel = runs[(runs.entry == entry.id) & (runs.metric == table.metric)]
            ok = sel[sel.status == "ok"].sort_values("seed")
            values = ok["value"].tolist()
            pub = entry.published
            pstd, pn = published_spread(table, entry)
            row = {
                "table": table.id, "entry": entry.id, "row": entry.row, "column": entry.column,
                "metric": table.metric, "higher_is_better": table.higher_is_better,
                "published": pub.value, "published_dispersion": pub.dispersion,
                "published_printed": pub.printed, "published_dispersion_printed": pub.printed_dispersion,
                "derived_from": ";".join(entry.derived["from"]) if entry.derived else "", "note": entry.note,
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
            if len(values) < 2:
                row.update(verdict=stats.UNAVAILABLE, reason=entry.unavailable or _why(bad))
            else:
                test = stats.test_cell(values, pub.value, pstd, pn, table.margin, alpha)
                row.update(stats.as_row(test))
                if len(bad):
                    row["reason"] = f"{len(bad)} of {len(sel)} runs missing or failed"
                cells.append(row)
            out.append(row)
        adjusted = stats.holm([c["p_welch"] for c in cells])
        for cell, p_holm in zip(cells, adjusted):
            test = stats.CellTest(cell["delta"], (cell["ci95_low"], cell["ci95_high"]), cell["p_welch"],
                                  cell["p_tost"], cell["df"], cell["mde"], cell["prediction_interval"])
            cell["p_holm"] = p_holm
            cell["verdict"] = stats.verdict(test, p_holm, table.margin, alpha)
    frame = pd.DataFrame(out)
    for col in ("delta", "ci95_low", "ci95_high", "p_welch", "p_tost", "df", "mde", "prediction_interval", "p_holm"):
        if col not in frame:  # no cell had two runs: keep the columns, empty
            frame[col] = np.nan
    sign = np.where(frame["higher_is_better"], 1.0, -1.0)
    frame["worse"] = (frame.get("delta", pd.Series(np.nan, index=frame.index)) * sign) < 0
    return frame


def summary(verdicts: pd.DataFrame, claims: pd.DataFrame) -> dict:
    """Counts per table and per claim verdict, and compute spent: results/summary.json for `dvc metrics`."""
    tables = {}
    for tid, frame in verdicts.groupby("table", sort=False):
        counts = frame.verdict.value_counts()
        own = frame[frame.get("derived_from", pd.Series("", index=frame.index)).fillna("") == ""]
        tables[tid] = {**{k: int(counts.get(k, 0)) for k in (stats.REPRODUCED, stats.INCONCLUSIVE,
                                                             stats.DISCREPANT, stats.UNAVAILABLE)},
                       "device_hours": round(float(own.device_hours.fillna(0).sum()), 4)}
    per_claim = claims.drop_duplicates("claim")
    return {"cells": int(len(verdicts)), "tables": tables,
            "claims": {k: int(v) for k, v in per_claim.claim_verdict.value_counts().items()},
            "device_hours": round(sum(t["device_hours"] for t in tables.values()), 4)}
