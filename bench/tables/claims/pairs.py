"""A claim over (treatment, control) pairs, tested on paired seeds: "SAM lowers the error on every dataset".

Each side of a pair is one entry, or an effect: the per-seed difference of two entries, so a pair of
effects states a difference of differences ("SAM's gain on CIFAR-100 exceeds its gain on CIFAR-10").
Per pair (bench.stats.paired_test): a one-sided paired t test in the claimed direction, the effect size
by an equivalence test of (ours - published) within the claim's margin, the published cells' own
uncertainty included; the opposite direction Holm-adjusted across the claim's pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.tables.claims.base import CLAIMS, Claim, Side, side_label
from bench.tables.schema import Checker, spec


def _side(c: Checker, raw: Any, path: str) -> Side:
    if isinstance(raw, list):
        if len(raw) != 2:
            raise c.fail(path, "an effect is [entry, entry]: the per-seed difference first minus second")
        return tuple(c.ident(e, path) for e in raw)
    return (c.ident(raw, path),)


def _pairs(c: Checker, raw: Any, path: str) -> tuple[tuple[Side, Side], ...]:
    if not isinstance(raw, list) or not raw:
        raise c.fail(path, "expected a non-empty list of [treatment, control] entry pairs")
    checked = []
    for j, pair in enumerate(raw):
        pp = f"{path}[{j}]"
        if not isinstance(pair, list) or len(pair) != 2:
            raise c.fail(pp, "expected [treatment, control]: two entries, or two effects [entry, entry]")
        a, b = (_side(c, e, f"{pp}[{k}]") for k, e in enumerate(pair))
        if len(a) != len(b):
            raise c.fail(pp, "compare an entry with an entry, or an effect [entry, entry] with an effect")
        if a == b or (len(a) == 2 and a[0] == a[1]):
            raise c.fail(pp, "the two sides are the same entry")
        checked.append((a, b))
    return tuple(checked)


@CLAIMS.register("pairs")
@dataclass(frozen=True, kw_only=True)
class PairsClaim(Claim):
    """A direction over paired cells: the treatment's metric is higher (or lower) than the control's."""

    MARKER = "pairs"
    NOTE = ("A claim over pairs is tested on paired seeds (same seed, same data order in both arms) with a "
            "one-sided paired t-test in the claimed direction; the effect size is consistent when an "
            "equivalence test (TOST) shows (our effect &minus; the published effect), with the published "
            "cells' uncertainty, lies within the claim's margin. A claim over several datasets holds only if "
            "every pair holds; it is contradicted when a pair's opposite-direction test rejects after Holm's "
            "adjustment across its pairs. A pair may compare two effects (each the per-seed difference of two "
            "cells), which tests a difference of differences.")
    PARTIAL = (
        '<div class="num"><code>{{ p.treatment }}</code> &minus; <code>{{ p.control }}</code>: '
        '{% if p.n_seeds and p.n_seeds >= 2 %}{{ p.effect|signed }} [{{ p.ci95_low|fmt }}, {{ p.ci95_high|fmt }}] '
        'vs {{ p.published_effect|signed }} (n={{ p.n_seeds }}, {{ p.p_direction|pval }}) {% else %}not run '
        '(published effect {{ p.published_effect|signed }}) {% endif %}<span class="badge C{{ p.verdict }}">'
        '{{ claim_labels[p.verdict] }}</span>{% if p.reason %} <span class="seeds">{{ p.reason }}</span>'
        '{% endif %}</div>')

    direction: str = spec("the treatment's metric against the control's", choices=("higher", "lower"),
                          noun="direction")
    pairs: tuple = spec("[[treatment, control], ...]: entries, or effects [entry, entry] (the per-seed "
                        "difference first minus second: [[a, b], [c, d]] claims (a - b) is higher or lower "
                        "than (c - d))", reader=_pairs, type_doc="list of [side, side]")
    min_effect: float = spec("at least this many points in `direction`; negative: a non-inferiority claim "
                             "(no worse by more than this), contradicted only by a treatment worse than that",
                             0.0, lo=-1e6, hi=1e6)
    margin: float | None = spec("the effect-size equivalence margin; null: the table's", None, lo=1e-9, hi=1e6)

    def entries(self) -> list[tuple[str, str]]:
        return [(f"pairs[{j}]", e) for j, pair in enumerate(self.pairs) for side in pair for e in side]

    def judge(self, ctx) -> list[dict[str, Any]]:
        from bench import stats

        t = ctx.table
        rows = []
        for treat, ctrl in self.pairs:
            base = {**self.base(t), "direction": self.direction, "min_effect": self.min_effect,
                    "margin": self.margin or t.margin, "treatment": side_label(treat), "control": side_label(ctrl)}
            involved = [*treat, *ctrl]
            missing = [e for e in involved if e not in ctx.entries]
            if missing:
                rows.append({**base, "verdict": stats.UNAVAILABLE, "n_seeds": 0,
                             "reason": f"entry {missing[0]} is not in the loaded tables"})
                continue
            arms = {e: ctx.values(e) for e in involved}
            seeds = sorted(set.intersection(*(set(v) for v in arms.values())))
            sizes = [x for x in (ctx.test_size(e) for e in involved) if x]
            te, ce = ctx.entries[treat[0]][1], ctx.entries[ctrl[0]][1]
            floor = stats.quantisation(min(sizes) if sizes else None, te.published.unit)
            values = {e: [arms[e][s] for s in seeds] for e in involved}
            published = {e: ctx.entries[e][1].published.value for e in involved}
            result = stats.paired_test(_value(values, treat), _value(values, ctrl), self.direction,
                                       _value(published, treat) - _value(published, ctrl), self.min_effect,
                                       ctx.alpha, tuple(ctx.spread(e) for e in involved), self.margin or t.margin,
                                       floor, arms=[values[e] for e in involved])
            reason = ""
            if result["verdict"] == stats.UNAVAILABLE:
                reason = (next((ctx.entries[e][1].unavailable for e in involved if ctx.entries[e][1].unavailable), "")
                          or next((w for e in involved if (w := ctx.why_not(e, arms[e]))), "")
                          or "fewer than two seeds ran in every arm ("
                          + ", ".join(f"{e} {sorted(arms[e])}" for e in involved) + ")")
            rows.append({**base, **result, "seeds": ";".join(str(s) for s in seeds), "reason": reason,
                         "treatment_row": te.row, "control_column": ce.column, "treatment_column": te.column})
        stats.claim_verdicts(rows, ctx.alpha)  # opposite-direction tests Holm-adjusted across the pairs
        verdict = min((r["verdict"] for r in rows), key=stats.CLAIM_ORDER.index)
        return [{**r, "claim_verdict": verdict} for r in rows]


def _value(values: dict, side: Side):
    """A side's value(s): the entry's, or an effect's (first entry minus second), per seed."""
    import numpy as np

    if len(side) == 1:
        return values[side[0]]
    return np.asarray(values[side[0]], float) - np.asarray(values[side[1]], float)
