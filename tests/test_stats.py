"""Known-answer tests for the cell statistics: each expected number is computed independently here
(statsmodels on equivalent raw data, SciPy, or by hand), and the gate's error rates are simulated."""

import json
import math

import numpy as np
import pytest
from scipy import stats as st

from bench import stats
from bench.tables.parts import published_std
from bench.judge import power

FLOOR = 0.001  # a spread floor below every spread in these tests


def _sample(mean: float, std: float) -> list[float]:
    """Three numbers with exactly this mean and sample std (statsmodels needs raw data)."""
    return [mean - std, mean, mean + std]


def test_worked_example_against_statsmodels():
    from statsmodels.stats.weightstats import ttest_ind, ttost_ind

    # paper 81.0 +- 0.3 (std, n=3); ours [80.6, 80.9, 80.7]; margin 0.5
    x, paper = [80.6, 80.9, 80.7], _sample(81.0, 0.3)
    r = stats.test_cell(x, 81.0, 0.3, 3, margin=0.5, floor=FLOOR)
    t, p, df = ttest_ind(x, paper, usevar="unequal")
    assert r.p_welch == pytest.approx(p, rel=1e-9) and r.df == pytest.approx(df, rel=1e-9)
    assert r.p_tost == pytest.approx(ttost_ind(x, paper, -0.5, 0.5, usevar="unequal")[0], rel=1e-9)
    m, se = float(np.mean(x)), r.se
    assert r.p_beyond == pytest.approx(min(1, 2 * min(st.t.sf((m - 81 - 0.5) / se, df), st.t.cdf((m - 81 + 0.5) / se, df))))
    assert (r.delta, r.p_welch, r.p_tost) == pytest.approx((-0.2667, 0.26, 0.16), abs=0.01)  # the reference notes
    assert stats.verdict(r, r.p_beyond) == stats.INCONCLUSIVE


def test_discrepant_means_the_whole_interval_is_beyond_the_margin():
    # significant and the point estimate past the margin, but the 95% CI reaches inside: INCONCLUSIVE
    r = stats.test_cell([83.6, 83.9, 84.1], 85.0, 0.1, 5, margin=1.0, floor=FLOOR)
    assert r.p_welch < 0.05 and abs(r.delta) > 1.0 and r.ci95[1] > -1.0
    assert stats.verdict(r, r.p_beyond) == stats.INCONCLUSIVE
    far = stats.test_cell([80.0, 80.1, 79.9], 85.0, 0.1, 5, margin=1.0, floor=FLOOR)
    assert far.ci95[1] < -1.0 and far.p_beyond < 0.05 and stats.verdict(far, far.p_beyond) == stats.DISCREPANT
    # p_beyond < alpha is exactly "the 95% CI lies outside +-margin"
    for values in ([83.6, 83.9, 84.1], [83.0, 83.3, 83.1], [83.8, 84.2, 83.5]):
        c = stats.test_cell(values, 85.0, 0.1, 5, margin=1.0, floor=FLOOR)
        assert (c.p_beyond < 0.05) == (c.ci95[1] < -1.0 or c.ci95[0] > 1.0)


def test_no_dispersion_is_a_prediction_interval_with_our_std():
    x = [91.0, 92.0, 93.0]  # mean 92, s 1
    r = stats.test_cell(x, 95.0, 0.0, 1, margin=1.0, floor=FLOOR)
    assert r.prediction_interval and r.df == 2
    assert r.p_welch == pytest.approx(st.ttest_ind_from_stats(92, 1, 3, 95, 0.0, 1, equal_var=True).pvalue)


def test_zero_spread_is_never_certain():
    # [80, 80, 80.0001] against one draw of 81 used to give p = 4e-9; the floor is 100 / 450 / sqrt(12)
    floor = stats.quantisation(450)
    assert floor == pytest.approx(100 / 450 / math.sqrt(12))
    r = stats.test_cell([80.0, 80.0, 80.0001], 81.0, 0.0, 1, margin=0.5, floor=floor)
    se = floor * math.sqrt(1 + 1 / 3)
    assert r.spread == floor and r.p_welch == pytest.approx(2 * st.t.sf((1.0 - 0.0001 / 3) / se, 2))
    assert r.p_welch > 1e-3
    same = stats.test_cell([90.0, 90.0], 90.0, 0.0, 1, margin=0.5, floor=floor)
    assert 0 < same.p_tost < 1 and same.p_welch == pytest.approx(1.0)
    assert stats.quantisation(None, 0.1) == pytest.approx(0.1 / math.sqrt(12))


def test_published_dispersion_floor_comes_from_its_own_digits_before_conversion():
    s, n = published_std(0.0, "ci95", 5, "0.00")
    assert n == 5 and s == pytest.approx(0.01 / math.sqrt(12) * math.sqrt(5) / st.t.ppf(0.975, 4))
    assert published_std(0.0, "std", 3, "0.0")[0] == pytest.approx(0.1 / math.sqrt(12))
    assert published_std(0.2, "ci95", 5, "0.2")[0] == pytest.approx(0.2 * math.sqrt(5) / st.t.ppf(0.975, 4))
    assert published_std(0.1, "std", 3, "<0.1") == (0.1, 3)  # a printed bound: its upper bound
    assert published_std(None, "std", 3) == (0.0, 1) and published_std(0.4, "none", 3) == (0.0, 1)
    with pytest.raises(ValueError, match="n >= 2"):
        published_std(0.2, "ci95", 1)


def test_mde_is_an_exact_power_calculation():
    from statsmodels.stats.power import TTestIndPower

    # equal spreads, 3 vs 3: Welch's df is 4, Student's; statsmodels gives the effect in sigma
    d = TTestIndPower().solve_power(nobs1=3, ratio=1.0, alpha=0.05, power=0.8)
    assert stats.mde(math.sqrt(2 / 3), 4.0) == pytest.approx(d, rel=1e-6)
    # one published draw, 3 seeds: se = s sqrt(4/3), df 2; by hand with the noncentral t
    from scipy.optimize import brentq

    tc = st.t.ppf(0.975, 2)
    x = brentq(lambda nc: st.nct.sf(tc, 2, nc) + st.nct.cdf(-tc, 2, nc) - 0.8, 0.1, 10)
    assert stats.mde(math.sqrt(4 / 3), 2.0) == pytest.approx(x * math.sqrt(4 / 3), rel=1e-6)
    assert 6.4 < x * math.sqrt(4 / 3) < 6.6  # "about 6.5 seed standard deviations" (README)
    r = stats.test_cell([90.0, 90.1, 89.9], 90.0, 0.0, 1, margin=1.0, floor=FLOOR)
    assert r.tost_margin80 == pytest.approx(r.se * (st.t.ppf(0.95, 2) + st.t.ppf(0.9, 2)))


def test_holm_is_statsmodels_and_refuses_nan():
    assert stats.holm([0.03, 0.01, 0.04, 0.02]) == pytest.approx([0.06, 0.04, 0.06, 0.06])  # by hand
    with pytest.raises(ValueError, match="finite"):
        stats.holm([float("nan"), 0.0003, 0.8, 1.0])
    with pytest.raises(ValueError, match="finite"):
        stats.test_cell([80.0, float("nan")], 81.0, 0.1, 3, margin=1.0, floor=FLOOR)


@pytest.mark.parametrize("kind,pub_std,pub_n", [("std", 1.0, 3), ("ci95", 1.0, 5), ("none", 0.0, 1)])
@pytest.mark.parametrize("margin", [1.0, 3.0])
def test_calibration_of_the_gate(kind, pub_std, pub_n, margin):
    """Simulated (RNG seed 0): at a true difference equal to the margin, the gate fails the cell at most
    alpha + 0.01 of the time, and the cell is REPRODUCED at most alpha + 0.01 of the time."""
    at = power.simulate(-margin, 1.0, 3, pub_std, pub_n, margin, 0.003, 0.05, draws=4000)
    assert at["fail"] <= 0.06 and at["reproduced"] <= 0.06


def test_calibration_of_claims():
    """A claim over 8 pairs with no true effect is CONTRADICTED at most alpha + 0.01 of the time."""
    assert power.claim_contradicted_rate(8, 3, 1.0, 0.003) <= 0.06


def _verdict_cli(capsys, *args):
    from bench.cli import main

    code = main(["verdict", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_bench_verdict_contract(capsys):
    code, out, _ = _verdict_cli(capsys, "--published", "81.0", "--dispersion", "0.3", "--kind", "std", "--n", "3",
                                "--values", "80.6", "80.9", "80.7", "--margin", "0.5", "--higher-is-better")
    assert code == 0
    r = json.loads(out)
    assert {"verdict", "delta", "ci95", "p_welch", "p_tost", "mde", "worse"} <= set(r)
    expected = stats.test_cell([80.6, 80.9, 80.7], 81.0, 0.3, 3, 0.5, floor=stats.quantisation(None, 0.1))
    assert r["delta"] == pytest.approx(expected.delta) and r["mde"] == pytest.approx(expected.mde)
    assert r["verdict"] == "INCONCLUSIVE" and r["worse"] is True


def test_bench_verdict_ci95_path_converts_before_testing(capsys):
    # SAM-style cell: 6.80 +- 0.06 (95% CI, 5 runs) ; ours 6.78, 6.83, 6.80 ; margin 0.3
    code, out, _ = _verdict_cli(capsys, "--published", "6.80", "--dispersion", "0.06", "--kind", "ci95", "--n", "5",
                                "--values", "6.78", "6.83", "6.80", "--margin", "0.3", "--lower-is-better")
    r = json.loads(out)
    ps = 0.06 * math.sqrt(5) / st.t.ppf(0.975, 4)
    x = [6.78, 6.83, 6.80]
    m, s = sum(x) / 3, st.tstd(x)
    v1, v2 = s * s / 3, ps * ps / 5
    se, df = math.sqrt(v1 + v2), (v1 + v2) ** 2 / (v1 * v1 / 2 + v2 * v2 / 4)
    d = m - 6.80
    assert r["p_tost"] == pytest.approx(max(st.t.sf((d + 0.3) / se, df), st.t.cdf((d - 0.3) / se, df)))
    assert r["verdict"] == "REPRODUCED"


def test_bench_verdict_no_dispersion(capsys):
    # Table 10 style: 8.15 printed alone ; ours 9.9, 10.0, 10.1 ; margin 0.3
    _, out, _ = _verdict_cli(capsys, "--published", "8.15", "--kind", "none", "--values", "9.9", "10.0", "10.1",
                             "--margin", "0.3", "--lower-is-better")
    r = json.loads(out)
    se = 0.1 * math.sqrt(1 + 1 / 3)
    assert r["ci95"] == pytest.approx([1.85 - st.t.ppf(0.975, 2) * se, 1.85 + st.t.ppf(0.975, 2) * se])
    assert r["verdict"] == "DISCREPANT" and r["worse"] is True


@pytest.mark.parametrize("args,words", [
    (["--published", "1", "--dispersion", "0.1", "--kind", "none", "--values", "1", "2", "--margin", "1"],
     "--kind none"),
    (["--published", "x", "--kind", "none", "--values", "1", "2", "--margin", "1"], "--published"),
    (["--published", "81", "--dispersion", "0.3", "--kind", "std", "--values", "80", "81", "--margin", "1"],
     "needs --n"),
    (["--published", "inf", "--kind", "none", "--values", "80", "81", "--margin", "1"], "finite"),
    (["--published", "81", "--kind", "none", "--values", "80", "nan", "--margin", "1"], "finite"),
    (["--published", "81", "--kind", "none", "--values", "80", "81", "--margin", "inf"], "finite"),
    (["--published", "81", "--kind", "none", "--values", "80", "81", "--margin", "0"], "must be > 0"),
    (["--published", "81.0", "--kind", "none", "--values", "0.80", "0.81", "--margin", "1"], "different scales"),
])
def test_bench_verdict_bad_input_is_one_clear_line(capsys, args, words):
    code, out, err = _verdict_cli(capsys, *args, "--higher-is-better")
    assert code == 2 and out == "" and words in err and err.count("\n") == 1 and "Traceback" not in err
