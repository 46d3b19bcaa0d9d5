"""From run directories to tidy results (pandas).

    bench collect   runs/<entry>/<seed>/{metrics.json, run.json} -> results/runs.csv

A run directory holds metrics.json (its numbers: what `dvc metrics` shows) and
run.json (its status, reason and provenance); an older run directory with
everything in metrics.json reads the same.

runs.csv has one row per (table, entry, dataset, seed, metric) with the run's
provenance; runs that are missing or failed appear with their status, never as
a number. Derived cells (ImageNet ReaL, the VTAB mean) are computed here from
their sources' runs, seed by seed. bench.judge.verdicts judges them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from bench.tables.table import Table
from bench.tables.published import dataset_name

PROVENANCE = ("git_commit", "device", "device_name", "wall_time_s", "device_hours", "images_per_s", "steps",
              "epochs", "test_examples")
RUN_COLUMNS = ["table", "entry", "row", "column", "dataset", "seed", "metric", "value", "status", "reason",
               *PROVENANCE, "torch", "timm", "run_dir"]


def read_run(run_dir: Path) -> dict:
    """One run directory's metrics.json and run.json, merged; a missing or unreadable file becomes a
    status, not an exception."""
    merged: dict = {}
    for name in ("metrics.json", "run.json"):
        path = Path(run_dir) / name
        if not path.is_file():
            if name == "metrics.json":
                return {"status": "missing", "reason": f"{path} not found"}
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as exc:
            return {"status": "failed", "reason": f"{path} unreadable: {exc}"}
        merged.update(data)
    return merged


def family(metric: str) -> tuple[str, str]:
    """A table's metric and its complement: (top1, top1_err), (top5, top5_err)."""
    base = metric.removesuffix("_err")
    return base, f"{base}_err"


def _derive(entry, seed: int, runs_dir: Path, entries: dict, metric: str = "top1") -> dict:
    """One seed of a derived cell: the mean of `key` over its source entries' runs of that seed, as the
    derived cell's table's `metric` (its accuracy and error)."""
    key = entry.derived.key.removesuffix("_err")
    values, runs, sources = [], [], entry.derived.sources
    for src in sources:
        if src not in entries:
            return {"status": "missing", "reason": f"source entry {src} is not in the loaded tables"}
        if entries[src].unavailable:
            return {"status": "unavailable", "reason": entries[src].unavailable}
        data = read_run(runs_dir / src / str(seed))
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
    sizes = [float(r.get("test_examples") or 0) for r in runs]
    # The quantisation of a mean of k accuracies: 100 / N_eff with N_eff = k / sqrt(sum 1 / N_i^2).
    test_examples = len(sizes) / math.sqrt(sum(1.0 / n ** 2 for n in sizes)) if all(sizes) else None
    base, err = family(metric)
    return {**runs[0], "status": "ok", base: mean, err: 100.0 - mean, "wall_time_s": wall,
            "device_hours": hours, "test_examples": test_examples,
            "reason": f"mean of {len(sources)} entries" if len(sources) > 1 else f"{key} of {sources[0]}"}


def _finite_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


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
                    data = _derive(entry, seed, Path(runs_dir), entries, table.metric)
                else:
                    data = read_run(run_dir)
                status = data.get("status", "failed")
                metrics = family(table.metric)
                bad = [m for m in metrics if status == "ok" and not _finite_number(data.get(m))]
                out = [m for m in metrics if status == "ok" and not bad and not 0.0 <= data[m] <= 100.0]
                if bad:  # a run without a finite number is a failed run, never a number
                    status, data = "failed", {**data, "reason": f"{run_dir / 'metrics.json'} has no finite "
                                                                f"{bad[0]!r}: {data.get(bad[0])!r}"}
                elif out:  # every metric a table has (top1, top5, their errors) is a percentage
                    status, data = "failed", {**data, "reason": f"{run_dir / 'metrics.json'}: {out[0]} is "
                                                                f"{data[out[0]]!r}, not a percentage in [0, 100]"}
                if status == "missing":
                    data["reason"] = (not_run or {}).get(table.id, "not run yet")
                for metric in metrics:
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
