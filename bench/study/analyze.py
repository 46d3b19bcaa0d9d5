"""A study's verdicts from its final runs (numbers in, frames out).

Per dataset, each comparison (variant against its control arm) is the paired
difference of test top-1 over the seeds both arms ran (d = variant - control),
with its 95% t interval and the paired t test, two-sided, Holm-adjusted across
every (comparison, dataset) of the study; its direction comes from the sign of
the mean difference. The differences' std is floored at sqrt(2) x the
accuracy's quantisation (100 / that dataset's test size / sqrt(12)), so no
spread makes a verdict certain. IMPROVES or HURTS: the adjusted test rejects at
alpha, in that direction; NO_EVIDENCE otherwise. (The one-sided p-values are
reported beside it.)

Across datasets (Agarwal et al. 2021, "Deep RL at the Edge of the Statistical
Precipice", the rliable definitions), each run's score is normalised with fixed
constants, (top-1 - chance) / (100 - chance), chance = 100 / classes: per arm
the interquartile mean (IQM: the mean of the middle 50% of all its runs'
normalised scores), and per comparison the probability of improvement
P(X > Y) (per dataset, the chance that a run of the variant beats a run of the
control, ties half; averaged over datasets). Their 95% CIs come from a
stratified bootstrap (scipy.stats.bootstrap, percentile, each dataset's runs
resampled within their dataset, 2000 resamples, seeded), descriptive: with a
few runs a dataset the percentile interval of P(X > Y) can collapse to a point.
The aggregate verdict therefore comes from a test: a stratified permutation
test of P(X > Y) (the arms' labels permuted within each dataset, 10,000
permutations, seeded; two-sided), Holm-adjusted across the study's
comparisons, its direction from P(X > Y) against 0.5.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as st

from bench import stats

IMPROVES, NO_EVIDENCE, HURTS = "IMPROVES", "NO_EVIDENCE", "HURTS"
RESAMPLES = 2000
PERMUTATIONS = 10_000


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


def _quantum_of(runs: pd.DataFrame) -> float:
    """bench.stats.quantisation at these runs' test size (0.01 / sqrt(12) when none is recorded)."""
    sizes = pd.to_numeric(runs.get("test_examples", pd.Series(dtype=float)), errors="coerce").dropna()
    return stats.quantisation(float(sizes.min()) if len(sizes) else None, 0.01)


def _holm_verdicts(frame: pd.DataFrame, tested, sign_col: str, centre: float, alpha: float) -> None:
    """Two-sided p = 2 min(one-sided p's), Holm across the tested rows; direction from `sign_col`."""
    frame["p_two_sided"] = np.nan
    frame["p_holm"] = np.nan
    frame["verdict"] = NO_EVIDENCE
    if not tested.any():
        return
    two = np.minimum(1.0, 2.0 * np.minimum(frame.loc[tested, "p_improves"], frame.loc[tested, "p_hurts"]))
    frame.loc[tested, "p_two_sided"] = two
    frame.loc[tested, "p_holm"] = stats.holm(list(two))
    for i in frame.index[tested]:
        if frame.loc[i, "p_holm"] < alpha and frame.loc[i, sign_col] != centre:
            frame.loc[i, "verdict"] = IMPROVES if frame.loc[i, sign_col] > centre else HURTS


def effects(runs: pd.DataFrame, comparisons: list[tuple[str, str]], alpha: float = 0.05) -> pd.DataFrame:
    """One row per (comparison, dataset): paired difference, CI, Holm-adjusted two-sided test, verdict."""
    ok = runs[runs.status == "ok"]
    rows = []
    for variant, control in comparisons:
        for dataset in dict.fromkeys(ok.dataset):
            here = ok[ok.dataset == dataset]
            a = here[here.arm == variant].set_index("seed").top1
            b = here[here.arm == control].set_index("seed").top1
            seeds = sorted(set(a.index) & set(b.index))
            row = {"variant": variant, "control": control, "dataset": dataset, "n_seeds": len(seeds),
                   "seeds": ";".join(map(str, seeds)), "variant_mean": a.loc[seeds].mean(),
                   "control_mean": b.loc[seeds].mean()}
            if len(seeds) < 2:
                rows.append({**row, "reason": f"fewer than two seeds ran in both arms ({len(seeds)})"})
                continue
            d = a.loc[seeds].to_numpy() - b.loc[seeds].to_numpy()
            sd = max(float(d.std(ddof=1)), _quantum_of(here) * math.sqrt(2.0))
            se, df = sd / math.sqrt(len(d)), len(d) - 1
            half = st.t.ppf(0.975, df) * se
            row.update(effect=float(d.mean()), ci95_low=float(d.mean() - half), ci95_high=float(d.mean() + half),
                       p_improves=float(st.t.sf(d.mean() / se, df)), p_hurts=float(st.t.cdf(d.mean() / se, df)),
                       reason="")
            rows.append(row)
    out = pd.DataFrame(rows)
    for col in ("effect", "ci95_low", "ci95_high", "p_improves", "p_hurts", "reason"):
        if col not in out:
            out[col] = np.nan
    _holm_verdicts(out, out["effect"].notna(), "effect", 0.0, alpha)
    return out


def permutation_p(xs: list, ys: list, draws: int = PERMUTATIONS, seed: int = 0) -> tuple[float, float]:
    """One-sided p-values (improves, hurts) of P(X > Y) under exchangeable arms within each dataset: the
    runs' arm labels permuted within their dataset, `draws` times; (1 + count) / (1 + draws)."""
    rng = np.random.default_rng(seed)
    observed = improvement_probability(xs, ys)
    total = np.zeros(draws)
    for x, y in zip(xs, ys):
        pooled = np.concatenate([np.asarray(x, float), np.asarray(y, float)])
        perm = rng.permuted(np.tile(pooled, (draws, 1)), axis=1)
        a, b = perm[:, :len(x), None], perm[:, None, len(x):]
        total += ((a > b) + 0.5 * (a == b)).mean(axis=(1, 2))
    stat = total / len(xs)
    eps = 1e-12
    return (float((1 + np.sum(stat >= observed - eps)) / (1 + draws)),
            float((1 + np.sum(stat <= observed + eps)) / (1 + draws)))


POI_COLUMNS = ["variant", "control", "poi", "ci95_low", "ci95_high", "p_improves", "p_hurts", "reason"]


def aggregate(runs: pd.DataFrame, arms: list[str], comparisons: list[tuple[str, str]], alpha: float = 0.05,
              seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per arm: IQM of normalised scores with its CI; per comparison: P(X > Y) with its CI, the stratified
    permutation test, Holm across comparisons, and the verdict)."""
    ok = runs[runs.status == "ok"].copy()
    datasets = list(dict.fromkeys(ok.dataset))
    chance = pd.to_numeric(ok.get("chance", pd.Series(0.0, index=ok.index)), errors="coerce").fillna(0.0)
    ok["score"] = (ok.top1 - chance) / (100.0 - chance)

    def strata(arm: str) -> list[np.ndarray]:
        return [ok[(ok.arm == arm) & (ok.dataset == d)].score.to_numpy() for d in datasets]

    iqms = []
    for arm in arms:
        parts = strata(arm)
        row = {"arm": arm, "iqm": np.nan, "ci95_low": np.nan, "ci95_high": np.nan,
               "runs": int(sum(len(p) for p in parts)), "reason": ""}
        if all(len(p) >= 2 for p in parts):
            row["iqm"] = iqm(np.concatenate(parts))
            row["ci95_low"], row["ci95_high"] = stratified_ci(parts, lambda *s: iqm(np.concatenate(s)), seed)
        else:
            row["reason"] = "fewer than two runs on some dataset"
        iqms.append(row)
    pois = []
    for variant, control in comparisons:
        xs, ys = strata(variant), strata(control)
        row = {"variant": variant, "control": control, "poi": np.nan, "ci95_low": np.nan, "ci95_high": np.nan,
               "p_improves": np.nan, "p_hurts": np.nan, "reason": ""}
        if all(len(p) >= 2 for p in xs + ys):
            k = len(datasets)
            row["poi"] = improvement_probability(xs, ys)
            row["ci95_low"], row["ci95_high"] = stratified_ci(
                xs + ys, lambda *s: improvement_probability(s[:k], s[k:]), seed)
            row["p_improves"], row["p_hurts"] = permutation_p(xs, ys, seed=seed)
        else:
            row["reason"] = "fewer than two runs of an arm on some dataset"
        pois.append(row)
    poi = pd.DataFrame(pois, columns=POI_COLUMNS)
    _holm_verdicts(poi, poi["poi"].notna(), "poi", 0.5, alpha)
    return pd.DataFrame(iqms), poi
