"""Cell verdicts: reproduced runs against a published (or recorded) value.

    bench stats      (DVC stage `stats`: results/runs.csv -> results/verdicts.csv)

For each cell (see ../shared-reference notes in the README, "How verdicts are made"):
  * the published dispersion is normalised to a sample std (ddof=1): `std` as
    is, `ci95` half-width h over n runs -> h * sqrt(n) / t(0.975, n-1), `none`
    -> the published value is treated as one draw (prediction interval);
  * Welch's t-test for a difference, and TOST (two one-sided Welch tests)
    for equivalence within the table's margin, fixed in the table file;
  * REPRODUCED if TOST p < alpha; DISCREPANT if the Holm-adjusted (within the
    table) Welch p < alpha and |delta| >= margin; otherwise INCONCLUSIVE;
    UNAVAILABLE (with the reason) when the cell has no successful runs.
delta is reproduced minus published, in the table's metric (percentage points).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

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
