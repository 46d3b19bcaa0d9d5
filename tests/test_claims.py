"""Claims on synthetic paired seeds: every verdict path, with the expected numbers computed here."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from bench.judge.gate import check
from bench.judge.collect import RUN_COLUMNS
from bench.stats import CONSISTENT, CONTRADICTED, DIRECTION, NOT_REPRODUCED, UNAVAILABLE, paired_test
from bench.judge.verdicts import judge_claims
from bench.tables.table import parse_table
from conftest import PREPROCESS, sources_block

CONTROL = [10.0, 11.0, 12.0]
FLOOR = 0.001  # far below every spread here
PRECISE = ((1e-9, 1000), (1e-9, 1000))  # published cells known (almost) exactly, to isolate the other terms


def test_direction_and_consistent_effect_by_hand():
    treat = [9.0, 9.8, 11.1]  # d = -1.0, -1.2, -0.9 ; the claim: lower
    d = np.array(treat) - np.array(CONTROL)
    m, s = d.mean(), d.std(ddof=1)
    r = paired_test(treat, CONTROL, "lower", published_effect=-1.0, published=PRECISE, floor=FLOOR)
    assert r["p_direction"] == pytest.approx(st.ttest_1samp(-d, 0.0, alternative="greater").pvalue)
    half = st.t.ppf(0.975, 2) * s / math.sqrt(3)
    assert (r["ci95_low"], r["ci95_high"]) == pytest.approx((m - half, m + half))
    # effect size: TOST of (ours - published) within the claim's margin (1.0), by hand
    gap, se = m + 1.0, s / math.sqrt(3)
    assert r["p_gap_tost"] == pytest.approx(max(st.t.sf((gap + 1) / se, 2), st.t.cdf((gap - 1) / se, 2)))
    assert r["effect"] == pytest.approx(m) and r["verdict"] == CONSISTENT
    # the same runs against a much larger published effect: direction only
    assert paired_test(treat, CONTROL, "lower", published_effect=-3.0, published=PRECISE,
                       floor=FLOOR)["verdict"] == DIRECTION


def test_an_imprecise_effect_is_not_called_consistent():
    """"The CI of the gap contains 0" rewarded imprecise runs; the equivalence test does not."""
    treat = [7.0, 10.9, 8.5]  # d = -3.0, -0.1, -3.5: lower, but widely spread
    r = paired_test(treat, CONTROL, "lower", published_effect=-1.0, floor=FLOOR)
    assert r["gap_ci95_low"] < 0 < r["gap_ci95_high"]  # the old rule: consistent
    assert r["p_gap_tost"] >= 0.05 and r["verdict"] != CONSISTENT


def test_published_uncertainty_enters_the_effect_check():
    treat = [9.0, 9.8, 11.1]
    d = np.array(treat) - np.array(CONTROL)
    v1 = d.var(ddof=1) / 3
    parts = [(v1, 2), (0.5 ** 2 / 5, 4), (0.4 ** 2 / 5, 4)]  # published std 0.5 and 0.4 over 5 runs each
    var = sum(v for v, _ in parts)
    df = var ** 2 / sum(v * v / k for v, k in parts)
    r = paired_test(treat, CONTROL, "lower", -1.6, published=((0.5, 5), (0.4, 5)), margin=1.0, floor=FLOOR)
    gap = d.mean() + 1.6
    half = st.t.ppf(0.975, df) * math.sqrt(var)
    assert (r["gap_ci95_low"], r["gap_ci95_high"]) == pytest.approx((gap - half, gap + half))
    # a published cell without dispersion is one draw with our arm's std (as the cell verdicts assume)
    single = paired_test(treat, CONTROL, "lower", -1.6, published=((0.0, 1), (0.0, 1)), floor=FLOOR)
    var1 = v1 + np.var(treat, ddof=1) + np.var(CONTROL, ddof=1)
    assert single["gap_ci95_high"] - single["gap_ci95_low"] > 2 * st.t.ppf(0.975, 2) * math.sqrt(v1)
    assert single["gap_ci95_high"] == pytest.approx(gap + st.t.ppf(
        0.975, var1 ** 2 / (v1 ** 2 / 2 + np.var(treat, ddof=1) ** 2 / 2 + np.var(CONTROL, ddof=1) ** 2 / 2))
        * math.sqrt(var1))


def test_not_reproduced_contradicted_unavailable():
    assert paired_test([10.5, 10.0, 12.6], CONTROL, "lower", -1.0, floor=FLOOR)["verdict"] == NOT_REPRODUCED
    r = paired_test([11.0, 12.1, 12.9], CONTROL, "lower", -1.0, floor=FLOOR)  # clearly higher error
    d = np.array([11.0, 12.1, 12.9]) - np.array(CONTROL)
    assert r["p_opposite"] == pytest.approx(st.ttest_1samp(-d, 0.0, alternative="less").pvalue)
    assert r["verdict"] == CONTRADICTED
    assert paired_test([9.0], [10.0], "lower", -1.0, floor=FLOOR)["verdict"] == UNAVAILABLE


def test_min_effect_shifts_the_null():
    treat = [9.5, 10.4, 11.6]  # reductions 0.5, 0.6, 0.4
    assert paired_test(treat, CONTROL, "lower", -0.5, min_effect=0.3, published=PRECISE,
                       floor=FLOOR)["verdict"] == CONSISTENT
    r = paired_test(treat, CONTROL, "lower", -0.5, min_effect=0.6, floor=FLOOR)
    assert r["p_direction"] == pytest.approx(st.ttest_1samp([0.5, 0.6, 0.4], 0.6, alternative="greater").pvalue)
    assert r["verdict"] == NOT_REPRODUCED


def test_identical_differences_are_not_certain():
    """No p = 0: the differences' std is floored at sqrt(2) x the quantisation."""
    floor = 100 / 450 / math.sqrt(12)
    r = paired_test([11.0, 12.0, 13.0], CONTROL, "higher", 1.0, published=PRECISE, floor=floor)
    se = floor * math.sqrt(2) / math.sqrt(3)
    assert r["p_direction"] == pytest.approx(st.t.sf(1.0 / se, 2)) and r["p_direction"] > 0
    assert r["verdict"] == CONSISTENT
    # equal to the published effect up to float error: consistent, with no exact comparison involved
    r = paired_test([9.9, 10.9], [10.0, 11.0], "lower", -0.1, published=PRECISE, margin=0.3, floor=FLOOR)
    assert r["verdict"] == CONSISTENT


def test_contradicted_is_holm_adjusted_across_a_claims_pairs():
    from statsmodels.stats.multitest import multipletests

    from bench.stats import claim_verdicts

    rng = np.random.default_rng(1)
    pairs = [paired_test(list(c + rng.normal(0, 1, 3)), list(c), "lower", -1.0, floor=FLOOR)
             for c in [np.array(CONTROL)] * 8]
    pairs[0] = paired_test([10.8, 11.5, 12.4], CONTROL, "lower", -1.0, floor=FLOOR)  # alone: contradicted
    assert 0.05 / 8 < pairs[0]["p_opposite"] < 0.05 and pairs[0]["verdict"] == CONTRADICTED
    claim_verdicts(pairs)
    expected = multipletests([p["p_opposite"] for p in pairs], method="holm")[1]
    assert [p["p_opposite_holm"] for p in pairs] == pytest.approx(list(expected))
    assert all(p["verdict"] != CONTRADICTED for p in pairs)


TABLE = """\
version: 1
id: t
title: T
source: {kind: paper, paper: P, title: P, arxiv: "1", table: 1}
metric: top1_err
dispersion: {kind: none, n: 1}
margin: 1.0
layout: {rows: [d1, d2], columns: [base, sam, private]}
claims:
  - id: sam_everywhere
    text: "SAM lowers error on every dataset"
    source: "P Table 1"
    direction: lower
    pairs: [[sam_d1, base_d1], [sam_d2, base_d2]]
  - id: private_claim
    text: "the private model is better"
    source: "P Table 1"
    direction: lower
    pairs: [[private_d1, base_d1]]
entries:
  base_d1: &e
    row: d1
    column: base
    model: vit_tiny_patch16_224
    dataset: {name: sklearn_digits, train_split: train, test_split: test}
    recipe: {optimizer: {name: sgd, lr: 0.1}, steps: 1, batch_size: 8, resolution: 8, PREPROCESS}
    published: {value: 5.0, source: "P Table 1, row d1, column base"}
  sam_d1: {<<: *e, column: sam, published: {value: 4.0, source: "P Table 1, row d1, column sam"}}
  base_d2: {<<: *e, row: d2, published: {value: 8.0, source: "P Table 1, row d2, column base"}}
  sam_d2: {<<: *e, row: d2, column: sam, published: {value: 7.0, source: "P Table 1, row d2, column sam"}}
  private_d1: {row: d1, column: private, unavailable: "private weights", published: {value: 3.0, source: "x"}}
""".replace("PREPROCESS", PREPROCESS) + sources_block()


def _runs(values: dict[str, list[float]]) -> pd.DataFrame:
    rows = [{"entry": e, "metric": "top1_err", "status": "ok", "seed": s, "value": v, "reason": "",
             "test_examples": 10000, "wall_time_s": 1.0, "device_name": "cpu"}
            for e, vs in values.items() for s, v in enumerate(vs)]
    frame = pd.DataFrame(rows)
    return frame.reindex(columns=list(dict.fromkeys([*RUN_COLUMNS, *frame.columns])))  # the collected columns


def test_a_claim_over_datasets_takes_its_weakest_pair():
    table = parse_table("t.yaml", TABLE)
    runs = _runs({"base_d1": [5.0, 5.2, 4.9], "sam_d1": [4.0, 4.1, 3.95],      # d1: consistent
                  "base_d2": [8.0, 8.3, 7.9], "sam_d2": [8.1, 8.0, 8.2]})      # d2: not shown
    c = judge_claims({"t": table}, runs)
    sam = c[c.claim == "sam_everywhere"].set_index("treatment")
    assert sam.loc["sam_d1", "verdict"] == CONSISTENT and sam.loc["sam_d2", "verdict"] == NOT_REPRODUCED
    assert set(sam.claim_verdict) == {NOT_REPRODUCED}
    private = c[c.claim == "private_claim"].iloc[0]
    assert private.claim_verdict == UNAVAILABLE and private.reason == "private weights"


def test_gate_fails_on_a_contradicted_claim_only(tmp_path, capsys):
    table = parse_table("t.yaml", TABLE)
    runs = _runs({"base_d1": [5.0, 5.2, 4.9], "sam_d1": [6.0, 6.3, 5.8],       # SAM clearly worse on d1
                  "base_d2": [8.0, 8.3, 7.9], "sam_d2": [7.0, 7.2, 6.8]})
    claims = judge_claims({"t": table}, runs)
    assert claims[claims.claim == "sam_everywhere"].claim_verdict.iloc[0] == CONTRADICTED
    claims.to_csv(tmp_path / "claims.csv", index=False)
    verdicts = pd.DataFrame([{"table": "t", "entry": "x", "row": "d1", "column": "base", "verdict": "REPRODUCED",
                              "worse": False}])
    verdicts.to_csv(tmp_path / "verdicts.csv", index=False)
    assert check(str(tmp_path / "verdicts.csv"), None, str(tmp_path / "claims.csv")) == 1
    out = capsys.readouterr().out
    assert "claims CONTRADICTED (FAIL)" in out and "sam_d1 - base_d1" in out and "1 failing" in out
    assert check(str(tmp_path / "verdicts.csv"), None, str(tmp_path / "claims.csv"), ["private_claim"]) == 0


def test_a_non_inferiority_claim_holds_for_equal_arms_and_is_contradicted_only_beyond_its_margin():
    # min_effect -1: "no worse than the control by more than 1 point" (direction lower: error)
    same = paired_test(list(CONTROL), CONTROL, "lower", 0.0, min_effect=-1.0, published=PRECISE, floor=FLOOR)
    assert same["verdict"] in (CONSISTENT, DIRECTION) and same["p_direction"] < 0.05
    worse = [c + 0.5 for c in CONTROL]  # worse by 0.5: inside the margin, not a contradiction
    r = paired_test(worse, CONTROL, "lower", 0.0, min_effect=-1.0, floor=FLOOR)
    assert r["p_opposite"] > 0.5 and r["verdict"] != CONTRADICTED
    far = [c + 3.0 + j * 0.1 for j, c in enumerate(CONTROL)]  # worse by about 3: beyond the margin
    r = paired_test(far, CONTROL, "lower", 0.0, min_effect=-1.0, floor=FLOOR)
    d = np.array(far) - np.array(CONTROL)
    assert r["p_opposite"] == pytest.approx(st.ttest_1samp(-d, -1.0, alternative="less").pvalue)
    assert r["verdict"] == CONTRADICTED


def test_a_claim_with_gate_false_is_reported_but_never_fails_the_gate(tmp_path, capsys):
    table = parse_table("t.yaml", TABLE.replace("  - id: sam_everywhere\n", "  - id: sam_everywhere\n    gate: false\n"))
    assert [c.gate for c in table.claims if c.id == "sam_everywhere"] == [False]
    runs = _runs({"base_d1": [5.0, 5.2, 4.9], "sam_d1": [6.0, 6.3, 5.8],
                  "base_d2": [8.0, 8.3, 7.9], "sam_d2": [7.0, 7.2, 6.8]})
    claims = judge_claims({"t": table}, runs)
    assert claims[claims.claim == "sam_everywhere"].claim_verdict.iloc[0] == CONTRADICTED
    claims.to_csv(tmp_path / "claims.csv", index=False)
    pd.DataFrame([{"table": "t", "entry": "x", "row": "d1", "column": "base", "verdict": "REPRODUCED",
                   "worse": False}]).to_csv(tmp_path / "verdicts.csv", index=False)
    assert check(str(tmp_path / "verdicts.csv"), None, str(tmp_path / "claims.csv")) == 0
    assert "not gating" in capsys.readouterr().out


DIFF_CLAIMS = """\
  - id: gain_larger_on_d2
    text: "SAM lowers error more on d2 than on d1"
    source: "P Table 1"
    direction: lower
    pairs: [[[sam_d2, base_d2], [sam_d1, base_d1]]]
  - id: within_reference
    text: "the SAM cells are within their references"
    source: "P Table 1"
    cells: [sam_d1, sam_d2]
"""


def _with(extra: str) -> str:
    return TABLE.replace("entries:\n", extra + "entries:\n", 1)


def test_a_difference_of_differences_is_the_paired_test_of_the_two_per_seed_effects():
    table = parse_table("t.yaml", _with(DIFF_CLAIMS))
    base1, sam1 = [5.0, 5.2, 4.9], [4.6, 4.7, 4.5]   # SAM's effect on d1: -0.4, -0.5, -0.4
    base2, sam2 = [8.0, 8.3, 7.9], [6.1, 6.5, 5.8]   # on d2: -1.9, -1.8, -2.1
    c = judge_claims({"t": table}, _runs({"base_d1": base1, "sam_d1": sam1, "base_d2": base2, "sam_d2": sam2}))
    row = c[c.claim == "gain_larger_on_d2"].iloc[0]
    assert (row.treatment, row.control) == ("(sam_d2 - base_d2)", "(sam_d1 - base_d1)")
    d = (np.array(sam2) - base2) - (np.array(sam1) - base1)
    assert row.effect == pytest.approx(d.mean())
    assert row.published_effect == pytest.approx((7.0 - 8.0) - (4.0 - 5.0))  # 0: the table prints equal gains
    assert row.p_direction == pytest.approx(st.ttest_1samp(-d, 0.0, alternative="greater").pvalue)
    assert row.n_seeds == 3 and row.verdict in (CONSISTENT, DIRECTION)
    # reversed (the larger gain on d1) it is contradicted
    c = judge_claims({"t": table}, _runs({"base_d1": base2, "sam_d1": sam2, "base_d2": base1, "sam_d2": sam1}))
    assert c[c.claim == "gain_larger_on_d2"].claim_verdict.iloc[0] == CONTRADICTED


def test_a_difference_of_differences_needs_every_arm_on_the_same_seeds():
    table = parse_table("t.yaml", _with(DIFF_CLAIMS))
    runs = _runs({"base_d1": [5.0, 5.2, 4.9], "sam_d1": [4.6, 4.7, 4.5], "base_d2": [8.0, 8.3, 7.9],
                  "sam_d2": [6.1]})
    row = judge_claims({"t": table}, runs).query("claim == 'gain_larger_on_d2'").iloc[0]
    assert row.verdict == UNAVAILABLE and "sam_d2 [0]" in row.reason


def test_a_cells_claim_follows_each_cells_own_verdict():
    from bench.judge.verdicts import judge

    table = parse_table("t.yaml", _with(DIFF_CLAIMS))
    runs = _runs({"base_d1": [5.0, 5.2, 4.9], "sam_d1": [4.0, 4.1, 3.95],       # within 1 point of 4.0
                  "base_d2": [8.0, 8.3, 7.9], "sam_d2": [9.5, 9.6, 9.55]})      # 2.55 above 7.0: beyond
    verdicts = judge({"t": table}, runs)
    c = judge_claims({"t": table}, runs, verdicts=verdicts).query("claim == 'within_reference'").set_index("treatment")
    cells = verdicts.set_index("entry")
    assert cells.loc["sam_d1", "verdict"] == "REPRODUCED" and c.loc["sam_d1", "verdict"] == CONSISTENT
    assert cells.loc["sam_d2", "verdict"] == "DISCREPANT" and c.loc["sam_d2", "verdict"] == CONTRADICTED
    assert c.loc["sam_d2", "effect"] == pytest.approx(np.mean([9.5, 9.6, 9.55]) - 7.0)
    assert set(c.claim_verdict) == {CONTRADICTED}
    from bench.report import render_html

    html = render_html({"t": table}, verdicts, runs=runs, claims=judge_claims({"t": table}, runs, verdicts=verdicts))
    assert "<code>sam_d2</code> &minus; its reference: +2.55 [" in html and "cell <a href=\"#t\">DISCREPANT</a>" in html
    assert "<code>(sam_d2 - base_d2)</code> &minus; <code>(sam_d1 - base_d1)</code>" in html


@pytest.mark.parametrize("claim, field, message", [
    ("    direction: lower\n    pairs: [[[sam_d2, base_d2], sam_d1]]\n", "pairs[0]", "an effect"),
    ("    direction: lower\n    pairs: [[[sam_d2, base_d2, x], [sam_d1, base_d1]]]\n", "pairs[0][0]", "[entry, entry]"),
    ("    direction: lower\n    cells: [sam_d1]\n", "claims[2].direction", "unknown field"),
    ("    direction: lower\n    cells: [sam_d1]\n    pairs: [[sam_d1, base_d1]]\n", "claims[2]", "exactly one of"),
    ("    text2: x\n", "claims[2]", "exactly one of `cells` or `pairs`"),
    ("    cells: [sam_d1, sam_d1]\n", "claims[2].cells", "listed twice"),
    ("    cells: [nope]\n", "claims[2].cells[0]", "unknown entry 'nope'"),
])
def test_bad_claim_sides_name_the_field(tmp_path, claim, field, message):
    from bench.errors import TableError
    from bench.tables.table import load_tables

    path = tmp_path / "t.yaml"
    path.write_text(_with("  - id: bad\n    text: x\n    source: y\n" + claim), encoding="utf-8")
    with pytest.raises(TableError) as err:
        load_tables([path])
    assert field in str(err.value) and message in str(err.value)


def test_the_shipped_table1_and_timm_claims_carry_the_published_effects():
    from bench.tables.table import load_tables

    tables = load_tables(["experiments/sam/table1.yaml", "experiments/timm/vit_sam.yaml"])
    c = judge_claims(tables, pd.DataFrame(columns=RUN_COLUMNS))
    gain = c[c.claim == "sam_gain_larger_on_cifar100_wrn"]
    # SAM Table 1, WRN-28-10 rows: (SAM - SGD) on CIFAR-100 minus (SAM - SGD) on CIFAR-10, as printed
    assert list(gain.published_effect.round(2)) == [-1.5, -1.7, -2.0, -1.7, -2.8, -2.7]
    assert set(gain.verdict) == {UNAVAILABLE} and gain.reason.str.contains("not run yet|fewer than two").all()
    within = c[c.claim == "vit_sam_checkpoints_within_recorded"]
    assert len(within) == 4 and set(within.claim_verdict) == {UNAVAILABLE}
