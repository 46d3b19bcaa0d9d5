"""The results CSVs read back (stats, power, report): a file that is not what the stage writes, or a number where
none can be, is one clear error naming the file, the line and the column, never a pandas traceback.

    runs       results/runs.csv (bench collect): seeds integers, values numbers, a run's percentage in [0, 100]
    verdicts   results/verdicts.csv (bench stats)
    claims     results/claims.csv (bench stats)
    power      results/power.csv (bench stats)
"""

from __future__ import annotations

import math

import pandas as pd

from bench.errors import BenchError

# The columns each reader needs (the writers write more; an older file may lack the newer ones).
COLUMNS = {
    "runs": ("table", "entry", "row", "column", "seed", "metric", "value", "status", "reason", "wall_time_s",
             "device_name", "git_commit"),
    "verdicts": ("table", "entry", "row", "column", "metric", "published", "margin", "n_runs", "mean", "std",
                 "verdict"),
    "claims": ("claim", "table", "treatment", "control", "verdict", "claim_verdict"),
    "power": ("table", "margin", "seeds", "sigma", "false_fail_at_margin", "reproduced_at_zero"),
}
STAGES = {"runs": "bench collect", "verdicts": "bench stats", "claims": "bench stats", "power": "bench stats"}
PERCENT = ("top1", "top1_err", "top5", "top5_err")  # every metric a table may have is a percentage


def read(path, kind: str, **kwargs) -> pd.DataFrame:
    """`path` as the `kind` file, its columns checked (and a runs file's values: `check_runs`)."""
    fix = f"rerun `{STAGES[kind]}` (or `dvc repro`) to write it"
    try:
        frame = pd.read_csv(path, **kwargs)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise BenchError(f"cannot read {path}: {str(exc).splitlines()[0] if str(exc) else exc!r}; {fix}") from None
    missing = [c for c in COLUMNS[kind] if c not in frame.columns]
    if missing:
        raise BenchError(f"{path}: not a {kind} file of this harness (no column {missing[0]!r}); {fix}")
    return check_runs(frame, path) if kind == "runs" else frame


def _line(frame: pd.DataFrame, position: int) -> int:
    return position + 2  # the header is line 1


def check_runs(frame: pd.DataFrame, path) -> pd.DataFrame:
    """Seeds are integers; values are numbers; a successful run's value is a percentage in [0, 100]."""
    fix = "rerun `bench collect` to write it from the runs"
    for column in ("seed", "value"):
        raw = frame[column]
        numbers = pd.to_numeric(raw, errors="coerce")
        bad = numbers.isna() & raw.notna() & (raw.astype(str).str.strip() != "")
        if column == "seed":
            bad |= raw.isna() | ~numbers.fillna(0).map(lambda v: float(v).is_integer() and v >= 0)
        if bad.any():
            at = int(bad.to_numpy().nonzero()[0][0])
            raise BenchError(f"{path}: line {_line(frame, at)}: {column}: expected "
                             f"{'a non-negative integer' if column == 'seed' else 'a number'}, got "
                             f"{raw.iloc[at]!r:.40}; {fix}")
        frame[column] = numbers.astype(int) if column == "seed" else numbers.astype(float)
    ok = (frame["status"] == "ok") & frame["metric"].isin(PERCENT)
    out = ok & ~frame["value"].map(lambda v: isinstance(v, float) and math.isfinite(v) and 0.0 <= v <= 100.0)
    if out.any():
        at = int(out.to_numpy().nonzero()[0][0])
        row = frame.iloc[at]
        raise BenchError(f"{path}: line {_line(frame, at)}: value: {float(row['value'])!r} is not a percentage in "
                         f"[0, 100] ({row['metric']} of {row['entry']} seed {row['seed']}, status ok); {fix}")
    return frame
