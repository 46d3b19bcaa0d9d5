"""Known-answer tests for the cell statistics (values computed by hand in each test)."""

import math

import pytest
from scipy import stats as st

from bench import stats


def test_worked_example_matches_hand_computation():
    # paper 81.0 +- 0.3 (std, n=3); ours [80.6, 80.9, 80.7]; margin 0.5
    x = [80.6, 80.9, 80.7]
    m = sum(x) / 3
    s = math.sqrt(sum((v - m) ** 2 for v in x) / 2)
    v1, v2 = s * s / 3, 0.3 * 0.3 / 3
    se = math.sqrt(v1 + v2)
    df = (v1 + v2) ** 2 / (v1 * v1 / 2 + v2 * v2 / 2)
    t = st.t.ppf(0.975, df)
    r = stats.test_cell(x, 81.0, 0.3, 3, margin=0.5)
    assert r.delta == pytest.approx(m - 81.0)
    assert r.df == pytest.approx(df)
    assert r.ci95 == pytest.approx((m - 81 - t * se, m - 81 + t * se))
    assert r.p_welch == pytest.approx(2 * st.t.sf(abs(m - 81) / se, df))
    assert r.p_tost == pytest.approx(max(st.t.sf((m - 81 + 0.5) / se, df), st.t.cdf((m - 81 - 0.5) / se, df)))
    # the reference notes give these rounded figures for the same example
    assert r.delta == pytest.approx(-0.2667, abs=1e-3)
    assert r.p_welch == pytest.approx(0.26, abs=0.01)
    assert r.p_tost == pytest.approx(0.16, abs=0.01)
    assert stats.verdict(r, r.p_welch, 0.5) == stats.INCONCLUSIVE


def test_welch_p_agrees_with_scipy():
    x = [70.1, 71.0, 69.5]
    r = stats.test_cell(x, 72.0, 0.4, 5, margin=1.0)
    m, s = sum(x) / 3, st.tstd(x)
    ref = st.ttest_ind_from_stats(m, s, 3, 72.0, 0.4, 5, equal_var=False)
    assert r.p_welch == pytest.approx(ref.pvalue)


def test_reproduced_when_close_and_tight():
    r = stats.test_cell([90.0, 90.1, 89.9], 90.05, 0.1, 5, margin=1.0)
    assert r.p_tost < 0.05
    assert stats.verdict(r, r.p_welch, 1.0) == stats.REPRODUCED


def test_discrepant_needs_both_significance_and_margin():
    r = stats.test_cell([80.0, 80.1, 79.9], 85.0, 0.1, 5, margin=1.0)
    assert r.p_welch < 1e-4
    assert stats.verdict(r, r.p_welch, 1.0) == stats.DISCREPANT
    # significant but smaller than the margin: not discrepant
    r2 = stats.test_cell([84.5, 84.51, 84.49], 85.0, 0.01, 5, margin=1.0)
    assert r2.p_welch < 0.05 and abs(r2.delta) < 1.0
    assert stats.verdict(r2, r2.p_welch, 1.0) == stats.REPRODUCED


def test_no_dispersion_uses_prediction_interval():
    x = [91.0, 92.0, 93.0]  # mean 92, s 1
    r = stats.test_cell(x, 95.0, 0.0, 1, margin=1.0)
    se = 1.0 * math.sqrt(1 + 1 / 3)
    assert r.prediction_interval
    assert r.df == 2
    assert r.p_welch == pytest.approx(2 * st.t.sf(3.0 / se, 2))
    # equals SciPy's pooled test against a single draw with zero spread
    assert r.p_welch == pytest.approx(st.ttest_ind_from_stats(92, 1, 3, 95, 0.0, 1, equal_var=True).pvalue)


def test_ci95_dispersion_converts_to_std():
    s, n = stats.published_std(0.2, "ci95", 5)
    assert n == 5
    assert s == pytest.approx(0.2 * math.sqrt(5) / st.t.ppf(0.975, 4))
    assert stats.published_std(None, "std", 3) == (0.0, 1)
    assert stats.published_std(0.4, "none", 3) == (0.0, 1)


def test_rounding_floor():
    s, _ = stats.published_std(0.0, "std", 3, decimals=1)
    assert s == pytest.approx(0.1 / math.sqrt(12))


def test_holm_hand_worked():
    # p sorted: 0.01 (x4 = 0.04), 0.02 (x3 = 0.06), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04 -> monotone 0.06)
    assert stats.holm([0.03, 0.01, 0.04, 0.02]) == pytest.approx([0.06, 0.04, 0.06, 0.06])
    assert stats.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_identical_runs_exact_reference():
    r = stats.test_cell([90.0, 90.0], 90.0, 0.0, 1, margin=0.5)
    assert r.delta == 0 and r.p_tost == 0.0


def _verdict_cli(capsys, *args):
    from bench.cli import main

    code = main(["verdict", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_bench_verdict_contract_std_path(capsys):
    import json

    code, out, _ = _verdict_cli(capsys, "--published", "81.0", "--dispersion", "0.3", "--kind", "std", "--n", "3",
                                "--values", "80.6", "80.9", "80.7", "--margin", "0.5", "--higher-is-better")
    assert code == 0
    result = json.loads(out)
    assert list(result) == ["verdict", "delta", "ci95", "p_welch", "p_tost", "mde"]
    # the worked example above, by hand
    x = [80.6, 80.9, 80.7]
    m, s = sum(x) / 3, st.tstd(x)
    v1, v2 = s * s / 3, 0.09 / 3
    se, df = math.sqrt(v1 + v2), (v1 + v2) ** 2 / (v1 * v1 / 2 + v2 * v2 / 2)
    assert result["delta"] == pytest.approx(m - 81.0)
    assert result["ci95"] == pytest.approx([m - 81 - st.t.ppf(0.975, df) * se, m - 81 + st.t.ppf(0.975, df) * se])
    assert result["p_welch"] == pytest.approx(2 * st.t.sf(abs(m - 81) / se, df))
    assert result["mde"] == pytest.approx((st.t.ppf(0.975, df) + st.t.ppf(0.8, df)) * se)
    assert result["verdict"] == "INCONCLUSIVE"


def test_bench_verdict_ci95_path_converts_before_testing(capsys):
    import json

    # SAM-style cell: 6.80 +- 0.06 (95% CI, 5 runs) ; ours 6.78, 6.83, 6.80 ; margin 0.3
    code, out, _ = _verdict_cli(capsys, "--published", "6.80", "--dispersion", "0.06", "--kind", "ci95", "--n", "5",
                                "--values", "6.78", "6.83", "6.80", "--margin", "0.3", "--lower-is-better")
    r = json.loads(out)
    ps = 0.06 * math.sqrt(5) / st.t.ppf(0.975, 4)  # the CI half-width back to a std, t-based
    x = [6.78, 6.83, 6.80]
    m, s = sum(x) / 3, st.tstd(x)
    v1, v2 = s * s / 3, ps * ps / 5
    se, df = math.sqrt(v1 + v2), (v1 + v2) ** 2 / (v1 * v1 / 2 + v2 * v2 / 4)
    d = m - 6.80
    p_tost = max(st.t.sf((d + 0.3) / se, df), st.t.cdf((d - 0.3) / se, df))
    assert r["p_tost"] == pytest.approx(p_tost) and p_tost < 0.05
    assert r["verdict"] == "REPRODUCED"


def test_bench_verdict_no_dispersion_is_a_prediction_interval(capsys):
    import json

    # Table 10 style: 8.15 printed alone ; ours 9.9, 10.0, 10.1 ; margin 0.3
    code, out, _ = _verdict_cli(capsys, "--published", "8.15", "--kind", "none", "--values", "9.9", "10.0", "10.1",
                                "--margin", "0.3", "--lower-is-better")
    r = json.loads(out)
    se = 0.1 * math.sqrt(1 + 1 / 3)  # s = 0.1 ; one published draw
    t = (10.0 - 8.15) / se
    assert r["p_welch"] == pytest.approx(2 * st.t.sf(t, 2))
    assert r["ci95"] == pytest.approx([1.85 - st.t.ppf(0.975, 2) * se, 1.85 + st.t.ppf(0.975, 2) * se])
    assert r["verdict"] == "DISCREPANT"  # one cell: no other p-values to correct for


def test_bench_verdict_rounding_floor_from_printed_digits(capsys):
    import json

    # "99.74 +- 0.00" (ViT Table 2): the std is floored at 0.01 / sqrt(12), not zero
    _, out, _ = _verdict_cli(capsys, "--published", "99.74", "--dispersion", "0.00", "--kind", "std", "--n", "3",
                             "--values", "99.70", "99.75", "99.72", "--margin", "0.5", "--higher-is-better")
    r = json.loads(out)
    x = [99.70, 99.75, 99.72]
    v1, v2 = st.tvar(x) / 3, (0.01 / math.sqrt(12)) ** 2 / 3
    df = (v1 + v2) ** 2 / (v1 * v1 / 2 + v2 * v2 / 2)
    assert r["p_welch"] == pytest.approx(2 * st.t.sf(abs(sum(x) / 3 - 99.74) / math.sqrt(v1 + v2), df))


def test_bench_verdict_bad_input(capsys):
    code, out, err = _verdict_cli(capsys, "--published", "1", "--dispersion", "0.1", "--kind", "none",
                                  "--values", "1", "2", "--margin", "1", "--lower-is-better")
    assert code == 2 and out == "" and "--kind none" in err
    code, out, err = _verdict_cli(capsys, "--published", "x", "--kind", "none", "--values", "1", "2",
                                  "--margin", "1", "--lower-is-better")
    assert code == 2 and "--published" in err
