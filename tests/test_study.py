"""Improvement studies: equal budgets, no test-split reads in tuning, resumable tuning, and the statistics
against direct computations."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from bench.errors import TableError
from bench.tables.params import every_suite
from bench.study import analyze
from bench.tables.study import parse_study

STUDY = """\
version: 1
id: tiny_study
title: "tiny"
baseline:
  entry: vit_p4_digits
  arm: sgd
  changes:
    recipe.steps: 12
    recipe.schedule.warmup_steps: 2
    recipe.batch_size: 32
    recipe.optimizer: {name: sgd, lr: 0.1, momentum: 0.9, weight_decay: 0.0}
datasets:
  digits: {sweep_train_split: "train[:90%]", sweep_val_split: "train[90%:]"}
tuning: {trials: 3, seed: 0, startup_trials: 1, report_every: 4}
seeds: [0, 1]
arms:
  sgd:
    text: "SGD"
    space: {recipe.optimizer.lr: {low: 0.01, high: 0.5, log: true}}
  mixup:
    text: "SGD + Mixup"
    changes: {recipe.mix: {mixup_alpha: 0.2}}
    space:
      recipe.optimizer.lr: {low: 0.01, high: 0.5, log: true}
      model_kwargs.pos_embed: {choices: [learn, none]}
"""


@pytest.fixture(scope="module")
def tables():
    return every_suite("params.yaml")[1]


def _study(tables, text: str = STUDY, **fields):
    study = parse_study("s.yaml", text, tables)
    import dataclasses

    return dataclasses.replace(study, **fields)


class Reads:
    """The splits the training loop opens, recorded through the loader's two entry points."""

    def __init__(self, monkeypatch):
        import bench.data.loader as loader

        self.splits: list[str] = []
        train_feed, eval_feed = loader.train_feed, loader.eval_feed

        def tf(spec, split, *a, **k):
            self.splits.append(split)
            return train_feed(spec, split, *a, **k)

        def ef(spec, split, *a, **k):
            self.splits.append(split)
            return eval_feed(spec, split, *a, **k)

        monkeypatch.setattr(loader, "train_feed", tf)
        monkeypatch.setattr(loader, "eval_feed", ef)


def test_every_arm_gets_the_same_budget_and_tuning_never_reads_the_test_split(tables, tmp_path, digits_dir,
                                                                              monkeypatch):
    from bench.study.final import final_runs
    from bench.study.tune import tune

    study = _study(tables)
    reads = Reads(monkeypatch)
    best = {arm: tune(study, arm, "digits", tmp_path / arm / "tune", digits_dir) for arm in study.arms}
    assert set(reads.splits) == {"train[:90%]", "train[90%:]"}  # tuning: the held-out part, never "test"
    for arm, b in best.items():
        assert b["trials"] == study.trials == sum(b["states"].values())
        trials = pd.read_csv(tmp_path / arm / "tune" / "trials.csv")
        assert len(trials) == study.trials and trials.best_so_far.dropna().is_monotonic_increasing
        assert b["splits"] == {"train": "train[:90%]", "val": "train[90%:]"}
    assert set(best["mixup"]["params"]) == {"recipe.optimizer.lr", "model_kwargs.pos_embed"}
    reads.splits.clear()
    rows = final_runs(study, "mixup", "digits", best["mixup"], tmp_path / "mixup" / "final", digits_dir)
    assert [r["seed"] for r in rows] == [0, 1] and all(r["status"] == "ok" for r in rows)
    assert set(reads.splits) == {"train", "test"}  # the final runs: the full training split, the test split
    again = final_runs(study, "mixup", "digits", best["mixup"], tmp_path / "mixup" / "final", digits_dir)
    assert again == rows  # done before: read back, not retrained


def test_a_killed_tuning_stage_continues_from_its_stored_trials(tables, tmp_path, digits_dir, monkeypatch):
    import optuna

    import bench.train.loop as loop
    from bench.study import tune as tuning

    study = _study(tables)
    out = tmp_path / "tune"
    calls = {"n": 0}
    real = loop.after_step

    def kill_in_second_trial(step):
        if calls["n"] == 1 and step == 5:
            raise KeyboardInterrupt  # Ctrl-C in the middle of the second trial
        real(step)

    counting = loop.train

    def train(*a, **k):
        try:
            return counting(*a, **k)
        finally:
            calls["n"] += 1

    monkeypatch.setattr(loop, "train", train)
    monkeypatch.setattr(loop, "after_step", kill_in_second_trial)
    with pytest.raises(KeyboardInterrupt):
        tuning.tune(study, "sgd", "digits", out, digits_dir)
    stored = optuna.load_study(study_name="tiny_study.sgd.digits", storage=tuning._storage(out))
    assert [t.state.name for t in stored.trials] == ["COMPLETE", "FAIL"]
    first, cut = stored.trials
    # A SIGKILL leaves a trial RUNNING: simulate one more such trial in the journal.
    stale = stored.ask()
    stale_lr = stale.suggest_float("recipe.optimizer.lr", 0.01, 0.5, log=True)

    monkeypatch.setattr(loop, "after_step", real)
    calls["n"] = 0
    best = tuning.tune(study, "sgd", "digits", out, digits_dir)
    assert calls["n"] == 2  # the cut-off trial and the killed one run again; the completed one does not
    stored = optuna.load_study(study_name="tiny_study.sgd.digits", storage=tuning._storage(out))
    counted = [t for t in stored.trials if tuning.counted(t)]
    assert len(counted) == study.trials == best["trials"] and best["not_counted"] == 2
    assert counted[0].number == first.number  # kept as it was
    rerun = sorted(t.params["recipe.optimizer.lr"] for t in counted[1:])
    assert rerun == pytest.approx(sorted([cut.params["recipe.optimizer.lr"], stale_lr]))
    calls["n"] = 0
    tuning.tune(study, "sgd", "digits", out, digits_dir)
    assert calls["n"] == 0  # complete: a third run trains nothing


def _runs(values: dict) -> pd.DataFrame:
    rows = [{"arm": arm, "dataset": ds, "seed": s, "top1": v, "status": "ok", "test_examples": 450, "chance": 10.0}
            for (arm, ds), vs in values.items() for s, v in enumerate(vs)]
    return pd.DataFrame(rows)


VALUES = {("base", "a"): [90.0, 91.0, 90.5, 89.8, 90.2], ("new", "a"): [92.0, 92.4, 92.1, 91.5, 92.6],
          ("base", "b"): [80.0, 81.0, 79.5, 80.4, 80.1], ("new", "b"): [80.2, 80.5, 79.9, 80.9, 79.8],
          ("worse", "a"): [85.0, 86.0, 85.4, 84.9, 85.7], ("worse", "b"): [75.0, 76.1, 75.2, 74.8, 75.9]}


def test_effects_are_paired_t_tests_holm_adjusted_across_the_study():
    runs = _runs(VALUES)
    e = analyze.effects(runs, [("new", "base"), ("worse", "base")]).set_index(["variant", "dataset"])
    d = np.subtract(VALUES[("new", "a")], VALUES[("base", "a")])
    assert e.loc[("new", "a"), "effect"] == pytest.approx(d.mean())
    assert e.loc[("new", "a"), "p_improves"] == pytest.approx(st.ttest_1samp(d, 0, alternative="greater").pvalue)
    assert e.loc[("new", "a"), "p_two_sided"] == pytest.approx(st.ttest_1samp(d, 0).pvalue)
    half = st.t.ppf(0.975, 4) * d.std(ddof=1) / math.sqrt(5)
    assert e.loc[("new", "a"), ["ci95_low", "ci95_high"]].tolist() == pytest.approx([d.mean() - half, d.mean() + half])
    from statsmodels.stats.multitest import multipletests

    two = [st.ttest_1samp(np.subtract(VALUES[(v, ds)], VALUES[("base", ds)]), 0).pvalue for v, ds in e.index]
    assert list(e.p_holm) == pytest.approx(list(multipletests(two, method="holm")[1]))  # one family, two-sided
    assert e.loc[("new", "a"), "verdict"] == analyze.IMPROVES
    assert e.loc[("new", "b"), "verdict"] == analyze.NO_EVIDENCE
    assert e.loc[("worse", "a"), "verdict"] == analyze.HURTS


def test_effects_floor_each_dataset_at_its_own_test_size():
    runs = _runs({("base", "a"): [90.0, 90.0, 90.0], ("new", "a"): [90.5, 90.5, 90.5]})
    small = runs.assign(test_examples=100)
    e_small = analyze.effects(small, [("new", "base")]).iloc[0]
    big = runs.assign(test_examples=10000)
    e_big = analyze.effects(big, [("new", "base")]).iloc[0]
    half = st.t.ppf(0.975, 2) * (100 / 100 / math.sqrt(12)) * math.sqrt(2) / math.sqrt(3)
    assert e_small.ci95_high - e_small.effect == pytest.approx(half)  # 1 image in 100: the floor
    assert e_big.ci95_high - e_big.effect == pytest.approx(half / 100)


def _direct_stratified(samples, statistic, draws=20000, seed=1):
    rng = np.random.default_rng(seed)
    stats_ = [statistic(*[s[rng.integers(0, len(s), len(s))] for s in samples]) for _ in range(draws)]
    return np.percentile(stats_, [2.5, 97.5])


@pytest.mark.slow
def test_aggregates_match_a_direct_computation():
    runs = _runs(VALUES)
    iqm, poi = analyze.aggregate(runs, ["base", "new", "worse"], [("new", "base"), ("worse", "base")])
    norm = lambda v: (np.asarray(v) - 10.0) / 90.0  # noqa: E731  (chance 10%: ten classes)
    strata = {arm: [norm(VALUES[(arm, d)]) for d in "ab"] for arm in ("base", "new", "worse")}
    # IQM by hand: the middle 50% of the 10 pooled normalised scores (scipy's trim_mean cuts 2 of 10 a side)
    pooled = np.sort(np.concatenate(strata["new"]))
    row = iqm.set_index("arm").loc["new"]
    assert row.iqm == pytest.approx(pooled[2:8].mean())
    low, high = _direct_stratified(strata["new"], lambda *s: analyze.iqm(np.concatenate(s)))
    assert (row.ci95_low, row.ci95_high) == pytest.approx((low, high), abs=0.003)
    # Probability of improvement by hand: per dataset the share of (new, base) run pairs that new wins
    p = np.mean([np.mean([[x > y for y in VALUES[("base", d)]] for x in VALUES[("new", d)]]) for d in "ab"])
    got = poi.set_index("variant").loc["new"]
    assert got.poi == pytest.approx(p)
    low, high = _direct_stratified(strata["new"] + strata["base"],
                                   lambda *s: analyze.improvement_probability(s[:2], s[2:]))
    assert (got.ci95_low, got.ci95_high) == pytest.approx((low, high), abs=0.03)
    assert poi.set_index("variant").loc["worse", "verdict"] == analyze.HURTS


@pytest.mark.slow
def test_a_fully_separated_three_against_three_is_not_enough_for_a_verdict():
    """P(X > Y) = 1 with a bootstrap CI of [1, 1], but the exact permutation p is 1 / C(6, 3) = 0.05 one-sided:
    0.10 two-sided, no verdict at alpha 0.05."""
    runs = _runs({("base", "a"): [80.0, 81.0, 82.0], ("new", "a"): [90.0, 91.0, 92.0]})
    _, poi = analyze.aggregate(runs, ["base", "new"], [("new", "base")])
    row = poi.iloc[0]
    assert row.poi == 1.0 and (row.ci95_low, row.ci95_high) == (1.0, 1.0)
    assert row.p_improves == pytest.approx(1 / 20, abs=0.006) and row.verdict == analyze.NO_EVIDENCE
    one = _runs({("base", "a"): [80.0], ("new", "a"): [90.0, 91.0]})
    _, poi = analyze.aggregate(one, ["base", "new"], [("new", "base")])
    assert poi.iloc[0].verdict == analyze.NO_EVIDENCE and "fewer than two" in poi.iloc[0].reason


def test_only_results_of_the_parameters_use_up_the_budget():
    from types import SimpleNamespace as T

    from bench.study.tune import counted

    state = lambda name: T(name=name)  # noqa: E731
    assert counted(T(state=state("COMPLETE"), user_attrs={}))
    assert counted(T(state=state("PRUNED"), user_attrs={}))
    assert counted(T(state=state("FAIL"), user_attrs={"failed": "loss is not finite"}))  # diverged
    assert not counted(T(state=state("FAIL"), user_attrs={}))  # an error (out of memory, a missing file)
    assert not counted(T(state=state("FAIL"), user_attrs={"interrupted": True}))
    assert not counted(T(state=state("RUNNING"), user_attrs={}))


@pytest.mark.parametrize("edit, field, message", [
    (("entry: vit_p4_digits", "entry: nope"), "baseline.entry", "unknown entry 'nope'"),
    (("recipe.mix: {mixup_alpha: 0.2}", "recipe.mix: {mixup_alpha: 0.0}"), "arms.mixup", "mixup_alpha"),
    (("{low: 0.01, high: 0.5, log: true}}", "{low: 0.5, high: 0.01}}"), "arms.sgd.space", "low < high"),
    (("  sgd:\n    text", "  sgd:\n    against: nobody\n    text"), "arms.sgd.against", "unknown arm"),
    (("seeds: [0, 1]", "seeds: [0]"), "seeds", "at least two"),
    (('sweep_val_split: "train[90%:]"', "x: 1"), "datasets.digits", "x"),
    (('sweep_val_split: "train[90%:]"', 'sweep_val_split: "test[:50%]"'), "datasets.digits", "never read the test"),
    (("recipe.batch_size: 32\n", "recipe.batch_size: 32\n    recipe.select: {param: lr, grid: [0.1, 0.2]}\n"),
     "datasets.digits", "a study tunes instead"),
    # one arm: nothing to compare (analysis used to stop at KeyError 'poi')
    ((STUDY[STUDY.index("  mixup:"):], ""), "arms", "needs a baseline and at least one variant, got 1 arm (sgd)"),
])
def test_bad_study_files_name_the_field(tables, edit, field, message):
    with pytest.raises(TableError) as err:
        parse_study("s.yaml", STUDY.replace(*edit), tables)
    assert "s.yaml" in str(err.value) and field in str(err.value) and message in str(err.value)


def test_a_study_without_comparison_is_one_clear_line_not_a_key_error(tables, tmp_path):
    """A Study built around the loader (one arm) still gets a clear error from the analysis; the aggregates of
    no comparison are an empty table with its columns."""
    import pandas as pd

    from bench.errors import BenchError
    from bench.study import analyze
    from bench.study.results import analyze_study

    study = _study(tables, arms={"sgd": _study(tables).arms["sgd"]})
    with pytest.raises(BenchError, match="no comparison"):
        analyze_study(study, tmp_path, tmp_path)
    runs = pd.DataFrame({"arm": ["sgd"] * 2, "dataset": ["d"] * 2, "seed": [0, 1], "top1": [90.0, 91.0],
                         "status": ["ok"] * 2})
    iqm, poi = analyze.aggregate(runs, ["sgd"], [])
    assert poi.empty and {"poi", "verdict", "p_holm"} <= set(poi.columns) and len(iqm) == 1


def test_the_shipped_studies_parse_and_expand_to_stages(tables):
    from bench.tables.study import load_study

    study = load_study("embedded_study", tables)
    assert study.comparisons() == [("sam", "sgd"), ("adamw_sam", "sam"), ("mixup", "sgd"), ("cutout", "sgd")]
    params = every_suite("params.yaml")[0]
    assert params.raw["study_cells"] == study.cells()
    assert json.dumps(study.plan("cutout", "digits_noisy").dataset.label_noise) == "0.2"


OWN_ENTRY = """datasets:
  digits: {sweep_train_split: "train[:90%]", sweep_val_split: "train[90%:]"}
  p2:
    entry: vit_p2_digits
    dataset: {label_noise: 0.1, sweep_train_split: "train[:80%]", sweep_val_split: "train[80%:]"}
    changes: {recipe.steps: 8}
"""


def test_a_dataset_may_start_from_its_own_entry_with_its_own_changes(tables):
    text = STUDY.replace('datasets:\n  digits: {sweep_train_split: "train[:90%]", sweep_val_split: "train[90%:]"}\n',
                         OWN_ENTRY)
    study = parse_study("s.yaml", text, tables)
    p2 = study.plan("mixup", "p2", {"recipe.optimizer.lr": 0.2})
    assert p2.model_kwargs["patch_size"] == 2 and p2.recipe.steps == 8 and p2.dataset.label_noise == 0.1
    assert p2.recipe.mix.mixup_alpha == 0.2 and p2.recipe.optimizer.name == "sgd"  # the arm's and baseline's
    assert study.plan("sgd", "digits").model_kwargs["patch_size"] == 4
    with pytest.raises(TableError) as err:
        parse_study("s.yaml", text.replace("entry: vit_p2_digits", "entry: vit_p3"), tables)
    assert "datasets.p2.entry" in str(err.value)


@pytest.mark.slow
def test_the_cost_estimate_doubles_for_sam_and_adds_up(tables):
    from bench.scale.cost import study_cost
    from bench.tables.study import load_study

    study = load_study("vit_sam_finetune", tables)
    text = study_cost(study, "H100", 0.4)
    rows = {line.split("|")[1].strip(): [float(x.replace(",", "")) for x in line.split("|")[4:7]]
            for line in text.splitlines() if line.startswith("| vit_sam_finetune.")}
    assert len(rows) == len(study.cells()) == 32
    sgd, sam = rows["vit_sam_finetune.sgd.l16_cifar10"], rows["vit_sam_finetune.sam.l16_cifar10"]
    assert sgd[0] > 1 and sam[0] == pytest.approx(2 * sgd[0], abs=0.01)  # two passes a step
    assert sgd[1] == pytest.approx(sgd[0] * 8, abs=0.1) and sgd[2] == pytest.approx(sgd[0] * 3, abs=0.1)
    pets = rows["vit_sam_finetune.sgd.l16_pets"][0]
    assert pets == pytest.approx(sgd[0] / 20, abs=0.01)  # 500 steps against 10,000
    total = sum(r[1] for r in rows.values())
    assert f"tuning at most {total:,.1f}"[:-2] in text  # the rows add up to the total (to rounding)


@pytest.mark.slow
def test_study_use_writes_the_cells_into_params(tmp_path, monkeypatch):
    import shutil

    from bench.cli import main

    shutil.copy("params.yaml", tmp_path / "params.yaml")
    assert main(["--params", str(tmp_path / "params.yaml"), "study", "use", "vit_sam_finetune"]) == 0
    import yaml

    cells = yaml.safe_load((tmp_path / "params.yaml").read_text())["study_cells"]
    assert len(cells) == 32 and cells[0] == "vit_sam_finetune.sgd.b16_cifar10"
    assert main(["--params", str(tmp_path / "params.yaml"), "study", "use", "nope"]) == 2


def test_trials_of_another_definition_are_set_aside_not_reused(tables, tmp_path, digits_dir):
    from bench.study.tune import JOURNAL, tune

    study = _study(tables, trials=2, startup_trials=4)
    first = tune(study, "sgd", "digits", tmp_path, digits_dir)
    more = tune(_study(tables, trials=4, startup_trials=4), "sgd", "digits", tmp_path, digits_dir)  # continues
    assert more["trials"] == 4 and not (tmp_path / "optuna.previous.log").exists()
    lrs = pd.read_csv(tmp_path / "trials.csv").params.map(lambda p: json.loads(p)["recipe.optimizer.lr"])
    assert lrs.nunique() == 4  # the resumed sampler draws new start-up trials, not the first ones again
    changed = _study(tables, STUDY.replace("recipe.steps: 12", "recipe.steps: 10"), trials=2)
    again = tune(changed, "sgd", "digits", tmp_path, digits_dir)
    assert again["trials"] == 2 and again["not_counted"] == 0
    assert (tmp_path / "optuna.previous.log").is_file() and (tmp_path / JOURNAL).is_file()
    assert first["value"] is not None


@pytest.mark.slow
def test_analyze_with_no_study_cells_writes_an_empty_summary(tmp_path, capsys):
    import shutil

    import yaml

    from bench.cli import main

    shutil.copy("params.yaml", tmp_path / "params.yaml")
    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    params["study_cells"] = []
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    assert main(["--params", str(tmp_path / "params.yaml"), "study", "analyze", "--out-dir", str(tmp_path / "s"),
                 "--results-dir", str(tmp_path / "r")]) == 0
    assert json.loads((tmp_path / "r" / "summary.json").read_text()) == {}


def test_the_committed_study_analyses_to_its_committed_results_and_renders(tmp_path):
    """`bench study analyze` over the committed cells' records gives back the committed effects and
    aggregates (a known answer for bench.study.results), and the report's study section renders them."""
    import pandas as pd

    from bench.cli import main
    from bench.report.studies import sections

    assert main(["study", "analyze", "--out-dir", "studies", "--results-dir", str(tmp_path)]) == 0
    for name in ("effects.csv", "iqm.csv", "poi.csv", "arms.csv"):
        ours = pd.read_csv(tmp_path / "embedded_study" / name)
        committed = pd.read_csv(f"results/studies/embedded_study/{name}")
        pd.testing.assert_frame_equal(ours, committed, check_exact=False, rtol=1e-9)
    (study,) = sections(str(tmp_path))
    assert study["forest"].startswith("<svg") and len(study["cells"]) == 10
