"""The statistics of verdicts: numbers in, numbers out (no tables, no pandas).

    bench stats      (DVC stage `stats`, through bench.judge.verdicts)

Cells (our runs against a published or recorded value; delta = ours - published):
  * the published dispersion is normalised to a sample std: the printed half-width
    or std is first floored at its own last printed digit's unit / sqrt(12) (a
    printed "0.00" is not zero), then `ci95` h over n runs -> h sqrt(n) / t(0.975, n-1);
    a printed bound ("<0.1") is used as its upper bound; `none` treats the
    published value as one draw whose std is taken as `factor` (the table's
    spread_factor, default SPREAD_FACTOR = 2) times our seeds' std: a prediction
    interval, se = s sqrt(factor^2 + 1/n), valid for a paper whose run-to-run
    spread is up to `factor` times ours;
  * our seeds' std is pooled where cells share a noise process (bench.judge.pooling:
    one variance per group of a table, s_p^2 = sum (n_i - 1) s_i^2 / sum (n_i - 1) with
    df = sum (n_i - 1), used by every cell of the group) unless Bartlett's test
    (`homogeneity`, scipy) finds the group's spreads differ at HOMOGENEITY_LEVEL,
    when each cell keeps its own (df = n - 1);
  * that std is floored at the accuracy's quantisation, 100 / test size /
    sqrt(12) (the printed digit's unit / sqrt(12) when the test size is unknown),
    so no spread, however small, makes a verdict certain;
  * REPRODUCED: TOST (two one-sided t tests) shows |delta| < margin at alpha;
    DISCREPANT: the 95% CI of delta lies entirely outside +-margin (p_beyond:
    the two-sided test that |delta| > margin), Holm-adjusted across the table;
    INCONCLUSIVE otherwise. With a published std, Welch's se and the
    Welch-Satterthwaite df with our spread's df (pooled or n - 1);
  * MDE: the difference the two-sided test detects with 80% power at this se and
    df (noncentral t, statsmodels); tost_margin80: the smallest margin TOST passes
    with 80% power when the truth equals the published value (at this spread).

Claims (a treatment entry against a control entry, per pair of cells, or an
effect against an effect: each the per-seed difference of two entries), on the
seeds every arm ran, with the paired differences d = treatment - control
(their std floored at sqrt(number of arms) x the quantisation):
  * direction: one-sided paired t test in the claimed direction (beyond `min_effect`);
  * contradicted: the one-sided test in the opposite direction (beyond 0, or
    beyond `min_effect` when it is negative: a non-inferiority claim is
    contradicted by a treatment worse than its margin), Holm-adjusted across
    the claim's pairs;
  * effect consistent: TOST of (our mean d - the published effect) against the
    claim's margin, the published effect's uncertainty included (printed
    dispersions; a cell printed without one counts as one draw with our arm's std).
A claim over several pairs takes its weakest pair's verdict (bench.judge.verdicts).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

REPRODUCED, INCONCLUSIVE, DISCREPANT, UNAVAILABLE = "REPRODUCED", "INCONCLUSIVE", "DISCREPANT", "UNAVAILABLE"
NO_REFERENCE = "NO_REFERENCE"  # an exploratory entry: runs and is reported, compared with nothing, never gates
SQRT12 = math.sqrt(12.0)
# A paper that printed no spread: its run-to-run std is taken as up to this factor times ours (the table's
# `spread_factor` overrides; README, "How verdicts are made", says why 2).
SPREAD_FACTOR = 2.0
# Bartlett's test of a pooling group's spreads: below this p, each cell keeps its own variance. A missed
# difference costs validity and a false alarm only power, so the level is well above alpha.
HOMOGENEITY_LEVEL = 0.2


def quantisation(test_examples: float | None, printed_unit: float | None = None) -> float:
    """The smallest spread an accuracy (%) can show: 100 / test size / sqrt(12), or else the printed unit's
    (0.01 for "99.50": bench.tables.parts.printed_unit) / sqrt(12)."""
    if test_examples and test_examples > 0:
        return 100.0 / float(test_examples) / SQRT12
    if printed_unit:
        return printed_unit / SQRT12
    raise ValueError("no floor for the spread: neither the test size nor the printed value is known")


def _finite(**values: Any) -> None:
    for name, v in values.items():
        if not np.all(np.isfinite(np.asarray(v, dtype=float))):
            raise ValueError(f"{name} must be finite, got {v!r}")


def cell_arrays(mean, sd, n: int, published: float, pub_std, pub_n: int, margin: float,
                floor: float, intervals: bool = True, df_ours=None,
                factor: float = SPREAD_FACTOR) -> dict[str, np.ndarray]:
    """The cell's tests, vectorised over experiments (arrays of means of n seeds and of our seed stds, each
    with `df_ours` degrees of freedom: n - 1 by default, more when pooled); `pub_std` may be an array too.
    `factor`: a single published draw's std in units of ours. `intervals=False` skips the CI and Welch p
    (what the verdict does not need; simulations)."""
    s = np.maximum(np.asarray(sd, dtype=float), floor)
    dfo = np.broadcast_to(np.asarray(n - 1.0 if df_ours is None else df_ours, dtype=float), s.shape)
    if pub_n == 1:  # one published draw whose std is up to `factor` times ours: a prediction interval
        se, df = s * math.sqrt(factor * factor + 1.0 / n), dfo
    else:
        ps = np.asarray(pub_std, dtype=float)
        v1, v2 = s * s / n, ps * ps / pub_n
        se = np.sqrt(v1 + v2)
        df = (v1 + v2) ** 2 / (v1 * v1 / dfo + v2 * v2 / (pub_n - 1))
    delta = np.asarray(mean, dtype=float) - published
    t = stats.t
    out = {
        "delta": delta, "se": se, "df": df, "spread": s,
        "p_tost": np.maximum(t.sf((delta + margin) / se, df), t.cdf((delta - margin) / se, df)),
        "p_beyond": np.minimum(1.0, 2 * np.minimum(t.sf((delta - margin) / se, df), t.cdf((delta + margin) / se, df))),
    }
    if intervals:
        half = t.ppf(0.975, df) * se
        out.update(ci95_low=delta - half, ci95_high=delta + half,
                   p_welch=np.minimum(1.0, 2 * t.sf(np.abs(delta) / se, df)))
    return out


def pooled(variances, dfs) -> tuple[float, float]:
    """(pooled variance, its df) of several cells' seed variances: sum df_i v_i / sum df_i, sum df_i."""
    v, k = np.asarray(variances, dtype=float), np.asarray(dfs, dtype=float)
    total = float(k.sum())
    return float((k * v).sum() / total), total


def homogeneity(samples: list[list[float]]) -> float:
    """Bartlett's test that the samples share one variance (scipy): its p-value; NaN when it cannot be
    computed (fewer than two samples, or a sample without spread)."""
    usable = [np.asarray(x, dtype=float) for x in samples]
    if len(usable) < 2 or any(len(x) < 2 or not np.ptp(x) > 0 for x in usable):
        return math.nan
    return float(stats.bartlett(*usable).pvalue)


def bartlett_p(variances, n: int) -> np.ndarray:
    """Bartlett's p-value from sample variances (..., k) of n values each: scipy.stats.bartlett's statistic,
    vectorised over experiments for the simulations (tests/test_stats.py checks the two agree)."""
    v = np.asarray(variances, dtype=float)
    k = v.shape[-1]
    big_n = k * n
    sp = v.mean(axis=-1)
    num = (big_n - k) * np.log(sp) - (n - 1) * np.log(v).sum(axis=-1)
    den = 1.0 + (k / (n - 1.0) - 1.0 / (big_n - k)) / (3.0 * (k - 1))
    return stats.chi2.sf(num / den, k - 1)


@dataclass
class CellTest:
    delta: float
    ci95: tuple[float, float]
    p_welch: float
    p_tost: float
    p_beyond: float
    df: float
    se: float
    spread: float  # our seeds' std as used (pooled or the cell's own, floored)
    mde: float
    tost_margin80: float
    prediction_interval: bool
    spread_df: float  # the degrees of freedom of that std (n - 1, or the pooling group's)
    spread_factor: float  # a single published draw's std in units of ours (prediction intervals only)


def mde(se: float, df: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """The difference a two-sided t test at this se and df detects with `power` (noncentral t)."""
    from scipy.optimize import brentq
    from statsmodels.stats.power import ttest_power

    def gap(effect: float) -> float:
        value = ttest_power(effect, nobs=1, alpha=alpha, df=df, alternative="two-sided")
        return (1.0 if not np.isfinite(value) else float(value)) - power  # nan only where power is ~1

    hi = 1.0
    while gap(hi) < 0:  # power grows with the effect: bracket the root
        hi *= 2.0
    return float(brentq(gap, 1e-6, hi)) * se


def test_cell(values: list[float], published: float, pub_std: float, pub_n: int, margin: float,
              alpha: float = 0.05, floor: float = 0.0, pooled: tuple[float, float] | None = None,
              factor: float = SPREAD_FACTOR) -> CellTest:
    """Every test of one cell (see the module docstring); `floor`: the least std of our seeds; `pooled`:
    (std, df) of the cell's pooling group, used instead of its own seeds' std; `factor`: a single
    published draw's std in units of ours."""
    _finite(values=values, published=published, pub_std=pub_std, margin=margin, floor=floor, factor=factor)
    x = np.asarray(values, dtype=float)
    if len(x) < 2:
        raise ValueError("a cell needs at least two reproduced runs to be tested")
    if margin <= 0 or floor <= 0 or factor < 1:
        raise ValueError(f"the margin and the spread floor must be positive and the spread factor at least 1, "
                         f"got {margin}, {floor} and {factor}")
    sd, df_ours = (x.std(ddof=1), len(x) - 1.0) if pooled is None else pooled
    _finite(pooled_std=sd, pooled_df=df_ours)
    a = {k: float(v) for k, v in cell_arrays(x.mean(), sd, len(x), published, pub_std, pub_n, margin, floor,
                                             df_ours=df_ours, factor=factor).items()}
    if not all(math.isfinite(a[k]) for k in ("delta", "se", "df")):
        raise ValueError("the numbers are too large to test (the difference or its standard error overflows)")
    tost80 = a["se"] * float(stats.t.ppf(1 - alpha, a["df"]) + stats.t.ppf(0.9, a["df"]))
    return CellTest(a["delta"], (a["ci95_low"], a["ci95_high"]), a["p_welch"], a["p_tost"], a["p_beyond"], a["df"],
                    a["se"], a["spread"], mde(a["se"], a["df"], alpha), tost80, pub_n == 1, float(df_ours),
                    factor if pub_n == 1 else math.nan)


def holm(pvalues: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (statsmodels); refuses non-finite input."""
    if not pvalues:
        return []
    _finite(pvalues=pvalues)
    from statsmodels.stats.multitest import multipletests

    return [float(p) for p in multipletests(pvalues, method="holm")[1]]


def verdict(test: CellTest, p_beyond_holm: float, alpha: float = 0.05) -> str:
    if test.p_tost < alpha:
        return REPRODUCED
    if p_beyond_holm < alpha:
        return DISCREPANT
    return INCONCLUSIVE


def as_row(test: CellTest) -> dict:
    row = asdict(test)
    row["ci95_low"], row["ci95_high"] = row.pop("ci95")
    return row


def judge_one(values: list[float], published: float, pstd: float, pn: int, margin: float, alpha: float = 0.05,
              floor: float = 0.0, higher_is_better: bool = True, factor: float = SPREAD_FACTOR) -> dict:
    """One cell on its own (`bench verdict`; Holm of one p is p), against a published value with sample std
    `pstd` over `pn` runs (bench.tables.parts.published_std). Keys: verdict, worse, delta, ci95, p_welch,
    p_tost, p_beyond, mde, tost_margin80 (null where undefined)."""
    if len(values) < 2:
        return {"verdict": UNAVAILABLE, "worse": None, "delta": None, "ci95": [None, None], "p_welch": None,
                "p_tost": None, "p_beyond": None, "mde": None, "tost_margin80": None}
    test = test_cell(values, published, pstd, pn, margin, alpha, floor, factor=factor)
    return {"verdict": verdict(test, test.p_beyond, alpha), "worse": bool(test.delta * (1 if higher_is_better else -1)
                                                                         < 0),
            "delta": test.delta, "ci95": [test.ci95[0], test.ci95[1]], "p_welch": test.p_welch,
            "p_tost": test.p_tost, "p_beyond": test.p_beyond, "mde": test.mde, "tost_margin80": test.tost_margin80}


# ---- claims: a (treatment, control) pair on matched seeds ----

CONSISTENT = "EFFECT_CONSISTENT"
DIRECTION = "DIRECTION_ONLY"
NOT_REPRODUCED = "NOT_REPRODUCED"
CONTRADICTED = "CONTRADICTED"
# From the claim's point of view, worst first: the claim takes its worst pair's verdict.
CLAIM_ORDER = (CONTRADICTED, UNAVAILABLE, NOT_REPRODUCED, DIRECTION, CONSISTENT)
CLAIM_LABELS = {CONSISTENT: "reproduced: direction and effect size", DIRECTION: "direction reproduced, effect size differs",
                NOT_REPRODUCED: "not reproduced", CONTRADICTED: "contradicted", UNAVAILABLE: "unavailable"}


def paired_arrays(d, direction: str, min_effect: float, published_effect: float, margin: float, floor: float,
                  published: tuple[tuple[float, int], ...], arm_sd: tuple,
                  intervals: bool = True) -> dict[str, np.ndarray]:
    """A pair's tests, vectorised over experiments: `d` (..., n) paired differences; `arm_sd`: our arms' seed
    stds (the std assumed for a published cell printed without dispersion)."""
    d = np.asarray(d, dtype=float)
    n = d.shape[-1]
    mean = d.mean(axis=-1)
    sd = np.maximum(d.std(axis=-1, ddof=1), floor * math.sqrt(len(published)))  # one floor per arm
    se, df = sd / math.sqrt(n), n - 1.0
    sign = 1.0 if direction == "higher" else -1.0
    t = stats.t
    parts = [(se * se, np.full_like(se, df))]  # (variance of the estimate, its degrees of freedom)
    for (ps, pn), arm in zip(published, arm_sd):
        if pn > 1:
            parts.append((np.full_like(se, ps * ps / pn), np.full_like(se, pn - 1.0)))
        else:  # one draw: our arm's seed std (floored)
            s = np.maximum(np.asarray(arm, dtype=float), floor)
            parts.append((s * s, np.full_like(se, df)))
    var = sum(v for v, _ in parts)
    gdf = var * var / sum(v * v / k for v, k in parts)
    g_se = np.sqrt(var)
    gap = mean - published_effect
    out = {"effect": mean, "p_direction": t.sf((sign * mean - min_effect) / se, df),
           "p_opposite": t.cdf((sign * mean - min(min_effect, 0.0)) / se, df), "gap": gap,
           "p_gap_tost": np.maximum(t.sf((gap + margin) / g_se, gdf), t.cdf((gap - margin) / g_se, gdf))}
    if intervals:
        half, g_half = t.ppf(0.975, df) * se, t.ppf(0.975, gdf) * g_se
        out.update(ci95_low=mean - half, ci95_high=mean + half, gap_ci95_low=gap - g_half,
                   gap_ci95_high=gap + g_half)
    return out


def paired_test(treatment: list[float], control: list[float], direction: str, published_effect: float,
                min_effect: float = 0.0, alpha: float = 0.05,
                published: tuple[tuple[float, int], ...] = ((0.0, 1), (0.0, 1)),
                margin: float = 1.0, floor: float = 0.0, arms: list[list[float]] | None = None) -> dict[str, Any]:
    """One (treatment, control) pair over matched seeds, before the claim's Holm step (`claim_verdicts`).

    `arms`: the matched per-seed values of every entry involved, in the order of `published`, when a side
    is an effect (a difference of two entries; then treatment and control are those differences and the
    pair tests a difference of differences); default: the two sides themselves."""
    _finite(treatment=treatment, control=control, published_effect=published_effect, margin=margin)
    a, b = np.asarray(treatment, float), np.asarray(control, float)
    arms = [a, b] if arms is None else [np.asarray(x, float) for x in arms]
    if len(arms) != len(published):
        raise ValueError(f"{len(arms)} arms but {len(published)} published spreads")
    n = len(a)
    row: dict[str, Any] = {"n_seeds": n, "effect": float((a - b).mean()) if n else math.nan,
                           "published_effect": published_effect}
    if n < 2:
        return {**row, "verdict": UNAVAILABLE, "p_direction": math.nan, "p_opposite": math.nan,
                "p_gap_tost": math.nan, "ci95_low": math.nan, "ci95_high": math.nan, "gap_ci95_low": math.nan,
                "gap_ci95_high": math.nan}
    if floor <= 0:
        raise ValueError("a claim's pair needs a positive spread floor (the accuracy's quantisation)")
    r = {k: float(v) for k, v in paired_arrays(a - b, direction, min_effect, published_effect, margin, floor,
                                                published, tuple(x.std(ddof=1) for x in arms)).items()}
    r.pop("gap")
    out = {**row, **r}
    out["verdict"] = pair_verdict(out["p_opposite"], out["p_direction"], out["p_gap_tost"], alpha)
    return out


def pair_verdict(p_opposite_holm: float, p_direction: float, p_gap_tost: float, alpha: float = 0.05) -> str:
    if p_opposite_holm < alpha:
        return CONTRADICTED
    if p_direction < alpha:
        return CONSISTENT if p_gap_tost < alpha else DIRECTION
    return NOT_REPRODUCED


def claim_verdicts(pairs: list[dict[str, Any]], alpha: float = 0.05) -> list[dict[str, Any]]:
    """Each pair's verdict with the opposite-direction p-values Holm-adjusted across the claim's pairs."""
    tested = [p for p in pairs if p.get("verdict") != UNAVAILABLE and np.isfinite(p.get("p_opposite", np.nan))]
    for p, adjusted in zip(tested, holm([p["p_opposite"] for p in tested])):
        p["p_opposite_holm"] = adjusted
        p["verdict"] = pair_verdict(adjusted, p["p_direction"], p["p_gap_tost"], alpha)
    return pairs
