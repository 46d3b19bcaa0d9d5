"""The gate's operating characteristics: how often its verdicts are wrong, per table.

    bench power      (also results/power.csv from `bench stats`, and a section of the report)

For a table's typical cell (its dispersion kind and runs, its median published
std, our seeds' spread) and the seeds used, simulated with the exact decision
rules of bench.stats (fixed RNG seed, `draws` experiments per point; no Holm
step, so these are the rates of one cell on its own, an upper bound on a
table's false failures):

  * false failure: the gate fails the cell (DISCREPANT, worse) when the true
    difference is exactly the margin, in the worse direction (at most alpha / 2);
  * catch: it fails a cell whose true difference is twice the margin, worse;
  * REPRODUCED at 0: the cell is REPRODUCED when the truth equals the published
    value; and at the margin (at most alpha);
  * seeds for 80%: the fewest seeds at which REPRODUCED at 0 reaches 80%.

Published values are drawn too: a mean of n_pub runs with the printed std, or,
with no dispersion printed, one draw with our seeds' std (the assumption the
cell test makes).
"""

from __future__ import annotations

import math

import numpy as np

from bench import stats

DRAWS = 4000
MAX_SEEDS = 64


def simulate(delta: float, sigma: float, n: int, pub_std: float, pub_n: int, margin: float, floor: float,
             alpha: float = 0.05, draws: int = DRAWS, seed: int = 0) -> dict[str, float]:
    """Rates of the cell verdicts when our true mean is the published truth + `delta` (worse when negative)."""
    rng = np.random.default_rng(seed)
    runs = rng.normal(delta, sigma, size=(draws, n))
    if pub_n == 1:
        published = rng.normal(0.0, sigma, size=draws)
    else:
        published = rng.normal(0.0, pub_std / math.sqrt(pub_n), size=draws)
    a = stats.cell_arrays(runs.mean(axis=1) - published, runs.std(axis=1, ddof=1), n, 0.0, pub_std, pub_n,
                          margin, floor, intervals=False)
    reproduced = a["p_tost"] < alpha
    discrepant = ~reproduced & (a["p_beyond"] < alpha)
    worse = discrepant & (a["delta"] < 0)
    return {"reproduced": float(reproduced.mean()), "discrepant": float(discrepant.mean()),
            "fail": float(worse.mean())}


def seeds_for(target: float, sigma: float, pub_std: float, pub_n: int, margin: float, floor: float,
              alpha: float = 0.05, draws: int = 2000) -> int | None:
    """The fewest seeds (2..64) at which REPRODUCED reaches `target` when the truth equals the published value
    (a binary search: the rate grows with the seeds)."""

    def reaches(n: int) -> bool:
        return simulate(0.0, sigma, n, pub_std, pub_n, margin, floor, alpha, draws)["reproduced"] >= target

    lo, hi = 2, MAX_SEEDS
    if not reaches(hi):
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if reaches(mid) else (mid + 1, hi)
    return lo


def characteristics(sigma: float, n: int, pub_std: float, pub_n: int, margin: float, floor: float,
                    alpha: float = 0.05) -> dict[str, float | int | None]:
    at = {"margin": simulate(-margin, sigma, n, pub_std, pub_n, margin, floor, alpha),
          "twice": simulate(-2 * margin, sigma, n, pub_std, pub_n, margin, floor, alpha),
          "zero": simulate(0.0, sigma, n, pub_std, pub_n, margin, floor, alpha)}
    return {"false_fail_at_margin": at["margin"]["fail"], "catch_at_2x_margin": at["twice"]["fail"],
            "reproduced_at_zero": at["zero"]["reproduced"], "reproduced_at_margin": at["margin"]["reproduced"],
            "seeds_for_80pct_reproduced": seeds_for(0.8, sigma, pub_std, pub_n, margin, floor, alpha)}


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
