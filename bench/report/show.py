"""`bench show`: the results as a compact Markdown table in the terminal.

    | table | cell | reference | ours ± std (n) | Δ [95% CI] | verdict |

One line per cell that ran (or every cell of `--table`), numbers as the report
writes them (bench.report.numbers: the reference's printed digits); then one
line per claim with its verdict. Reads results/verdicts.csv and claims.csv.
"""

from __future__ import annotations

import pandas as pd

from bench.judge.gate import flag
from bench.report import cell_view, numbers


def _md(text) -> str:
    return str(text).replace("|", "/").replace("\n", " ")


def show(verdicts: pd.DataFrame, claims: pd.DataFrame | None = None, tables: list[str] | None = None) -> str:
    v = verdicts[verdicts.table.isin(tables)] if tables else verdicts[verdicts.n_runs > 0]
    lines = ["| table | cell | reference | ours ± std (n) | Δ [95% CI] | verdict |",
             "|---|---|---:|---:|---:|---|"]
    for r in v.to_dict("records"):
        c = cell_view(r)
        ref = c["ref"] + (f" ± {c['ref_dispersion']}" if c["ref_dispersion"] else "")
        n = int(r.get("n_runs") or 0)
        ours = f"{c['ours']} ± {c['ours_std']} ({n})" if n else "–"
        delta = f"{c['delta_text']} {c['ci']}" if n > 1 and c["delta_text"] != numbers.MISSING else "–"
        lines.append(f"| {_md(r['table'])} | {_md(r['row'])} / {_md(r['column'])} | {ref} | {ours} | {delta} "
                     f"| {c['label']} |")
    if len(v) == 0:
        lines.append("| (no cell has runs yet: `dvc repro`) | | | | | |")
    if claims is not None and len(claims):
        c = claims[claims.table.isin(v.table.unique())].drop_duplicates("claim")
        if len(c):
            lines += ["", "| claim | verdict | gates CI |", "|---|---|---|"]
            for r in c.to_dict("records"):
                gates = flag(r.get("gate", True)) is not False
                lines.append(f"| {_md(r['claim'])}: {_md(r['text'])} | {r['claim_verdict']} | "
                             f"{'yes' if gates else 'no'} |")
    return "\n".join(lines) + "\n"
