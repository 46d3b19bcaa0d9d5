"""`bench check`: the CI gate over results/verdicts.csv and results/claims.csv.

Fails (exit 1) only on cells that are DISCREPANT in the worse direction and
on claims that are CONTRADICTED (the reproduced effect significantly opposes
the claim). Beating the reference is flagged, not failed; claims that are
merely not shown with the seeds used do not fail either. `--table` and
`--claim` limit the gate. Offenders are printed as a table with their
differences and 95% CIs.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.errors import BenchError
from bench.stats import CONTRADICTED, DISCREPANT


def _read(path: str, what: str) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise BenchError(f"cannot read {what} {path}: {exc}; run `dvc repro` first") from None


def _limit(frame: pd.DataFrame, column: str, wanted: list[str] | None, flag: str, path: str) -> pd.DataFrame:
    if not wanted:
        return frame
    unknown = sorted(set(wanted) - set(frame[column]))
    if unknown:
        raise BenchError(f"{flag} {unknown[0]!r} is not in {path}; valid: {', '.join(sorted(set(frame[column])))}")
    return frame[frame[column].isin(wanted)]


def _print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    for line in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip())


def flag(value) -> bool | None:
    """A boolean as a CSV cell reads back ("True", "1", "1.0"; "False", "0", "0.0"); None when empty or else.
    The gate, the report's banner and badges, and `bench show` all read `worse` and `gate` through it."""
    text = str(value).strip().lower()
    return True if text in ("true", "1", "1.0") else False if text in ("false", "0", "0.0") else None


def _gates(claims: pd.DataFrame) -> pd.Series:
    """Which claim rows gate CI (claims.csv's `gate` column; older files without it: all)."""
    if "gate" not in claims:
        return pd.Series(True, index=claims.index)
    return claims["gate"].map(lambda g: flag(g) is not False).astype(bool)


def failing(verdicts: pd.DataFrame, claims: pd.DataFrame) -> tuple[pd.DataFrame, ...]:
    """The gate's rule, shared with the report's banner: (cells DISCREPANT and worse, which fail; cells
    DISCREPANT and better, flagged only; claims CONTRADICTED that gate, which fail; contradicted claims
    with `gate: false`, reported only)."""
    discrepant = verdicts[verdicts.verdict == DISCREPANT] if "verdict" in verdicts else verdicts
    worse = discrepant["worse"] if "worse" in discrepant else pd.Series(True, index=discrepant.index)
    is_worse = worse.map(lambda w: flag(w) is True).astype(bool)
    contradicted = claims[claims.claim_verdict == CONTRADICTED] if "claim_verdict" in claims else claims
    gates = _gates(contradicted)
    return discrepant[is_worse], discrepant[~is_worse], contradicted[gates], contradicted[~gates]


def check(verdicts_path: str, tables: list[str] | None = None, claims_path: str | None = None,
          claims: list[str] | None = None) -> int:
    v = _read(verdicts_path, "cell verdicts")
    if claims and tables is None:
        v = v.iloc[0:0]  # --claim alone: gate only the chosen claims
    v = _limit(v, "table", tables, "--table", verdicts_path)
    c = pd.DataFrame(columns=["claim", "table", "claim_verdict"])
    if claims_path and Path(claims_path).is_file():
        c = _read(claims_path, "claim verdicts")
    elif claims:
        raise BenchError(f"--claim given but {claims_path} does not exist; run `dvc repro` first")
    if tables and not claims:
        c = c[c.table.isin(tables)]
    elif claims:
        c = _limit(c, "claim", claims, "--claim", str(claims_path))

    worse, better, contradicted, ungated = failing(v, c)
    rows = [["FAIL" if w else "flag", r.table, f"{r.entry} [{r.row} / {r.column}]", f"{r.mean:.2f}",
             f"{r.published:g}", f"{r.delta:+.2f}", f"[{r.ci95_low:+.2f}, {r.ci95_high:+.2f}]", f"{r.margin:g}"]
            for w, frame in ((True, worse), (False, better)) for r in frame.itertuples()]
    if rows:
        print("cells DISCREPANT (FAIL: worse than the reference; flag: better, not failed):")
        _print_table(["", "table", "cell", "ours", "published", "delta", "95% CI", "margin"], rows)
    pair_rows = [[r.claim, f"{r.treatment} - {r.control}", f"{r.effect:+.2f}", f"{r.published_effect:+.2f}",
                  f"[{r.ci95_low:+.2f}, {r.ci95_high:+.2f}]", r.verdict]
                 for r in contradicted.itertuples()]
    if pair_rows:
        print("claims CONTRADICTED (FAIL):")
        _print_table(["claim", "pair", "ours", "published", "95% CI", "pair verdict"], pair_rows)
    if len(ungated):
        print("claims CONTRADICTED but not gating (gate: false in their table): "
              + ", ".join(sorted(set(ungated.claim))))
    counts = ", ".join(f"{n} {k}" for k, n in v.verdict.value_counts().items())
    per_claim = c.drop_duplicates("claim")
    claim_counts = ", ".join(f"{n} {k}" for k, n in per_claim.claim_verdict.value_counts().items())
    n_failing = len(worse) + contradicted.claim.nunique()
    print(f"check: {len(v)} cells ({counts or 'none'}); {len(per_claim)} claims ({claim_counts or 'none'}); "
          f"{n_failing} failing")
    return 1 if n_failing else 0
