"""The results CSVs read back: a file that is not what the stage writes is one clear error naming the file,
never a pandas traceback.

    verdicts   results/verdicts.csv (bench stats; `bench power` reads its spreads)
"""

from __future__ import annotations

import pandas as pd

from bench.errors import BenchError

# The columns each reader needs (the writers write more; an older file may lack the newer ones).
COLUMNS = {
    "verdicts": ("table", "entry", "row", "column", "metric", "published", "margin", "n_runs", "mean", "std",
                 "verdict"),
}
STAGES = {"verdicts": "bench stats"}


def read(path, kind: str, **kwargs) -> pd.DataFrame:
    """`path` as the `kind` file, its columns checked."""
    fix = f"rerun `{STAGES[kind]}` (or `dvc repro`) to write it"
    try:
        frame = pd.read_csv(path, **kwargs)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise BenchError(f"cannot read {path}: {str(exc).splitlines()[0] if str(exc) else exc!r}; {fix}") from None
    missing = [c for c in COLUMNS[kind] if c not in frame.columns]
    if missing:
        raise BenchError(f"{path}: not a {kind} file of this harness (no column {missing[0]!r}); {fix}")
    return frame

