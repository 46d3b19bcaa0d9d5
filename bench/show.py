"""`bench show`: the results as a compact Markdown table in the terminal.

    | table | cell | reference | ours ± std (n) | Δ [95% CI] | verdict |

One line per cell that ran (or every cell of `--table`), numbers as the report
writes them (bench.report.numbers: the reference's printed digits); then one
line per claim with its verdict. Reads results/verdicts.csv and claims.csv.
"""

from __future__ import annotations

import pandas as pd

from bench.report import numbers, verdict_label


def _md(text) -> str:
    return str(text).replace("|", "/").replace("\n", " ")


def show(verdicts: pd.DataFrame, claims: pd.DataFrame | None = None, tables: list[str] | None = None) -> str:
    v = verdicts[verdicts.table.isin(tables)] if tables else verdicts[verdicts.n_runs > 0]
    lines = ["| table | cell | reference | ours ± std (n) | Δ [95% CI] | verdict |",
             "|---|---|---:|---:|---:|---|"]
    for r in v.to_dict("records"):
        d = numbers.decimals(r.get("published_printed"))
        ref = numbers.printed(r.get("published"), r.get("published_printed"), d)
        disp = r.get("published_dispersion_printed")
        if isinstance(disp, str) and disp:
            ref += f" ± {disp}"
        n = int(r.get("n_runs") or 0)
        ours = f"{numbers.number(r.get('mean'), d)} ± {numbers.number(r.get('std'), d)} ({n})" if n else "–"
        delta = f"{numbers.signed(r.get('delta'), d)} {numbers.interval(r.get('ci95_low'), r.get('ci95_high'), d)}" \
            if n > 1 and r.get("delta") == r.get("delta") and r.get("delta") is not None else "–"
        _, label = verdict_label(r["verdict"], r.get("worse"))
        lines.append(f"| {_md(r['table'])} | {_md(r['row'])} / {_md(r['column'])} | {ref} | {ours} | {delta} "
                     f"| {label} |")
    if len(v) == 0:
        lines.append("| (no cell has runs yet: `dvc repro`) | | | | | |")
    if claims is not None and len(claims):
        c = claims[claims.table.isin(v.table.unique())].drop_duplicates("claim")
        if len(c):
            lines += ["", "| claim | verdict | gates CI |", "|---|---|---|"]
            for r in c.to_dict("records"):
                gates = str(r.get("gate", True)).strip().lower() not in ("false", "0")
                lines.append(f"| {_md(r['claim'])}: {_md(r['text'])} | {r['claim_verdict']} | "
                             f"{'yes' if gates else 'no'} |")
    return "\n".join(lines) + "\n"
