"""A table's claims ("SAM lowers the error", "the released checkpoints are within the recorded accuracy"):
one module per kind, each with what a claim of that kind says (its declared fields), how it is judged
and how the report shows it.

A claim's kind is named by the one marker key it holds (`pairs:`, `cells:`). A new kind is one module
here: a dataclass registered with `@CLAIMS.register(name)`, subclassing `Claim` (claims/base.py), with

    MARKER               the key that names the kind
    entries()            (field, entry id) of every entry it reads (checked when the tables load)
    judge(ctx)           its rows of results/claims.csv; ctx (bench.judge.verdicts.Context) gives the
                         runs' values, the published spreads and the cell verdicts
    PARTIAL              the report's markup for one of its rows (Jinja; `p` the row, `c` the claim)
    NOTE                 one sentence for the report's note on how claims are judged

Every module of this package is imported when the package is, so the registry is complete whenever a
table is parsed. Pure Python at import: judging imports pandas and bench.stats when it runs.
"""

from __future__ import annotations

import importlib
import pkgutil

from bench.tables.claims.base import CLAIMS, Claim, Side, read_claims, side_label

__all__ = ["CLAIMS", "Claim", "Side", "read_claims", "side_label"]

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")
