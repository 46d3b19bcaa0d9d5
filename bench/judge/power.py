"""The gate's operating characteristics: how often its verdicts are wrong, and what a table can show.

    bench power      (also results/power.csv from `bench stats`, and a section of the report)

For a table's typical cell (bench.judge.operating says which: its dispersion kind
and runs, its median printed std, our seeds' spread from runs or the table's
stated prior, its pooling group's size, the table's spread factor and its number
of tested cells), simulated with the decision rules of bench.stats (fixed RNG
seed, `draws` experiments): our seeds and the other cells of the group drawn from
a normal with our std (the odd cell `odd` times it), the published value drawn
too (a mean of n_pub runs whose printed std is itself drawn, chi-square with
n_pub - 1 df, or one draw whose std is `ratio` times ours), the group's pooled
variance used unless Bartlett's test rejects at bench.stats.HOMOGENEITY_LEVEL:

  * false failure: the gate fails the cell (DISCREPANT, worse) when the true
    difference is exactly the margin, in the worse direction (one cell, no Holm:
    the most it can be);
  * REPRODUCED at 0: the cell is REPRODUCED when the truth equals the published value;
  * caught 80%: the true difference at which the gate fails the cell 80% of the
    time, on its own and after Holm over the table (its p against alpha / k, the
    first Holm step: what one cell off in a table of k faces);
  * smallest margin: the margin at which REPRODUCED at 0 would reach 80%;
  * recommended seeds (`recommend`): the fewest that catch a cell twice the margin
    off 80% of the time after Holm, make REPRODUCED at 0 reach 80%, and leave less
    than 10% to gain in the difference caught (each where some count reaches it).

Each is exact for the simulated experiments: a cell is REPRODUCED when |delta| +
t(1 - alpha, df) se < margin and fails when delta + t(1 - alpha / (2k), df) se <
-margin (the 95% CI, Holm-adjusted, below -margin), so rates and thresholds are
read off the same draws (tests/test_stats.py checks them against the p-values).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
from scipy import stats as st

from bench import stats

DRAWS = 4000
MAX_SEEDS = 64
TARGET = 0.8


@dataclass(frozen=True)
class Setting:
    """A typical cell as the gate sees it."""

    sigma: float  # our seeds' true std
    n: int  # seeds per cell
    pub_std: float  # the published runs' std (0 for a single draw)
    pub_n: int  # runs behind the published value (1: a single draw)
    margin: float
    floor: float
    group: int = 1  # cells in its pooling group (1: its own variance)
    factor: float = stats.SPREAD_FACTOR  # the rule's assumed ratio for a single published draw
    cells: int = 1  # tested cells in the table (Holm)
    alpha: float = 0.05
    ratio: float = 1.0  # a single published draw's true std / ours
    odd: float = 1.0  # the cell's std / the rest of its group's
    pool: bool = True


@dataclass(frozen=True)
class Draws:
    """Simulated experiments at a true difference of 0: our mean minus the published value, and the se and df
    the rule computes for each."""

    noise: np.ndarray
    se: np.ndarray
    df: np.ndarray
    setting: Setting


@lru_cache(maxsize=2)
def _normals(draws: int, group: int, width: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Standard normals for `width` seeds of `group` cells and for the published values: the same experiments
    at every number of seeds (the first n columns), so rates compare across seed counts."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(draws, group, width)), rng.normal(size=draws)


def draw(s: Setting, draws: int = DRAWS, seed: int = 0) -> Draws:
    z, zp = _normals(draws, s.group, max(s.n, MAX_SEEDS), seed)
    scale = np.ones(s.group)
    scale[0] = s.odd
    runs = z[:, :, :s.n] * (s.sigma * scale)[:, None]
    var = runs.var(axis=-1, ddof=1)
    sd, df = np.sqrt(var[:, 0]), np.full(draws, s.n - 1.0)
    if s.pool and s.group > 1:
        use = stats.bartlett_p(var, s.n) >= stats.HOMOGENEITY_LEVEL
        sd = np.where(use, np.sqrt(var.mean(axis=-1)), sd)
        df = np.where(use, s.group * (s.n - 1.0), df)
    if s.pub_n == 1:
        published, printed = zp * (s.ratio * s.sigma), np.zeros(draws)
    else:
        published = zp * (s.pub_std / math.sqrt(s.pub_n))
        chi = np.random.default_rng([seed, 1]).chisquare(s.pub_n - 1, size=draws)
        printed = s.pub_std * np.sqrt(chi / (s.pub_n - 1))
    a = stats.cell_arrays(runs[:, 0].mean(axis=-1) - published, sd, s.n, 0.0, printed, s.pub_n, 1.0, s.floor,
                          intervals=False, df_ours=df, factor=s.factor)
    return Draws(a["delta"], a["se"], a["df"], s)


def _reach(d: Draws, level: float) -> np.ndarray:
    return st.t.ppf(1.0 - level, d.df) * d.se


def rates(d: Draws, delta: float, margin: float | None = None) -> dict[str, float]:
    """Rates of the verdicts at a true difference `delta` (worse when negative), with the rules' p-values."""
    s = d.setting
    m = s.margin if margin is None else margin
    a = {"delta": d.noise + delta, "se": d.se, "df": d.df}
    t = st.t
    p_tost = np.maximum(t.sf((a["delta"] + m) / d.se, d.df), t.cdf((a["delta"] - m) / d.se, d.df))
    p_beyond = np.minimum(1.0, 2 * np.minimum(t.sf((a["delta"] - m) / d.se, d.df), t.cdf((a["delta"] + m) / d.se,
                                                                                           d.df)))
    reproduced = p_tost < s.alpha
    worse = ~reproduced & (a["delta"] < 0)
    return {"reproduced": float(reproduced.mean()), "fail": float((worse & (p_beyond < s.alpha)).mean()),
            "fail_holm": float((worse & (p_beyond * s.cells < s.alpha)).mean())}


def caught(d: Draws, holm: bool = True, target: float = TARGET) -> float:
    """The true difference (in the worse direction) the gate fails `target` of the time: the margin plus the
    `target` quantile of (our mean - published + t se) at a true difference of 0."""
    s = d.setting
    level = s.alpha / (2 * (s.cells if holm else 1))
    return float(s.margin + np.quantile(d.noise + _reach(d, level), target))


def smallest_margin(d: Draws, target: float = TARGET) -> float:
    """The margin at which REPRODUCED at a true difference of 0 reaches `target`."""
    return float(np.quantile(np.abs(d.noise) + _reach(d, d.setting.alpha), target))


def characteristics(s: Setting, draws: int = DRAWS) -> dict[str, float]:
    d = draw(s, draws)
    at = rates(d, -s.margin)
    zero = rates(d, 0.0)
    return {"false_fail_at_margin": at["fail"], "reproduced_at_margin": at["reproduced"],
            "reproduced_at_zero": zero["reproduced"], "caught80_cell": caught(d, holm=False),
            "caught80_holm": caught(d), "power_2x_holm": rates(d, -2 * s.margin)["fail_holm"],
            "smallest_margin80": smallest_margin(d)}


# The seed counts the recommendation compares (2..MAX_SEEDS).
GRID = (2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 48, MAX_SEEDS)


def recommend(s: Setting, draws: int = DRAWS) -> dict:
    """The seeds recommended for a table's typical cell: the fewest (of GRID) that (1) catch a cell twice the
    margin off 80% of the time after Holm, where some number does; (2) make REPRODUCED at 0 reach 80% at
    the table's margin, or where none does, bring the smallest margin for it within 10% of the least any
    count gives; and (3) bring the difference caught 80% after Holm within 10% of the least any count gives
    (past it, more seeds buy little). Returns seeds, why, and the counts each part needs (None: out of
    reach) with the least values found."""
    at = {}
    for n in GRID:
        d = draw(replace(s, n=n), draws)
        at[n] = (rates(d, -2 * s.margin)["fail_holm"], smallest_margin(d), caught(d))
    best_m, best_d = min(v[1] for v in at.values()), min(v[2] for v in at.values())
    first = lambda ok: next((n for n in GRID if ok(*at[n])), None)  # noqa: E731
    twice = first(lambda p, m, c: p >= TARGET)
    equal = first(lambda p, m, c: m <= s.margin)
    parts = {"80% power at twice the margin after Holm": twice or 2,
             "80% REPRODUCED at 0" if equal else "the smallest margin for 80% REPRODUCED within 10% of its least":
                 equal or first(lambda p, m, c: m <= 1.1 * best_m),
             "the difference caught after Holm within 10% of its least": first(lambda p, m, c: c <= 1.1 * best_d)}
    seeds = max(parts.values())
    why = "; ".join(f"{k}: {v}" for k, v in parts.items() if v == seeds)
    return {"seeds": seeds, "why": why, "seeds_2x": twice, "seeds_equal": equal, "least_margin80": best_m,
            "least_caught80": best_d}


def simulate(delta: float, sigma: float, n: int, pub_std: float, pub_n: int, margin: float, floor: float,
             alpha: float = 0.05, draws: int = DRAWS, seed: int = 0, **setting) -> dict[str, float]:
    """Rates of one cell's verdicts when our true mean is the published truth + `delta` (worse when negative);
    `setting`: the other Setting fields (group, factor, cells, ratio, odd, pool)."""
    d = draw(Setting(sigma, n, pub_std, pub_n, margin, floor, alpha=alpha, **setting), draws, seed)
    return rates(d, delta)


def claim_contradicted_rate(pairs: int, n: int, sigma_d: float, floor: float, alpha: float = 0.05,
                            draws: int = DRAWS, seed: int = 0) -> float:
    """How often a claim over `pairs` pairs with no true effect is CONTRADICTED (Holm across its pairs)."""
    rng = np.random.default_rng(seed)
    d = rng.normal(0.0, sigma_d, size=(draws, pairs, n))
    p_opp = stats.paired_arrays(d, "lower", 0.0, 0.0, 1.0, floor, ((0.0, 1), (0.0, 1)),
                                (np.full(d.shape[:2], sigma_d), np.full(d.shape[:2], sigma_d)),
                                intervals=False)["p_opposite"]
    # Holm rejects at least one of k hypotheses exactly when the smallest p-value is below alpha / k.
    return float(np.mean(p_opp.min(axis=1) * pairs < alpha))
