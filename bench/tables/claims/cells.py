"""A claim over cells: each listed cell is within its reference ("the released checkpoints are within
timm's recorded accuracy"). It takes the cells' own verdicts (bench.judge.verdicts): REPRODUCED holds,
INCONCLUSIVE is not reproduced, DISCREPANT contradicts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.tables.claims.base import CLAIMS, Claim
from bench.tables.schema import Checker, spec


def _cells(c: Checker, value: tuple, path: str) -> tuple:
    if not value:
        raise c.fail(path, "expected a non-empty list of entries")
    for k, eid in enumerate(value):
        c.ident(eid, f"{path}[{k}]")
    if len(set(value)) != len(value):
        twice = next(e for e in value if value.count(e) > 1)
        raise c.fail(path, f"entry {twice!r} is listed twice")
    return value


@CLAIMS.register("cells")
@dataclass(frozen=True, kw_only=True)
class CellsClaim(Claim):
    """Each listed cell matches its reference within the table's margin (its cell verdict)."""

    MARKER = "cells"
    NOTE = ("A claim over cells (a released checkpoint within its recorded accuracy) holds when every cell's "
            "own verdict is REPRODUCED.")
    PARTIAL = (
        '<div class="num"><code>{{ p.treatment }}</code> &minus; its reference: '
        '{% if p.n_seeds and p.n_seeds >= 2 %}{{ p.effect|signed }} [{{ p.ci95_low|fmt }}, {{ p.ci95_high|fmt }}] '
        'within &plusmn;{{ p.margin|fmt }}? (n={{ p.n_seeds }}, cell <a href="#{{ c.table }}">{{ p.cell_verdict }}'
        '</a>) {% else %}not run {% endif %}<span class="badge C{{ p.verdict }}">{{ claim_labels[p.verdict] }}'
        '</span>{% if p.reason %} <span class="seeds">{{ p.reason }}</span>{% endif %}</div>')

    cells: tuple[str, ...] = spec(
        "the entries, each within its reference", check=_cells)

    def entries(self) -> list[tuple[str, str]]:
        return [(f"cells[{k}]", e) for k, e in enumerate(self.cells)]

    def needs_published(self) -> str:
        return "it has no reference value to be within"

    def judge(self, ctx) -> list[dict[str, Any]]:
        from bench import stats

        within = {stats.REPRODUCED: stats.CONSISTENT, stats.INCONCLUSIVE: stats.NOT_REPRODUCED,
                  stats.DISCREPANT: stats.CONTRADICTED}
        base = {**self.base(ctx.table), "direction": "within", "min_effect": 0.0}
        verdicts = ctx.verdicts()
        by_entry = verdicts.set_index("entry") if len(verdicts) else None
        rows = []
        for eid in self.cells:
            row = {**base, "treatment": eid, "control": "reference", "published_effect": 0.0}
            if by_entry is None or eid not in by_entry.index:
                rows.append({**row, "verdict": stats.UNAVAILABLE, "n_seeds": 0, "reason": f"no verdict for {eid}"})
                continue
            v = by_entry.loc[eid]
            rows.append({**row, "n_seeds": int(v.n_runs), "seeds": v.seeds, "effect": v.delta,
                         "ci95_low": v.ci95_low, "ci95_high": v.ci95_high, "p_gap_tost": v.p_tost,
                         "cell_verdict": v.verdict, "verdict": within.get(v.verdict, stats.UNAVAILABLE),
                         "reason": v.reason if isinstance(v.reason, str) else "", "treatment_row": v.row,
                         "treatment_column": v.column, "margin": v.margin})
        verdict = min((r["verdict"] for r in rows), key=stats.CLAIM_ORDER.index)
        return [{**r, "claim_verdict": verdict} for r in rows]
