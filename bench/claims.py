"""The papers' claims, declared in table files and tested on paired seeds.

A claim compares a treatment entry with a control entry, for one or more
pairs (one per dataset: "SAM with rho = 0.05 lowers error against the baseline
on every dataset"), in a stated direction of the table's metric, optionally
by at least `min_effect` points ("the SAM improvement on Flowers is at least
0.3 points").

Each pair is tested on the seeds both arms ran (same seed: same data order
and augmentation in both arms), with the paired t-test on the per-seed
differences d = treatment - control:

  * direction reproduced: one-sided `scipy.stats.ttest_rel` in the claimed
    direction (beyond `min_effect` when given) rejects at alpha;
  * effect size consistent: in addition, the 95% CI of (our mean paired
    difference - the published difference) contains 0; its standard error
    combines ours with the published cells' (their normalised dispersions,
    as for cell verdicts; none printed: our uncertainty alone), with
    Welch-Satterthwaite degrees of freedom;
  * contradicted: the one-sided test in the opposite direction rejects;
  * otherwise not reproduced (three seeds detect only large effects).

A claim over several pairs holds only if every pair holds (an
intersection-union test: each pair at alpha, no correction needed), so its
verdict is its weakest pair's; a contradicted pair makes the claim
contradicted; a pair without two matched seeds makes it UNAVAILABLE.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from bench.errors import choices

CONSISTENT = "EFFECT_CONSISTENT"
DIRECTION = "DIRECTION_ONLY"
NOT_REPRODUCED = "NOT_REPRODUCED"
CONTRADICTED = "CONTRADICTED"
UNAVAILABLE = "UNAVAILABLE"
# From the claim's point of view, worst first: the claim takes its worst pair's verdict.
ORDER = (CONTRADICTED, UNAVAILABLE, NOT_REPRODUCED, DIRECTION, CONSISTENT)
LABELS = {CONSISTENT: "reproduced: direction and effect size", DIRECTION: "direction reproduced, effect size differs",
          NOT_REPRODUCED: "not reproduced", CONTRADICTED: "contradicted", UNAVAILABLE: "unavailable"}
DIRECTIONS = ("higher", "lower")


@dataclass(frozen=True)
class Claim:
    id: str
    table: str
    text: str
    source: str
    direction: str  # the treatment's metric is "higher" or "lower" than the control's
    pairs: tuple[tuple[str, str], ...]  # (treatment entry, control entry)
    min_effect: float = 0.0


def parse_claims(c, raw: Any, table) -> list[Claim]:
    """The `claims:` list of a table file (c: the table's field checker)."""
    items = c.get({"claims": raw}, "claims", "", list)
    out, seen = [], set()
    for i, item in enumerate(items):
        path = f"claims[{i}]"
        d = c.mapping(item, path)
        c.only(d, path, ("id", "text", "source", "direction", "pairs", "min_effect"))
        cid = c.ident(c.get(d, "id", path, str), f"{path}.id")
        if cid in seen:
            raise c.fail(f"{path}.id", f"claim id {cid!r} is used twice")
        seen.add(cid)
        direction = c.get(d, "direction", path, str)
        if direction not in DIRECTIONS:
            raise c.fail(f"{path}.direction", f"unknown direction {direction!r}; {choices(direction, DIRECTIONS)}")
        pairs = c.get(d, "pairs", path, list)
        if not pairs:
            raise c.fail(f"{path}.pairs", "expected a non-empty list of [treatment, control] entry pairs")
        checked = []
        for j, pair in enumerate(pairs):
            pp = f"{path}.pairs[{j}]"
            if not isinstance(pair, list) or len(pair) != 2:
                raise c.fail(pp, "expected [treatment entry, control entry]")
            a, b = (c.ident(e, pp) for e in pair)
            if a == b:
                raise c.fail(pp, "treatment and control are the same entry")
            checked.append((a, b))
        out.append(Claim(cid, table.id, c.get(d, "text", path, str), c.get(d, "source", path, str), direction,
                         tuple(checked), c.number(d, "min_effect", path, 0.0, 1e6, 0.0)))
    return out


def paired_test(treatment: list[float], control: list[float], direction: str, published_effect: float,
                min_effect: float = 0.0, alpha: float = 0.05,
                published: tuple[tuple[float, int], tuple[float, int]] = ((0.0, 1), (0.0, 1))) -> dict[str, Any]:
    """Paired test of one (treatment, control) pair over matched seeds; see the module docstring.

    `published`: ((std, n) of the treatment cell, (std, n) of the control cell) as printed, normalised.
    """
    d = np.asarray(treatment, float) - np.asarray(control, float)
    n = len(d)
    row: dict[str, Any] = {"n_seeds": n, "effect": float(d.mean()) if n else math.nan,
                           "published_effect": published_effect}
    if n < 2:
        return {**row, "verdict": UNAVAILABLE, "p_direction": math.nan, "p_opposite": math.nan,
                "ci95_low": math.nan, "ci95_high": math.nan, "gap_ci95_low": math.nan, "gap_ci95_high": math.nan}
    sign = 1.0 if direction == "higher" else -1.0
    # One-sided tests on the signed differences: H0 "no better than min_effect" and H0 "not worse".
    s = sign * d
    if np.allclose(s, s[0]):  # no spread: the sign is exact (a t-test is undefined)
        p_dir = 0.0 if s[0] > min_effect else 1.0
        p_opp = 0.0 if s[0] < 0 else 1.0
        low = high = float(d.mean())
    else:
        p_dir = float(stats.ttest_1samp(s, min_effect, alternative="greater").pvalue)
        p_opp = float(stats.ttest_1samp(s, 0.0, alternative="less").pvalue)
        low, high = (float(v) for v in stats.ttest_1samp(d, 0.0).confidence_interval(0.95))
    gap_low, gap_high = _gap_interval(d, published_effect, published)
    if p_opp < alpha:
        verdict = CONTRADICTED
    elif p_dir < alpha:
        verdict = CONSISTENT if gap_low <= 0.0 <= gap_high else DIRECTION
    else:
        verdict = NOT_REPRODUCED
    return {**row, "verdict": verdict, "p_direction": p_dir, "p_opposite": p_opp, "ci95_low": low, "ci95_high": high,
            "gap_ci95_low": gap_low, "gap_ci95_high": gap_high}


def _gap_interval(d: np.ndarray, published_effect: float,
                  published: tuple[tuple[float, int], tuple[float, int]]) -> tuple[float, float]:
    """95% CI of mean(d) - published_effect, with the published cells' uncertainty when printed."""
    n = len(d)
    parts = [(float(np.var(d, ddof=1)) / n, n - 1)]  # (variance of the mean, degrees of freedom)
    parts += [(s * s / k, k - 1) for s, k in published if k > 1 and s > 0]
    var = sum(v for v, _ in parts)
    gap = float(d.mean()) - published_effect
    if var == 0:
        return gap, gap
    df = var * var / sum(v * v / k for v, k in parts if k > 0)
    half = float(stats.t.ppf(0.975, df)) * math.sqrt(var)
    return gap - half, gap + half


def judge_claims(tables: dict, runs: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """One row per (claim, pair), with the claim's own verdict repeated on each row."""
    from bench.results import published_spread

    entries = {e.id: (t, e) for t in tables.values() for e in t.entries.values()}
    rows = []
    for t in tables.values():
        for claim in t.claims:
            pair_rows = []
            for treat, ctrl in claim.pairs:
                base = {"claim": claim.id, "table": t.id, "text": claim.text, "source": claim.source,
                        "direction": claim.direction, "min_effect": claim.min_effect, "metric": t.metric,
                        "treatment": treat, "control": ctrl}
                if treat not in entries or ctrl not in entries:
                    missing = treat if treat not in entries else ctrl
                    pair_rows.append({**base, "verdict": UNAVAILABLE, "n_seeds": 0,
                                      "reason": f"entry {missing} is not in the loaded tables"})
                    continue
                (_, te), (_, ce) = entries[treat], entries[ctrl]
                a = _values(runs, treat, t.metric)
                b = _values(runs, ctrl, t.metric)
                seeds = sorted(set(a) & set(b))
                result = paired_test([a[s] for s in seeds], [b[s] for s in seeds], claim.direction,
                                     te.published.value - ce.published.value, claim.min_effect, alpha,
                                     (published_spread(t, te), published_spread(t, ce)))
                reason = ""
                if result["verdict"] == UNAVAILABLE:
                    reason = (te.unavailable or ce.unavailable or _why_not(runs, treat, a) or _why_not(runs, ctrl, b)
                              or f"fewer than two seeds ran in both arms (treatment {sorted(a)}, control {sorted(b)})")
                pair_rows.append({**base, **result, "seeds": ";".join(str(s) for s in seeds), "reason": reason,
                                  "treatment_row": te.row, "control_column": ce.column,
                                  "treatment_column": te.column})
            verdict = min((r["verdict"] for r in pair_rows), key=ORDER.index)
            rows += [{**r, "claim_verdict": verdict} for r in pair_rows]
    columns = ["claim", "table", "text", "source", "direction", "min_effect", "metric", "treatment", "control",
               "treatment_row", "treatment_column", "control_column", "n_seeds", "seeds", "effect",
               "published_effect", "ci95_low", "ci95_high", "gap_ci95_low", "gap_ci95_high", "p_direction",
               "p_opposite", "verdict", "reason", "claim_verdict"]
    return pd.DataFrame(rows, columns=columns)


def _why_not(runs: pd.DataFrame, entry: str, ran: dict[int, float]) -> str:
    """The recorded reason an arm has fewer than two runs ("not run yet (suite ...)", a failure)."""
    if len(ran) >= 2:
        return ""
    bad = runs[(runs.entry == entry) & (runs.status != "ok")]
    reasons = [str(r) for r in bad.reason.dropna() if str(r)]
    return f"{entry}: {reasons[0]}" if reasons else ""


def _values(runs: pd.DataFrame, entry: str, metric: str) -> dict[int, float]:
    sel = runs[(runs.entry == entry) & (runs.metric == metric) & (runs.status == "ok")]
    return {int(s): float(v) for s, v in zip(sel.seed, sel.value)}
