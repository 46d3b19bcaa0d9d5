"""Claims on synthetic paired seeds: every verdict path, with the expected numbers computed here."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from bench.check import check
from bench.stats import CONSISTENT, CONTRADICTED, DIRECTION, NOT_REPRODUCED, UNAVAILABLE, paired_test
from bench.verdicts import judge_claims
from bench.experiments import parse_table
from conftest import PREPROCESS, sources_block

CONTROL = [10.0, 11.0, 12.0]


def test_direction_and_consistent_effect_by_hand():
    treat = [9.0, 9.8, 11.1]  # d = -1.0, -1.2, -0.9 ; the claim: lower
    d = np.array(treat) - np.array(CONTROL)
    m, s = d.mean(), d.std(ddof=1)
    t = -m / (s / math.sqrt(3))  # on the signed differences -d
    r = paired_test(treat, CONTROL, "lower", published_effect=-1.0)
    assert r["p_direction"] == pytest.approx(st.t.sf(t, 2))
    half = st.t.ppf(0.975, 2) * s / math.sqrt(3)
    assert (r["ci95_low"], r["ci95_high"]) == pytest.approx((m - half, m + half))
    assert r["effect"] == pytest.approx(m) and r["verdict"] == CONSISTENT
    # the same runs against a much larger published effect: direction only
    assert paired_test(treat, CONTROL, "lower", published_effect=-3.0)["verdict"] == DIRECTION


def test_published_uncertainty_widens_the_effect_check():
    treat = [9.0, 9.8, 11.1]
    d = np.array(treat) - np.array(CONTROL)
    v1 = d.var(ddof=1) / 3
    v2 = 0.5 ** 2 / 5 + 0.4 ** 2 / 5  # published std 0.5 and 0.4 over 5 runs each
    df = (v1 + v2 + 0) ** 2 / (v1 ** 2 / 2 + (0.5 ** 2 / 5) ** 2 / 4 + (0.4 ** 2 / 5) ** 2 / 4)
    half = st.t.ppf(0.975, df) * math.sqrt(v1 + v2)
    r = paired_test(treat, CONTROL, "lower", -1.6, published=((0.5, 5), (0.4, 5)))
    gap = d.mean() + 1.6
    assert (r["gap_ci95_low"], r["gap_ci95_high"]) == pytest.approx((gap - half, gap + half))
    assert r["verdict"] == CONSISTENT  # -1.6 is outside our CI alone, inside once the paper's spread counts
    assert paired_test(treat, CONTROL, "lower", -1.6)["verdict"] == DIRECTION


def test_not_reproduced_contradicted_unavailable():
    assert paired_test([10.5, 10.0, 12.6], CONTROL, "lower", -1.0)["verdict"] == NOT_REPRODUCED
    r = paired_test([11.0, 12.1, 12.9], CONTROL, "lower", -1.0)  # clearly higher error: the opposite
    d = np.array([11.0, 12.1, 12.9]) - np.array(CONTROL)
    assert r["p_opposite"] == pytest.approx(st.ttest_1samp(-d, 0.0, alternative="less").pvalue)
    assert r["verdict"] == CONTRADICTED
    assert paired_test([9.0], [10.0], "lower", -1.0)["verdict"] == UNAVAILABLE


def test_min_effect_shifts_the_null():
    treat = [9.5, 10.4, 11.6]  # reductions 0.5, 0.6, 0.4
    assert paired_test(treat, CONTROL, "lower", -0.5, min_effect=0.3)["verdict"] == CONSISTENT
    r = paired_test(treat, CONTROL, "lower", -0.5, min_effect=0.6)
    assert r["p_direction"] == pytest.approx(st.ttest_1samp([0.5, 0.6, 0.4], 0.6, alternative="greater").pvalue)
    assert r["verdict"] == NOT_REPRODUCED


def test_identical_differences_are_exact():
    r = paired_test([11.0, 12.0, 13.0], CONTROL, "higher", 1.0)
    assert r["p_direction"] == 0.0 and r["verdict"] == CONSISTENT
    assert paired_test([11.0, 12.0, 13.0], CONTROL, "lower", -1.0)["verdict"] == CONTRADICTED


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
    rows = [{"entry": e, "metric": "top1_err", "status": "ok", "seed": s, "value": v, "reason": ""}
            for e, vs in values.items() for s, v in enumerate(vs)]
    return pd.DataFrame(rows)


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
