"""How often the cell verdicts are wrong, and what each paper table can show: today's rule against the pooled one.

    python benchmarks/verdict_rates.py [--draws 4000]      (about 15 s on 2 cores)

"before": the rule as it was until the pooled one (each cell's own seed variance, n - 1 df; a published value
printed without spread one draw as noisy as our seeds). "after": bench.stats as it is (seed variance pooled
over a cell's group unless Bartlett's test rejects at 0.2; a single published draw taken as up to the table's
spread factor times as noisy as our seeds). Every rate is simulated with bench.judge.power (RNG seed 0; the
published value and its printed std drawn too).

1. Calibration: the chance the gate fails a cell whose true difference is exactly the margin (worse; one cell,
   no Holm step: the most Holm leaves), 3 seeds a cell, pooled over a group of 6 cells, for each dispersion
   kind (a std over 3 runs, a 95% CI over 5 runs, a single draw) and each seed-std ratio: ours over the
   published one from 0.25x to 8x, and for a single draw the paper's over ours from 0.25x to the factor (2)
   and beyond it (3x, 4x: what the factor does not cover).
2. Heterogeneity: the same, for a cell whose seed std is r times the rest of its group's (what pooling risks
   when Bartlett's test misses it).
3. The homogeneity pre-test's level with 3 seeds a cell (6 cells, equal spreads, nominal 0.2): Bartlett's,
   and Levene's in its two forms (scipy), which is why the rule uses Bartlett's.
4. Per paper table, its typical cell at its stated prior (bench.judge.operating): false failure at the margin
   (the worst over the ratios of part 1), REPRODUCED at a true difference of 0, the difference caught 80% of the
   time after Holm over the table's tested cells, and the smallest margin at which REPRODUCED at 0 reaches 80%;
   before (3 seeds), after at 3 seeds, and after at the seeds `bench power` recommends.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.judge import power  # noqa: E402
from bench.judge.operating import setting  # noqa: E402
from bench.tables.params import load_all, load_params  # noqa: E402

ALPHA = 0.05
RATIOS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
KINDS = (("std, n=3", 3), ("ci95, n=5", 5), ("none", 1))


def before(s: power.Setting) -> power.Setting:
    """Today's rule: each cell's own variance, a single published draw as noisy as ours."""
    return replace(s, pool=False, group=1, factor=1.0)


def at_ratio(s: power.Setting, r: float) -> power.Setting:
    """Our seed std r times the published one (a printed spread), or the paper's r times ours (a single draw)."""
    return replace(s, ratio=r) if s.pub_n == 1 else replace(s, sigma=max(s.pub_std, s.floor) * r)


def false_fail(s: power.Setting, draws: int) -> float:
    return power.rates(power.draw(s, draws), -s.margin)["fail"]


def calibration(draws: int) -> float:
    print("1. False failure at the margin (one cell, 3 seeds; after: pooled over 6 cells, factor 2)")
    print(f"{'dispersion':<11} {'rule':<7} " + " ".join(f"{r:>6g}x" for r in RATIOS) + "   beyond the factor: 3x, 4x")
    worst = 0.0
    for name, pub_n in KINDS:
        base = power.Setting(1.0, 3, 1.0 if pub_n > 1 else 0.0, pub_n, 1.0, 1e-6, group=6)
        for rule, s in (("before", before(base)), ("after", base)):
            ratios = [r for r in RATIOS if pub_n > 1 or r <= s.factor or rule == "before"]
            rates = [false_fail(at_ratio(s, r), draws) for r in ratios]
            beyond = [false_fail(at_ratio(s, r), draws) for r in (3.0, 4.0)] if pub_n == 1 and rule == "after" else []
            if rule == "after":
                worst = max(worst, *rates)
            line = " ".join(f"{x:>7.3f}" for x in rates).ljust(7 * len(RATIOS) + 5)
            print(f"{name:<11} {rule:<7} {line}" + ("   " + ", ".join(f"{x:.3f}" for x in beyond) if beyond else ""))
    print(f"   after, worst over every kind and ratio covered: {worst:.3f} (alpha = {ALPHA}; alpha/2 = {ALPHA / 2})")
    return worst


def heterogeneity(draws: int) -> None:
    print("\n2. False failure at the margin of a cell whose seed std is r times its group's others "
          "(a std over 3 runs at ratio 1; pooled unless Bartlett p < 0.2)")
    print(f"{'group x seeds':<14} " + " ".join(f"{'r=' + format(r, 'g'):>7}" for r in (1.0, 1.5, 2.0, 3.0)))
    for group, n in ((3, 3), (6, 3), (12, 3), (6, 5), (6, 10)):
        s = power.Setting(1.0, n, 1.0, 3, 1.0, 1e-6, group=group)
        print(f"{f'{group} x {n}':<14} " + " ".join(f"{false_fail(replace(s, odd=r), draws):>7.3f}"
                                                    for r in (1.0, 1.5, 2.0, 3.0)))


def pretest(draws: int) -> None:
    import numpy as np
    from scipy import stats as st

    rng = np.random.default_rng(0)
    hits = {"Bartlett": 0, "Levene (median)": 0, "Levene (mean)": 0}
    trials = max(1, draws // 2)
    for _ in range(trials):
        cells = list(rng.normal(size=(6, 3)))
        hits["Bartlett"] += st.bartlett(*cells).pvalue < 0.2
        hits["Levene (median)"] += st.levene(*cells).pvalue < 0.2
        hits["Levene (mean)"] += st.levene(*cells, center="mean").pvalue < 0.2
    print("\n3. The homogeneity pre-test with 3 seeds a cell, 6 cells of equal spread: how often it rejects at a "
          "nominal 0.2 (" + ", ".join(f"{k} {v / trials:.3f}" for k, v in hits.items()) + f"; {trials} groups)")


def tables(draws: int) -> pd.DataFrame:
    params = load_params(Path(__file__).resolve().parents[1] / "params.yaml")
    all_tables = load_all(params)
    rows = []
    for t in all_tables.values():
        if getattr(t.source, "paper", None) is None:
            continue
        s, _ = setting(t, all_tables, pd.DataFrame(), 3, ALPHA)
        rec = power.recommend(s)["seeds"]
        for rule, x in (("before", before(s)), ("after", s), ("after, recommended", replace(s, n=rec))):
            c = power.characteristics(x, draws)
            ratios = [r for r in RATIOS if x.pub_n > 1 or r <= x.factor]
            rows.append({"table": t.id, "margin": t.margin, "kind": t.dispersion_kind, "cells": x.cells,
                         "sigma": x.sigma, "rule": rule, "seeds": x.n, "group": x.group if x.pool else 1,
                         "factor": x.factor if x.pub_n == 1 else None,
                         "false_fail": max(false_fail(at_ratio(x, r), draws) for r in ratios),
                         "reproduced_at_0": c["reproduced_at_zero"], "caught80_holm": c["caught80_holm"],
                         "margin80": c["smallest_margin80"]})
    return pd.DataFrame(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--draws", type=int, default=power.DRAWS)
    args = p.parse_args()
    start = time.perf_counter()
    worst = calibration(args.draws)
    heterogeneity(args.draws)
    pretest(args.draws)
    frame = tables(args.draws)
    print("\n4. Per paper table, its typical cell at its stated prior (bench power); false fail: the worst over the "
          "ratios above; caught 80%: after Holm over the table's tested cells")
    print(f"{'table':<16} {'margin':>6} {'kind':<5} {'cells':>5} {'sigma':>6} {'rule':<19} {'seeds':>5} "
          f"{'group':>5} {'factor':>6} {'false fail':>10} {'REPR at 0':>9} {'caught 80%':>10} {'vs before':>9} "
          f"{'margin80':>8}")
    for r in frame.itertuples():
        ref = frame[(frame.table == r.table) & (frame.rule == "before")].caught80_holm.iloc[0]
        factor = "" if pd.isna(r.factor) else f"{r.factor:g}"
        print(f"{r.table:<16} {r.margin:>6g} {r.kind:<5} {r.cells:>5} {r.sigma:>6.3g} {r.rule:<19} {r.seeds:>5} "
              f"{r.group:>5} {factor:>6} {r.false_fail:>10.3f} {r.reproduced_at_0:>9.3f} {r.caught80_holm:>10.3g} "
              f"{r.caught80_holm / ref:>9.2f} {r.margin80:>8.3g}")
    after = frame[frame.rule != "before"]
    print(f"\nafter: false failure at the margin at most {max(worst, after.false_fail.max()):.3f} "
          f"(<= alpha + 0.01 = {ALPHA + 0.01:.2f}: {max(worst, after.false_fail.max()) <= ALPHA + 0.01}).")
    print(f"simulated: {args.draws} experiments per point, RNG seed 0; {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
