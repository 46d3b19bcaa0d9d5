"""The statistics of verdicts: numbers in, numbers out (no tables, no pandas).

    bench stats      (DVC stage `stats`, through bench.verdicts)

Cells (reproduced runs against a published or recorded value):
  * the published dispersion is normalised to a sample std (ddof=1): `std` as
    is, `ci95` half-width h over n runs -> h * sqrt(n) / t(0.975, n-1), `none`
    -> the published value is treated as one draw (prediction interval);
  * Welch's t-test for a difference, and TOST (two one-sided Welch tests)
    for equivalence within the table's margin, fixed in the table file;
  * REPRODUCED if TOST p < alpha; DISCREPANT if the Holm-adjusted (within the
    table) Welch p < alpha and |delta| >= margin; otherwise INCONCLUSIVE;
    UNAVAILABLE (with the reason) when the cell has no successful runs.
delta is reproduced minus published, in the table's metric (percentage points).

Claims (a treatment entry against a control entry, per pair of cells), on
the seeds both arms ran (same seed: same data order and augmentation), with
the paired t-test on the per-seed differences d = treatment - control:
  * direction reproduced: one-sided test in the claimed direction (beyond
    `min_effect` when given) rejects at alpha;
  * effect size consistent: in addition, the 95% CI of (our mean paired
    difference - the published difference) contains 0; its standard error
    combines ours with the published cells' (their normalised dispersions;
    none printed: our uncertainty alone), Welch-Satterthwaite df;
  * contradicted: the one-sided test in the opposite direction rejects;
  * otherwise not reproduced (three seeds detect only large effects).
A claim over several pairs takes its weakest pair's verdict (bench.verdicts).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

REPRODUCED, INCONCLUSIVE, DISCREPANT, UNAVAILABLE = "REPRODUCED", "INCONCLUSIVE", "DISCREPANT", "UNAVAILABLE"


def published_std(dispersion: float | None, kind: str, n: int, decimals: int | None = None) -> tuple[float, int]:
    """(sample std, n) of the published value; n=1 means a single draw (no dispersion).

    A rounding floor w/sqrt(12) (w = one unit of the last printed digit) keeps a
    printed "± 0.0" from claiming zero variance.
    """
    if kind == "none" or dispersion is None:
        return 0.0, 1
    if kind == "std":
        s = dispersion
    elif kind == "ci95":
        s = dispersion * math.sqrt(n) / stats.t.ppf(0.975, n - 1)
    else:
        raise ValueError(f"unknown dispersion kind {kind!r}")
    if decimals is not None:
        s = max(s, 10.0 ** -decimals / math.sqrt(12.0))
    return s, n


def printed_decimals(value: float | str) -> int:
    """Decimals as printed: "99.50" -> 2, 88.55 -> 2 (for the rounding floor of the published std)."""
    text = value if isinstance(value, str) else repr(float(value))
    if "." not in text or "e" in text:
        return 0
    return len(text.split(".")[1]) if isinstance(value, str) else len(text.split(".")[1].rstrip("0"))


def published_spread(published, dispersion_kind: str, dispersion_n: int) -> tuple[float, int]:
    """(sample std, n) of a published value (a bench.experiments.Published) of a table whose
    dispersion is `dispersion_kind` over `dispersion_n` runs: normalised, with the rounding floor."""
    p = published
    return published_std(p.dispersion, dispersion_kind, dispersion_n,
                         printed_decimals(p.printed or p.value) if p.dispersion is not None else None)


@dataclass
class CellTest:
    delta: float
    ci95: tuple[float, float]
    p_welch: float
    p_tost: float
    df: float
    mde: float
    prediction_interval: bool


def _welch(m: float, s: float, n: int, pm: float, ps: float, pn: int) -> tuple[float, float]:
    """(standard error, degrees of freedom) of the difference of two means."""
    if pn == 1:  # one published draw: prediction interval, df from our runs alone
        return s * math.sqrt(1.0 + 1.0 / n), n - 1
    v1, v2 = s * s / n, ps * ps / pn
    se = math.sqrt(v1 + v2)
    if se == 0:
        return 0.0, float(n + pn - 2)
    df = (v1 + v2) ** 2 / ((v1 * v1 / (n - 1) if n > 1 else 0) + (v2 * v2 / (pn - 1) if pn > 1 else 0))
    return se, df


def test_cell(values: list[float], published: float, pub_std: float, pub_n: int, margin: float,
              alpha: float = 0.05) -> CellTest:
    """Welch difference test, TOST equivalence test, 95% CI and MDE for one cell."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    if n < 2:
        raise ValueError("a cell needs at least two reproduced runs to be tested")
    m, s = float(x.mean()), float(x.std(ddof=1))
    se, df = _welch(m, s, n, published, pub_std, pub_n)
    delta = m - published
    if se == 0:  # identical runs and an exact reference: the difference is known exactly
        p_welch = 1.0 if delta == 0 else 0.0
        p_tost = 0.0 if abs(delta) < margin else 1.0
        return CellTest(delta, (delta, delta), p_welch, p_tost, df, 0.0, pub_n == 1)
    t_crit = stats.t.ppf(0.975, df)
    p_welch = float(2 * stats.t.sf(abs(delta) / se, df))
    p_lower = float(stats.t.sf((delta + margin) / se, df))  # H0: delta <= -margin
    p_upper = float(stats.t.cdf((delta - margin) / se, df))  # H0: delta >= +margin
    # Minimum detectable effect: two-sided alpha, power 0.8, at this se and df.
    mde = float((stats.t.ppf(1 - alpha / 2, df) + stats.t.ppf(0.8, df)) * se)
    return CellTest(delta, (delta - t_crit * se, delta + t_crit * se), p_welch, max(p_lower, p_upper), df, mde,
                    pub_n == 1)


def holm(pvalues: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1)."""
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    adjusted = [0.0] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(pvalues) - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def verdict(test: CellTest, p_holm: float, margin: float, alpha: float = 0.05) -> str:
    if test.p_tost < alpha:
        return REPRODUCED
    if p_holm < alpha and abs(test.delta) >= margin:
        return DISCREPANT
    return INCONCLUSIVE


def as_row(test: CellTest) -> dict:
    row = asdict(test)
    row["ci95_low"], row["ci95_high"] = row.pop("ci95")
    return row


def judge_one(values: list[float], published: float, dispersion: float | None, kind: str, n: int, margin: float,
              decimals: int | None = None, alpha: float = 0.05) -> dict:
    """One cell on its own (`bench verdict`): no other cells, so no multiplicity correction (Holm of one p = p).

    Returns the contract's keys: verdict, delta, ci95 [low, high], p_welch, p_tost, mde (None where undefined).
    """
    pstd, pn = published_std(dispersion, kind if dispersion is not None else "none", n, decimals)
    if len(values) < 2:
        return {"verdict": UNAVAILABLE, "delta": None, "ci95": [None, None], "p_welch": None, "p_tost": None,
                "mde": None}
    test = test_cell(values, published, pstd, pn, margin, alpha)
    return {"verdict": verdict(test, test.p_welch, margin, alpha), "delta": test.delta,
            "ci95": [test.ci95[0], test.ci95[1]], "p_welch": test.p_welch, "p_tost": test.p_tost, "mde": test.mde}


# ---- claims: a (treatment, control) pair on matched seeds ----

CONSISTENT = "EFFECT_CONSISTENT"
DIRECTION = "DIRECTION_ONLY"
NOT_REPRODUCED = "NOT_REPRODUCED"
CONTRADICTED = "CONTRADICTED"
# From the claim's point of view, worst first: the claim takes its worst pair's verdict.
CLAIM_ORDER = (CONTRADICTED, UNAVAILABLE, NOT_REPRODUCED, DIRECTION, CONSISTENT)
CLAIM_LABELS = {CONSISTENT: "reproduced: direction and effect size", DIRECTION: "direction reproduced, effect size differs",
                NOT_REPRODUCED: "not reproduced", CONTRADICTED: "contradicted", UNAVAILABLE: "unavailable"}


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
