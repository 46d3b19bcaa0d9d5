"""A study's verdicts from its final runs (numbers in, frames out).

Per dataset, each comparison (variant against its control arm) is the paired
difference of test top-1 over the seeds both arms ran (d = variant - control),
with its 95% t interval and two one-sided paired t tests (improves: d > 0;
hurts: d < 0), each family Holm-adjusted across every (comparison, dataset) of
the study. The differences' std is floored at sqrt(2) x the accuracy's
quantisation (100 / test size / sqrt(12)), so no spread makes a verdict
certain. IMPROVES: the adjusted improves-test rejects at alpha; HURTS: the
adjusted hurts-test does; NO_EVIDENCE otherwise.

Across datasets (Agarwal et al. 2021, "Deep RL at the Edge of the Statistical
Precipice", the rliable definitions): each run's score normalised by the
study's baseline arm's mean on its dataset (the baseline is 1.0 everywhere);
per arm the interquartile mean (IQM: the mean of the middle 50% of all its
runs' normalised scores), and per comparison the probability of improvement
P(X > Y) (per dataset, the chance that a run of the variant beats a run of the
control, ties half; averaged over datasets). 95% CIs by stratified bootstrap
(scipy.stats.bootstrap, percentile, each dataset's runs resampled within
their dataset, 2000 resamples, seeded). The aggregate verdict: IMPROVES when
the CI of P(X > Y) lies above 0.5, HURTS when below, NO_EVIDENCE otherwise.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as st
from statsmodels.stats.multitest import multipletests

IMPROVES, NO_EVIDENCE, HURTS = "IMPROVES", "NO_EVIDENCE", "HURTS"
RESAMPLES = 2000


def _quantum(test_examples: float | None) -> float:
    """The smallest spread a top-1 (%) can show, 100 / test size / sqrt(12) (bench.stats.quantisation);
    0.01 / sqrt(12) when the size is unknown."""
    return (100.0 / test_examples if test_examples else 0.01) / math.sqrt(12.0)


def iqm(values) -> float:
    """Interquartile mean: the mean of the middle 50% (scipy's trimmed mean, 25% cut at each end)."""
    return float(st.trim_mean(np.asarray(values, float), 0.25))


def improvement_probability(xs: list, ys: list) -> float:
    """P(X > Y) averaged over datasets: per dataset the Mann-Whitney statistic / (n m), ties counted half."""
    per = []
    for x, y in zip(xs, ys):
        x, y = np.asarray(x, float)[:, None], np.asarray(y, float)[None, :]
        per.append(float(((x > y) + 0.5 * (x == y)).mean()))
    return float(np.mean(per))


def stratified_ci(samples: list, statistic, seed: int = 0) -> tuple[float, float]:
    """95% percentile CI of `statistic(*samples)`, each sample resampled within itself (a stratum)."""
    res = st.bootstrap(tuple(np.asarray(s, float) for s in samples), statistic, n_resamples=RESAMPLES,
                       vectorized=False, paired=False, method="percentile", confidence_level=0.95,
                       random_state=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def effects(runs: pd.DataFrame, comparisons: list[tuple[str, str]], alpha: float = 0.05) -> pd.DataFrame:
    """One row per (comparison, dataset): paired difference, CI, Holm-adjusted one-sided tests, verdict."""
    ok = runs[runs.status == "ok"]
    rows = []
    for variant, control in comparisons:
        for dataset in dict.fromkeys(ok.dataset):
            a = ok[(ok.arm == variant) & (ok.dataset == dataset)].set_index("seed").top1
            b = ok[(ok.arm == control) & (ok.dataset == dataset)].set_index("seed").top1
            seeds = sorted(set(a.index) & set(b.index))
            row = {"variant": variant, "control": control, "dataset": dataset, "n_seeds": len(seeds),
                   "seeds": ";".join(map(str, seeds)), "variant_mean": a.mean(), "control_mean": b.mean()}
            if len(seeds) < 2:
                rows.append({**row, "verdict": NO_EVIDENCE, "reason": "fewer than two seeds ran in both arms"})
                continue
            d = a.loc[seeds].to_numpy() - b.loc[seeds].to_numpy()
            size = float(ok.test_examples.max()) if "test_examples" in ok and ok.test_examples.notna().any() else None
            sd = max(float(d.std(ddof=1)), _quantum(size) * math.sqrt(2.0))
            se, df = sd / math.sqrt(len(d)), len(d) - 1
            half = st.t.ppf(0.975, df) * se
            row.update(effect=float(d.mean()), ci95_low=float(d.mean() - half), ci95_high=float(d.mean() + half),
                       p_improves=float(st.t.sf(d.mean() / se, df)), p_hurts=float(st.t.cdf(d.mean() / se, df)),
                       reason="")
            rows.append(row)
    out = pd.DataFrame(rows)
    tested = out["effect"].notna() if "effect" in out else pd.Series(False, index=out.index)
    for col in ("p_improves", "p_hurts"):
        out[f"{col}_holm"] = np.nan
        if tested.any():
            out.loc[tested, f"{col}_holm"] = multipletests(list(out.loc[tested, col]), method="holm")[1]
    for i in out.index[tested]:
        out.loc[i, "verdict"] = (IMPROVES if out.loc[i, "p_improves_holm"] < alpha else
                                 HURTS if out.loc[i, "p_hurts_holm"] < alpha else NO_EVIDENCE)
    return out


def aggregate(runs: pd.DataFrame, arms: list[str], baseline: str, comparisons: list[tuple[str, str]],
              seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per arm: IQM of normalised scores with its CI; per comparison: P(X > Y) with its CI and verdict)."""
    ok = runs[runs.status == "ok"].copy()
    datasets = list(dict.fromkeys(ok.dataset))
    norm = ok[ok.arm == baseline].groupby("dataset").top1.mean()
    ok["score"] = ok.top1 / ok.dataset.map(norm)

    def strata(arm: str) -> list[np.ndarray]:
        return [ok[(ok.arm == arm) & (ok.dataset == d)].score.to_numpy() for d in datasets]

    iqms = []
    for arm in arms:
        parts = strata(arm)
        if not all(len(p) for p in parts):
            iqms.append({"arm": arm, "iqm": np.nan, "ci95_low": np.nan, "ci95_high": np.nan, "runs": 0})
            continue
        low, high = stratified_ci(parts, lambda *s: iqm(np.concatenate(s)), seed)
        iqms.append({"arm": arm, "iqm": iqm(np.concatenate(parts)), "ci95_low": low, "ci95_high": high,
                     "runs": int(sum(len(p) for p in parts))})
    pois = []
    for variant, control in comparisons:
        xs, ys = strata(variant), strata(control)
        if not all(len(p) for p in xs + ys):
            pois.append({"variant": variant, "control": control, "poi": np.nan, "verdict": NO_EVIDENCE})
            continue
        k = len(datasets)
        low, high = stratified_ci(xs + ys, lambda *s: improvement_probability(s[:k], s[k:]), seed)
        pois.append({"variant": variant, "control": control, "poi": improvement_probability(xs, ys),
                     "ci95_low": low, "ci95_high": high,
                     "verdict": IMPROVES if low > 0.5 else HURTS if high < 0.5 else NO_EVIDENCE})
    return pd.DataFrame(iqms), pd.DataFrame(pois)
