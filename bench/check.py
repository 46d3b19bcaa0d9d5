"""`bench check`: the CI gate over results/verdicts.csv.

Fails (exit 1) only on cells that are DISCREPANT in the worse direction;
beating the reference is reported but does not fail. Prints the offenders
with their differences and 95% CIs.
"""

from __future__ import annotations

import pandas as pd

from bench.errors import BenchError
from bench.stats import DISCREPANT


def check(verdicts_path: str, tables: list[str] | None = None) -> int:
    try:
        v = pd.read_csv(verdicts_path)
    except (OSError, ValueError) as exc:
        raise BenchError(f"cannot read {verdicts_path}: {exc}; run `dvc repro` first") from None
    if tables:
        unknown = sorted(set(tables) - set(v.table))
        if unknown:
            raise BenchError(f"--table {unknown[0]!r} is not in {verdicts_path}; tables: {sorted(set(v.table))}")
        v = v[v.table.isin(tables)]
    discrepant = v[v.verdict == DISCREPANT]
    worse, better = discrepant[discrepant.worse.astype(bool)], discrepant[~discrepant.worse.astype(bool)]
    for label, frame in (("FAIL (worse than reference)", worse), ("flag (better than reference)", better)):
        for r in frame.itertuples():
            print(f"{label}: {r.table} {r.entry} [{r.row} / {r.column}]: {r.metric} {r.mean:.2f} vs {r.published:.2f}, "
                  f"delta {r.delta:+.2f} [95% CI {r.ci95_low:+.2f}, {r.ci95_high:+.2f}], margin {r.margin}")
    counts = ", ".join(f"{n} {k}" for k, n in v.verdict.value_counts().items())
    print(f"check: {len(v)} cells ({counts}); {len(worse)} failing")
    return 1 if len(worse) else 0
