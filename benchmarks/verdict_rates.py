"""How often the cell verdicts are wrong: the current rules against the superseded ones, side by side.

    python benchmarks/verdict_rates.py [--draws 4000]

For the three published-dispersion kinds (a std over 3 runs, a 95% CI over 5
runs, no dispersion) and margins of 1 and 3 seed standard deviations, 3 seeds
per cell, one cell on its own (no Holm step), the published value drawn too:
the probability that the gate fails a cell whose true difference is exactly
the margin (worse), that it fails one at twice the margin, and that the cell is
REPRODUCED when the truth equals the published value. "before": DISCREPANT
when Welch's p < alpha and |delta| >= margin (the superseded rule); "after":
bench.stats as it is (the 95% CI entirely outside the margin, spread floors).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
from scipy import stats as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.judge import power  # noqa: E402

ALPHA = 0.05


def before(delta: float, sigma: float, n: int, pub_std: float, pub_n: int, margin: float, draws: int) -> dict:
    """The superseded rules, re-implemented as they were (no spread floor)."""
    rng = np.random.default_rng(0)
    runs = rng.normal(delta, sigma, size=(draws, n))
    pub = rng.normal(0.0, sigma if pub_n == 1 else pub_std / math.sqrt(pub_n), size=draws)
    m, s = runs.mean(axis=1) - pub, runs.std(axis=1, ddof=1)
    if pub_n == 1:
        se, df = s * math.sqrt(1 + 1 / n), np.full(draws, n - 1.0)
    else:
        v1, v2 = s * s / n, pub_std ** 2 / pub_n
        se, df = np.sqrt(v1 + v2), (v1 + v2) ** 2 / (v1 * v1 / (n - 1) + v2 * v2 / (pub_n - 1))
    p_welch = 2 * st.t.sf(np.abs(m) / se, df)
    p_tost = np.maximum(st.t.sf((m + margin) / se, df), st.t.cdf((m - margin) / se, df))
    reproduced = p_tost < ALPHA
    discrepant = ~reproduced & (p_welch < ALPHA) & (np.abs(m) >= margin)
    return {"reproduced": float(reproduced.mean()), "fail": float((discrepant & (m < 0)).mean())}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--draws", type=int, default=4000)
    args = p.parse_args()
    print(f"{'dispersion':<11} {'margin':>6} | {'false fail at margin':^21} | {'catch at 2x margin':^21} | "
          f"{'REPRODUCED at 0':^21}")
    print(f"{'':<11} {'':>6} | {'before':>10} {'after':>10} | {'before':>10} {'after':>10} | "
          f"{'before':>10} {'after':>10}")
    for name, pub_std, pub_n in (("std, n=3", 1.0, 3), ("ci95, n=5", 1.0, 5), ("none", 0.0, 1)):
        for margin in (1.0, 3.0):
            cells = []
            for delta, key in ((-margin, "fail"), (-2 * margin, "fail"), (0.0, "reproduced")):
                old = before(delta, 1.0, 3, pub_std, pub_n, margin, args.draws)[key]
                new = power.simulate(delta, 1.0, 3, pub_std, pub_n, margin, 0.003, ALPHA, args.draws)[key]
                cells.append(f"{old:>10.3f} {new:>10.3f}")
            print(f"{name:<11} {margin:>5g}s | " + " | ".join(cells))
    print(f"simulated: {args.draws} experiments per point, RNG seed 0, 3 seeds per cell, seed std s = 1, "
          f"one cell before Holm")


if __name__ == "__main__":
    main()
