"""`bench published`: every published cell of every table file, as CSV.

    paper,table,entry,dataset,metric,value,dispersion,dispersion_kind,n

Values and dispersions appear exactly as the table files transcribe them from
the papers (quoted in the YAML to keep printed digits such as "99.50");
`dispersion` is empty where the paper printed none, and then
`dispersion_kind` is `none` and `n` is empty. Printed compute rows (ViT
Table 2's TPUv3-core-days) appear with their unit as the metric.
"""

from __future__ import annotations

import csv
import io

from bench.tables.table import Entry, Table

HEADER = ["paper", "table", "entry", "dataset", "metric", "value", "dispersion", "dispersion_kind", "n"]


def _table_name(t: Table) -> str:
    name = str(getattr(t.source, "table", t.id))
    return f"Table {name}" if name.isdigit() else name


def dataset_name(e: Entry) -> str:
    if e.derived is not None:
        return e.derived.dataset or ""
    if e.dataset is None:
        return ""
    return f"vtab/{e.dataset.vtab}" if e.dataset.vtab else e.dataset.name


def published_rows(tables: dict[str, Table]) -> list[list[str]]:
    rows = []
    for t in tables.values():
        for e in t.entries.values():
            p = e.published
            if p is None:  # an exploratory entry: nothing published
                continue
            has = p.dispersion is not None
            rows.append([t.paper, _table_name(t), e.id, dataset_name(e), t.metric, p.printed,
                         p.printed_dispersion if has else "", t.dispersion_kind if has else "none",
                         str(t.dispersion_n) if has else ""])
        for cost in (t.costs.values.values() if t.costs else ()):
            rows.append([t.paper, _table_name(t), cost.id, "", t.costs.unit, cost.printed, "", "none", ""])
    return rows


def published_csv(tables: dict[str, Table]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(published_rows(tables))
    return buf.getvalue()
