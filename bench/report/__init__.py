"""The HTML reproducibility report and its Markdown summary (jinja2, autoescaped).

    bench report     (DVC stage `report`: results/verdicts.csv -> reports/index.html, reports/summary.md)

One self-contained page (inline CSS, no scripts, no network): the CI gate's
verdict first (PASS or FAIL, with the failing cells and claims linked), a
summary of verdicts per table, then each table laid out like the paper's (rows
and columns as printed), each cell with the reference value as printed, the
reproduced mean to the same digits with its per-seed values, the difference
with its 95% CI and a direction-aware verdict. Tables of the selected suite,
and any table with runs, are open; the others collapse to one line. Every
table and figure fits its column (wide tables scroll inside their own box).
Numbers are written by bench.report.numbers, as in summary.md and `bench show`.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from jinja2 import ChoiceLoader, DictLoader, Environment, FileSystemLoader, select_autoescape

from bench.tables import protocol
from bench import provenance
from bench.judge.gate import flag
from bench.tables.table import Table
from bench.report import numbers
from bench.stats import CLAIM_LABELS, CLAIM_ORDER, DISCREPANT, INCONCLUSIVE, NO_REFERENCE, REPRODUCED, UNAVAILABLE

CLAIM_BEST_FIRST = tuple(reversed(CLAIM_ORDER))  # for the summary

VERDICTS = (REPRODUCED, INCONCLUSIVE, DISCREPANT, UNAVAILABLE, NO_REFERENCE)


def _fmt(value, digits: int = 2) -> str:
    return numbers.number(value, digits)


def _pval(value) -> str:
    return numbers.p_value(value)


def verdict_label(verdict: str, worse) -> tuple[str, str]:
    """(CSS classes, label) of a cell's badge: a DISCREPANT cell says which way it is off."""
    if verdict == DISCREPANT:
        return ("DISCREPANT worse", "DISCREPANT: worse") if flag(worse) is True else \
            ("DISCREPANT better", "DISCREPANT: better")
    return verdict, verdict


def _text(value) -> str:
    """A printed value as text; empty when the CSV cell was empty (read back as None or NaN)."""
    return "" if value is None or (isinstance(value, float) and value != value) else str(value)


def cell_view(r: dict, reasons: dict[str, int] | None = None) -> dict:
    """What a table cell shows (the report, summary.md, `bench show`), every number to the printed digits of
    its reference; `reasons` numbers the UNAVAILABLE reasons of a table as they come."""
    reasons = {} if reasons is None else reasons
    d = numbers.decimals(r.get("published_printed"))
    badge, label = verdict_label(r["verdict"], r.get("worse"))
    values = [float(v) for v in str(r.get("values") or "").split(";") if v]
    reason = str(r.get("reason") or "")
    if r["verdict"] == UNAVAILABLE and reason:
        reasons.setdefault(reason, len(reasons) + 1)
    return {**r, "badge": badge, "label": label,
            "ref": numbers.printed(r.get("published"), r.get("published_printed"), d),
            "ref_dispersion": _text(r.get("published_dispersion_printed")),
            "ours": numbers.number(r.get("mean"), d), "ours_std": numbers.number(r.get("std"), d),
            "seed_values": ", ".join(numbers.number(v, d) for v in values),
            "delta_text": numbers.signed(r.get("delta"), d), "ci": numbers.interval(r.get("ci95_low"),
                                                                                r.get("ci95_high"), d),
            "reason_no": reasons.get(reason) if r["verdict"] == UNAVAILABLE else None}


def _partials() -> dict[str, str]:
    """Each claim kind's and source kind's markup, declared beside the kind (bench.tables)."""
    from bench.tables.claims import CLAIMS
    from bench.tables.parts import SOURCES

    return {**{f"claim/{k}.j2": cls.PARTIAL for k, cls in CLAIMS.classes.items()},
            **{f"source/{k}.j2": cls.PARTIAL for k, cls in SOURCES.classes.items()}}


def _claim_notes() -> list[str]:
    from bench.tables.claims import CLAIMS

    return [cls.NOTE for cls in CLAIMS.classes.values()]


def _env() -> Environment:
    loader = ChoiceLoader([FileSystemLoader(Path(__file__).parent / "templates"), DictLoader(_partials())])
    env = Environment(loader=loader,
                      autoescape=select_autoescape(["html", "j2"], default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(fmt=_fmt, pval=_pval, signed=numbers.signed)
    return env


def summarise(verdicts: pd.DataFrame) -> pd.DataFrame:
    counts = verdicts.groupby(["table", "verdict"]).size().unstack(fill_value=0)
    return counts.reindex(columns=list(VERDICTS), fill_value=0)


def _claims(claims: pd.DataFrame | None) -> list[dict]:
    """One item per claim: its verdict and its pairs (rows of results/claims.csv)."""
    if claims is None or claims.empty:
        return []
    claims = claims.astype(object).where(claims.notna(), None)
    out = []
    for cid, group in claims.groupby("claim", sort=False):
        first = group.iloc[0]
        out.append({"id": cid, "table": first["table"], "text": first["text"], "source": first["source"],
                    "verdict": first["claim_verdict"], "label": CLAIM_LABELS.get(first["claim_verdict"], ""),
                    "direction": first["direction"], "min_effect": first["min_effect"],
                    # claims.csv written before kinds had a column: a cells claim's direction is "within"
                    "kind": first.get("kind") or ("cells" if first["direction"] == "within" else "pairs"),
                    "gate": flag(first.get("gate", True)) is not False,
                    "pairs": group.to_dict("records")})
    return out


def gate_card(t: Table, mine: pd.DataFrame, power_row: dict | None, seeds: int) -> dict:
    """The statistics part of a table's protocol card: seeds, how our seed variance is estimated (each pooling
    group's std, df and Bartlett p where cells ran), the spread factor where a cell has no printed spread,
    and what the gate can show (bench.judge.operating)."""
    from bench.judge.operating import reach

    groups = []
    if "group" in mine:
        for label, g in mine[mine.group.notna() & (mine.group.astype(str) != "")].groupby("group", sort=False):
            first = g.iloc[0]
            groups.append({"label": label, "cells": len(g), "std": first.get("group_std"),
                           "df": first.get("group_df"), "p": first.get("p_homogeneity"),
                           "pooled": flag(first.get("pooled")) is True, "note": first.get("pool_note") or ""})
    single = any(e.published is not None and e.published.spread(t.dispersion)[1] == 1 for e in t.entries.values())
    row = power_row or {}
    has = all(row.get(k) is not None and row.get(k) == row.get(k) for k in ("sigma", "seeds_recommended"))
    return {"seeds": t.seeds or seeds, "own_seeds": bool(t.seeds), "pool_by": ", ".join(t.pool_by) or "the whole table",
            "groups": groups, "factor": t.spread_factor if single else None, "power": row if has else None,
            "reach": reach(pd.Series(row)) if has else "", "prior": t.seed_std}


def render_html(tables: dict[str, Table], verdicts: pd.DataFrame, title: str = "Reproducibility report",
                runs: pd.DataFrame | None = None, claims: pd.DataFrame | None = None,
                power: pd.DataFrame | None = None, selected: set[str] | None = None, seeds: int = 3,
                runs_dir: str | Path = "runs", studies: list[dict] | None = None) -> str:
    """The page. `selected`: ids of the selected suite's tables (open; the others collapse to one line
    unless they have runs); None: every table open. `studies`: improvement-study sections
    (bench.report.studies.sections)."""
    from bench.judge.gate import failing
    from bench.report import plots

    if power is not None and "caught80_holm" not in power:
        power = None  # a power.csv written before the pooled rule (no recommended seeds): `bench stats` rewrites it
    text = ["reason", "device", "git_commit", "seeds", "values", "derived_from", "note", "published_printed",
            "published_dispersion_printed", "group", "pool_note"]
    verdicts = verdicts.copy()
    for col in text:  # empty CSV fields read back as NaN floats; one seed's "93.7" as a float
        verdicts[col] = verdicts[col].astype(object).where(verdicts[col].notna(), "").astype(str) \
            if col in verdicts else ""
    for col in ("spread_df", "group_cells", "spread_factor", "pooled"):  # verdicts.csv written before pooling
        if col not in verdicts:
            verdicts[col] = np.nan
    cells = {(r["table"], r["row"], r["column"]): r for r in verdicts.to_dict("records")}
    counts = summarise(verdicts)
    claim_items = _claims(claims)
    sections, hours = [], {}
    for t in tables.values():
        reasons: dict[str, int] = {}
        rows = [(row, [cell_view(cells[(t.id, row, col)], reasons) if (t.id, row, col) in cells else None
                       for col in t.columns]) for row in t.rows]
        mine = verdicts[verdicts.table == t.id]
        ran = bool(mine.n_runs.gt(0).any()) if len(mine) else False
        runnable = sum(e.runs for e in t.entries.values())
        own = mine[mine.derived_from == ""]  # derived cells reuse other cells' runs
        hours_of = own["device_hours"] if "device_hours" in own else own["wall_time_s"] / 3600.0
        own = own.assign(hours=hours_of.fillna(0))
        compute_h = float(own["hours"].sum())
        hours[t.title] = compute_h
        cost_h = own.groupby("column")["hours"].sum().to_dict()
        figures = [f for f in (plots.published_vs_reproduced(mine, t.margin, t.metric),
                               plots.seed_dots(mine, t.metric)) if f]
        if runs is not None and mine.n_runs.gt(0).any():
            figures += [plots.effect_chart(t, runs, fig) for fig in t.figures]
            seeds_of = {r["entry"]: [int(x) for x in str(r["seeds"]).split(";") if x]
                        for r in mine.to_dict("records") if r.get("seeds") and not r.get("derived_from")}
            curves = plots.learning_curves(t, runs_dir, seeds_of)
            if curves:
                figures.append(curves)
        card = protocol.card(t)
        power_row = next((r for r in (power.to_dict("records") if power is not None and len(power) else [])
                          if r.get("table") == t.id), None)
        kinds = [k for row in card for item in row["values"] for k, _ in item["parts"]]
        sections.append({"table": t, "rows": rows, "counts": counts.loc[t.id].to_dict() if t.id in counts.index
                         else dict.fromkeys(VERDICTS, 0), "compute_h": compute_h, "cost_h": cost_h,
                         "protocol": card, "protocol_kinds": {k: kinds.count(k) for k in protocol.KINDS
                                                              if kinds.count(k)},
                         "figures": [plots.no_script(f) for f in figures],
                         "claims": [c for c in claim_items if c["table"] == t.id],
                         "open": ran or selected is None or t.id in selected,
                         "gate": gate_card(t, mine, power_row, seeds),
                         "stages": runnable * seeds, "runnable": runnable,
                         "reasons": sorted(reasons.items(), key=lambda kv: kv[1]),
                         "unavailable": int((mine.verdict == UNAVAILABLE).sum()) if len(mine) else 0})
    compute_svg = plots.compute_bars(hours)
    worse, better, contradicted, ungated = failing(verdicts, claims if claims is not None else pd.DataFrame())
    gate = {"passed": worse.empty and contradicted.empty,
            "worse": worse.to_dict("records"), "better": better.to_dict("records"),
            "claims": contradicted.drop_duplicates("claim").to_dict("records") if len(contradicted) else [],
            "ungated": sorted(set(ungated.claim)) if len(ungated) else [],
            "decided": int(verdicts.verdict.isin([REPRODUCED, DISCREPANT]).sum()),
            "ran": int(verdicts.n_runs.gt(0).sum())}
    return _env().get_template("report.html.j2").render(gate=gate, seeds=seeds,
        title=title, sections=sections, verdict_names=VERDICTS, claims=claim_items,
        claim_counts={v: sum(c["verdict"] == v for c in claim_items) for v in CLAIM_BEST_FIRST},
        claim_labels=CLAIM_LABELS, claim_notes=_claim_notes(), compute_svg=plots.no_script(compute_svg) if compute_svg else None,
        total_hours=sum(hours.values()), studies=[{**st, "forest": plots.no_script(st["forest"]) if st["forest"] else None,
                                                   "curves": plots.no_script(st["curves"]) if st["curves"] else None}
                                                  for st in studies or []],
        totals={v: int(counts[v].sum()) for v in VERDICTS},
        power=[] if power is None else power.astype(object).where(power.notna(), None).to_dict("records"),
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        commit=provenance.git_commit(),
    )


def render_markdown(tables: dict[str, Table], verdicts: pd.DataFrame, claims: pd.DataFrame | None = None) -> str:
    counts = summarise(verdicts)
    lines = ["# Reproducibility summary", "", "| table | " + " | ".join(VERDICTS) + " |",
             "|---|" + "---:|" * len(VERDICTS)]
    for tid in tables:
        c = counts.loc[tid] if tid in counts.index else dict.fromkeys(VERDICTS, 0)
        lines.append(f"| {tid} | " + " | ".join(str(int(c[v])) for v in VERDICTS) + " |")
    unavailable = verdicts[verdicts.verdict == UNAVAILABLE].fillna({"reason": ""})
    if len(unavailable):
        lines += ["", "Unavailable cells, by reason:", "", "| cells | reason |", "|---:|---|"]
        for reason, n in unavailable.groupby("reason").size().sort_values(ascending=False).items():
            lines.append(f"| {n} | {str(reason).replace('|', '/')} |")
    flagged = verdicts[verdicts.verdict == DISCREPANT]
    if len(flagged):
        lines += ["", "| table | cell | verdict | reference | reproduced | delta [95% CI] |",
                  "|---|---|---|---:|---:|---|"]
        for r in flagged.to_dict("records"):
            c = cell_view(r, {})
            lines.append(f"| {r['table']} | {r['row']} / {r['column']} | {c['label']} | {c['ref']} "
                         f"| {c['ours']} | {c['delta_text']} {c['ci']} |")
    items = _claims(claims)
    if items:
        lines += ["", "| claim | verdict | pairs |", "|---|---|---:|"]
        for c in items:
            lines.append(f"| {c['text'].replace('|', '/')} ({c['table']}) | {c['label']} | {len(c['pairs'])} |")
    return "\n".join(lines) + "\n"
