"""Report rendering and the CI gate on small hand-made verdict tables."""

import textwrap

import pandas as pd
import pytest

from bench.judge.gate import check
from bench.tables.table import parse_table
from bench.report import render_html, render_markdown
from bench.judge.collect import collect
from bench.judge.verdicts import judge
from bench.io import write_json
from conftest import PREPROCESS, sources_block

TABLE = textwrap.dedent("""\
    version: 1
    id: t1
    title: "Hostile <script>alert(1)</script> table"
    source: {kind: paper, paper: P, title: P, arxiv: "1", table: 2}
    metric: top1
    dispersion: {kind: std, n: 3}
    margin: 1.0
    layout: {rows: ["<b>row</b>"], columns: [a, b]}
    claims:
      - id: a_beats_b
        text: "<img src=x onerror=alert(2)> a beats b"
        source: "P, Table 2"
        direction: higher
        pairs: [[ea, eb]]
    figures:
      - {title: "<script>alert(3)</script> gain", control: b, treatments: [a]}
    SOURCES
    entries:
      ea:
        row: "<b>row</b>"
        column: a
        model: vit_tiny_patch16_224
        dataset: {name: sklearn_digits, train_split: train, test_split: test}
        recipe: {optimizer: {name: sgd, lr: 0.1}, steps: 1, batch_size: 1, resolution: 8, PREPROCESS}
        published: {value: 90.0, dispersion: 0.1, source: "P, Table 2, row r, column a"}
      eb:
        row: "<b>row</b>"
        column: b
        model: vit_tiny_patch16_224
        dataset: {name: sklearn_digits, train_split: train, test_split: test}
        recipe: {optimizer: {name: sgd, lr: 0.1}, steps: 1, batch_size: 1, resolution: 8, PREPROCESS}
        published: {value: 80.0, dispersion: 0.1, source: "P, Table 2, row r, column b"}
    """).replace("PREPROCESS", PREPROCESS).replace("SOURCES\n", sources_block())


@pytest.fixture(scope="module")
def _judged_once(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("judged")
    table = parse_table("t.yaml", TABLE)
    for entry, values in (("ea", [90.0, 90.1, 89.9]), ("eb", [70.0, 70.2, 69.9])):
        for seed, v in enumerate(values):
            write_json(tmp_path / "runs" / entry / str(seed) / "metrics.json",
                       {"status": "ok", "top1": v, "top1_err": 100 - v, "git_commit": "abc", "device": "cpu",
                        "device_name": "cpu", "wall_time_s": 1.0, "packages": {"torch": "x"}})
    runs = collect({"t1": table}, [0, 1, 2, 3], tmp_path / "runs")
    return table, runs, judge({"t1": table}, runs)


@pytest.fixture
def judged(_judged_once):
    """The table, its collected runs and verdicts (computed once a module; each test gets its own copies)."""
    table, runs, verdicts = _judged_once
    return table, runs.copy(), verdicts.copy()


def test_collect_marks_missing_runs(judged):
    _, runs, _ = judged
    missing = runs[runs.status == "missing"]
    assert set(missing.seed) == {3} and missing.value.isna().all()


def test_verdicts(judged):
    _, _, v = judged
    by = v.set_index("entry")
    assert by.loc["ea", "verdict"] == "REPRODUCED"
    assert by.loc["eb", "verdict"] == "DISCREPANT" and by.loc["eb", "worse"]
    assert by.loc["eb", "delta"] == pytest.approx(70.033333 - 80.0)
    assert "1 of 4 runs missing" in by.loc["ea", "reason"]


def test_seed_variance_is_pooled_per_group_unless_bartlett_rejects(judged):
    """ea and eb are one model on one dataset: one group, sum (n_i - 1) s_i^2 / sum (n_i - 1) with 4 df, checked by
    scipy's Bartlett; `pool=False` (`--no-pool`) keeps each cell's own; spreads that differ fall back with a note."""
    import math

    import numpy as np
    from scipy import stats as st

    table, runs, v = judged
    a, b = [90.0, 90.1, 89.9], [70.0, 70.2, 69.9]
    by = v.set_index("entry")
    pooled = math.sqrt((np.var(a, ddof=1) + np.var(b, ddof=1)) / 2)
    for e in ("ea", "eb"):
        assert by.loc[e, "spread"] == pytest.approx(pooled) and by.loc[e, "spread_df"] == 4 and by.loc[e, "pooled"]
        assert by.loc[e, "p_homogeneity"] == pytest.approx(st.bartlett(a, b).pvalue)
        assert by.loc[e, "group"] == "vit_tiny_patch16_224 / sklearn_digits" and "pooled over 2 cells" in by.loc[
            e, "pool_note"]
    own = judge({"t1": table}, runs, pool=False).set_index("entry")
    assert own.loc["ea", "spread"] == pytest.approx(0.1) and own.loc["ea", "spread_df"] == 2
    assert own.loc["eb", "spread"] == pytest.approx(np.std(b, ddof=1)) and not own.loc["eb", "pooled"]
    wide = runs.copy()
    sel = (wide.entry == "eb") & (wide.metric == "top1") & (wide.status == "ok")
    wide.loc[sel, "value"] = [70.0, 75.0, 65.0][:int(sel.sum())]
    apart = judge({"t1": table}, wide).set_index("entry")
    assert not apart.loc["ea", "pooled"] and apart.loc["ea", "spread"] == pytest.approx(0.1)
    assert "spreads differ (Bartlett p = " in apart.loc["ea", "pool_note"] and apart.loc["ea", "spread_df"] == 2


def test_the_statistics_card_shows_pooling_the_factor_and_what_the_table_can_show(judged):
    from bench.judge.operating import operating

    table, runs, v = judged
    html = render_html({"t1": table}, v, power=operating({"t1": table}, v, 3))
    card = html[html.index('id="statistics-t1"'):]
    card = card[:card.index("</details>")]
    assert "seed variance pooled by model, dataset" in card and "3 seeds (recommended" in card
    assert "<code>vit_tiny_patch16_224 / sklearn_digits</code>: 2 cells, std 0.129, 4 df (Bartlett p = 0.597)" in card
    assert "80% REPRODUCED when equal from a margin of" in card and "What it can show: REPRODUCED at 0" in card
    assert "taken as up to" not in card  # every cell printed its spread
    single = parse_table("t.yaml", TABLE.replace("dispersion: {kind: std, n: 3}", "dispersion: {kind: none, n: 1}")
                         .replace("dispersion: 0.1, ", "").replace("margin: 1.0", "margin: 1.0\nspread_factor: 3"))
    html = render_html({"t1": single}, judge({"t1": single}, runs))
    assert "no printed spread: the paper&#39;s taken as up to 3&times; ours" in html or \
        "no printed spread: the paper's taken as up to 3&times; ours" in html


def test_html_escapes_and_shows_cells(judged):
    table, _, v = judged
    html = render_html({"t1": table}, v)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert "<b>row</b>" not in html and "&lt;b&gt;row&lt;/b&gt;" in html
    assert "REPRODUCED" in html and "DISCREPANT" in html
    # the reference as the file writes it (90.0), ours to the same digits
    assert "ref 90.0 ± 0.1" in html and "ours 90.0 ± 0.1" in html
    assert "http" not in html.split("<body>")[0]  # no external resources in the head
    assert ">nan<" not in html.replace(" ", "")


def test_html_from_csv_has_no_nan(judged, tmp_path):
    table, _, v = judged
    v.to_csv(tmp_path / "v.csv", index=False)
    back = pd.read_csv(tmp_path / "v.csv", keep_default_na=False, na_values=[""])
    html = render_html({"t1": table}, back)
    assert "nan" not in html.replace("&lt;", "")


def test_markdown_summary(judged):
    table, _, v = judged
    md = render_markdown({"t1": table}, v)
    assert "| t1 | 1 | 0 | 1 | 0 |" in md


def test_check_fails_only_on_worse_discrepant(judged, tmp_path, capsys):
    _, _, v = judged
    path = tmp_path / "verdicts.csv"
    v.to_csv(path, index=False)
    assert check(str(path)) == 1
    out = capsys.readouterr().out
    assert any(line.startswith("FAIL") and "eb [" in line and "-9.97" in line for line in out.splitlines())
    assert out.rstrip().endswith("1 failing")
    better = v.copy()
    better.loc[better.entry == "eb", "worse"] = False
    better.to_csv(path, index=False)
    assert check(str(path)) == 0
    out = capsys.readouterr().out
    assert any(line.startswith("flag") and "eb [" in line for line in out.splitlines())


def test_unavailable_cell(tmp_path):
    table = parse_table("t.yaml", TABLE)
    runs = collect({"t1": table}, [0, 1, 2], tmp_path / "none")
    v = judge({"t1": table}, runs)
    assert (v.verdict == "UNAVAILABLE").all()
    assert (v.reason == "not run yet").all()


def test_paper_tables_render_before_any_run(tmp_path, monkeypatch):
    """Every shipped paper table in the report with no run at all: reasons, printed values, the cost row."""
    from bench.tables.params import load_all, load_params
    from conftest import ROOT

    monkeypatch.chdir(ROOT)
    tables = load_all(load_params("params.yaml"))
    runs = collect(tables, [0, 1, 2], tmp_path / "no-runs", {"vit_table2": "not run yet (suite vit_table2)"})
    v = judge(tables, runs)
    assert (v[v.table.isin(["vit_table2", "sam_table10"])].verdict == "UNAVAILABLE").all()
    html = render_html(tables, v)
    assert "private weights: ViT-H/14 pre-trained on JFT-300M was never released" in html
    assert "not run yet (suite vit_table2)" in html
    assert "ref 99.74 ± 0.00" in html and "ref 88.4<" in html  # as printed in ViT Table 2
    assert "TPUv3-core-days" in html and "paper 2.5k" in html
    assert "ref 0.63 ± 0.02" in html  # SAM Table 3, Flowers, EffNet-b7 + SAM


def test_claims_and_figures_render_escaped(judged):
    from bench.judge.verdicts import judge_claims

    table, runs, v = judged
    claims = judge_claims({"t1": table}, runs)
    html = render_html({"t1": table}, v, runs=runs, claims=claims)
    assert html.count("<svg") == 4  # published vs reproduced, seed dots, the effect chart, compute
    for hostile in ("<script>", "<img src=x", "<b>row</b>"):
        assert hostile not in html  # not in the page, not in the SVG text either
    assert "&lt;img src=x onerror=alert(2)&gt; a beats b" in html and "&lt;script&gt;alert(3)" in html
    assert 'id="claims"' in html and "direction reproduced, effect size differs" in html  # +20 vs +10 printed
    md = render_markdown({"t1": table}, v, claims)
    assert "| claim | verdict | pairs |" in md and "a beats b" in md


def test_svg_guard_refuses_scripts():
    from bench.report.plots import no_script

    assert no_script('<svg><text>on = 1, one=2</text></svg>')
    for bad in ('<svg><script>x</script></svg>', '<svg><rect onload="x"/></svg>'):
        with pytest.raises(ValueError):
            no_script(bad)


def test_a_cell_with_one_run_renders(judged, tmp_path):
    """One seed: its value and seed read back from CSV as numbers, not text."""
    table, runs, v = judged
    one = v.copy()
    one.loc[0, ["values", "seeds", "n_runs"]] = ["90.1000", "0", 1]
    path = tmp_path / "v.csv"
    one.to_csv(path, index=False)
    html = render_html({"t1": table}, pd.read_csv(path))
    assert "n=1: 90.1)" in html


def test_compute_counts_every_device_of_a_run(tmp_path):
    """A run on 8 GPUs for an hour is 8 device-hours in the summary (and in results/summary.json)."""
    from bench.judge.verdicts import judge_claims
    from bench.judge.verdicts import summary

    table = parse_table("t.yaml", TABLE)
    for entry in ("ea", "eb"):
        for seed in (0, 1):
            write_json(tmp_path / "runs" / entry / str(seed) / "metrics.json",
                       {"status": "ok", "top1": 90.0 + seed, "top1_err": 10.0 - seed, "wall_time_s": 3600.0,
                        "device_hours": 8.0, "devices": 8})
    runs = collect({"t1": table}, [0, 1], tmp_path / "runs")
    v = judge({"t1": table}, runs)
    assert v.device_hours.tolist() == [16.0, 16.0]
    assert summary(v, judge_claims({"t1": table}, runs))["device_hours"] == 32.0
    assert "32.000" in render_html({"t1": table}, v)


def test_a_run_without_a_finite_number_is_failed_never_nan(tmp_path):
    """collect never writes NaN with status ok (one NaN used to turn a DISCREPANT cell INCONCLUSIVE)."""
    from bench.errors import BenchError

    table = parse_table("t.yaml", TABLE)
    for seed, metrics in enumerate([{"top1": 90.0, "top1_err": 10.0}, {"top1_err": 12.0}, {"top1": "nan"}]):
        write_json(tmp_path / "runs/ea" / str(seed) / "metrics.json", {"status": "ok", **metrics})
    runs = collect({"t1": table}, [0, 1, 2], tmp_path / "runs")
    ea = runs[(runs.entry == "ea") & (runs.metric == "top1")].set_index("seed")
    assert list(ea.status) == ["ok", "failed", "failed"] and "no finite 'top1'" in ea.loc[1, "reason"]
    assert not ea[ea.status == "ok"].value.isna().any()
    runs.loc[(runs.entry == "eb") & (runs.metric == "top1"), ["status", "value"]] = ["ok", float("nan")]
    with pytest.raises(BenchError, match="non-finite"):
        judge({"t1": table}, runs)


def test_bench_power_prints_every_table(capsys, monkeypatch):
    from bench.cli import main
    from conftest import ROOT

    monkeypatch.chdir(ROOT)
    assert main(["power", "--verdicts", "does-not-exist.csv"]) == 0
    out = capsys.readouterr().out
    for table in ("embedded_vit", "embedded_sam", "vit_table2", "vit_table5_i21k", "vit_table9", "sam_table10",
                  "sam_table3"):
        assert f"\n{table} " in out
    assert "false fail" in out and "RNG seed 0" in out and "caught80" in out and "margin80" in out
    # what a table can and cannot show, in words: SAM Table 10's single draws at its 0.3 margin
    assert "REPRODUCED at 0 cannot reach 80% at the margin 0.3 with up to 64 seeds" in out
    assert "sigma from prior: paper: SAM Table 3 prints 95% CI half-widths" in out


def test_the_banner_and_direction_aware_badges(judged, tmp_path):
    """eb is DISCREPANT and worse: the gate fails and the banner lists and links it; a cell better than its
    reference is flagged with another badge and does not fail the gate."""
    from bench.judge.gate import check

    table, _, v = judged
    html = render_html({"t1": table}, v)
    assert "CI gate: FAIL" in html and 'href="#cell-eb"' in html and 'id="cell-eb"' in html
    assert 'class="badge DISCREPANT worse">DISCREPANT: worse<' in html
    better = v.copy()
    better.loc[better.entry == "eb", "worse"] = False
    html = render_html({"t1": table}, better)
    assert "CI gate: PASS" in html and 'class="badge DISCREPANT better">DISCREPANT: better<' in html
    assert "Flagged, not failing" in html
    better.to_csv(tmp_path / "v.csv", index=False)
    assert check(str(tmp_path / "v.csv")) == 0  # the gate and the banner agree


def test_numbers_keep_their_printed_digits():
    from bench.report import numbers

    assert numbers.printed(14.0, "14.00") == "14.00" and numbers.printed(14.0, "") == "14.00"
    assert numbers.decimals("88.5") == 1 and numbers.decimals("<0.1") == 1 and numbers.decimals("88") == 0
    assert numbers.number(float("nan")) == "–" and numbers.signed(-0.5, 1) == "-0.5"
    assert numbers.p_value(0.0004) == "p < 0.001" and numbers.p_value(0.0123) == "p = 0.012"
    t = parse_table("t.yaml", TABLE.replace("value: 90.0,", "value: 14.00,"))
    assert t.entries["ea"].published.printed == "14.00"


def test_other_suites_collapse_to_one_line(judged):
    table, _, v = judged
    html = render_html({"t1": table}, v.assign(n_runs=0), selected=set(), seeds=3)
    assert '<details class="suite" id="t1"><summary><strong>' in html and "not run: " in html
    assert '<h2 id="t1">' in render_html({"t1": table}, v, selected=set())  # a table with runs stays open


def test_compare_lists_the_cells_that_moved_with_their_verdict_change(judged, tmp_path, monkeypatch):
    import subprocess

    from bench.cli import main

    _, _, v = judged
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    monkeypatch.chdir(tmp_path)
    for k, val in env.items():
        monkeypatch.setenv(k, val)
    (tmp_path / "results").mkdir()
    v.to_csv("results/verdicts.csv", index=False)
    subprocess.run(["git", "init", "-q"], check=True)
    subprocess.run(["git", "add", "-A"], check=True)
    subprocess.run(["git", "commit", "-qm", "before"], check=True)
    after = v.copy()
    after.loc[after.entry == "eb", ["mean", "verdict", "worse"]] = [79.9, "REPRODUCED", False]
    after.to_csv("results/verdicts.csv", index=False)
    assert main(["report", "--compare", "HEAD"]) == 0
    out = [line for line in capsys_lines(main, ["report", "--compare", "HEAD"])]
    assert any("`eb`" in line and "DISCREPANT: worse → REPRODUCED" in line and "+9.9" in line for line in out)
    assert not any("`ea`" in line for line in out)  # unchanged cells are not listed
    assert main(["report", "--compare", "no-such-rev"]) == 2


def capsys_lines(main, argv):
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        main(argv)
    return buf.getvalue().splitlines()


def test_learning_curves_from_the_runs_per_step_logs(judged, tmp_path):
    """One panel per cell that ran, seeds overlaid, from runs/<entry>/<seed>/dvclive/.../train/*.tsv."""
    from bench.report.plots import learning_curves
    from bench.io import series_dir

    table, runs, v = judged
    for seed in (0, 1):
        d = series_dir(tmp_path / "runs" / "ea" / str(seed))
        d.mkdir(parents=True)
        (d / "loss.tsv").write_text("step\tloss\n" + "".join(f"{s}\t{2.0 / s}\n" for s in range(1, 11)))
        (d / "lr.tsv").write_text("step\tlr\n" + "".join(f"{s}\t{0.1 * (1 - s / 10)}\n" for s in range(1, 11)))
    svg = learning_curves(table, tmp_path / "runs", {"ea": [0, 1, 2], "eb": [0]})
    assert svg.startswith("<svg") and "seed 0" in svg and "seed 1" in svg and "training loss" in svg
    assert learning_curves(table, tmp_path / "none", {"ea": [0]}) is None
    html = render_html({"t1": table}, v, runs=runs, runs_dir=tmp_path / "runs")
    assert html.count("training loss") >= 1


@pytest.mark.slow
def test_dvc_metrics_diff_names_the_cell_that_moved(judged, tmp_path):
    """results/summary.json keeps per-cell means and deltas under the entry's id: `dvc metrics diff`
    between two revisions shows which cell moved and by how much."""
    import json
    import subprocess

    from bench.judge.verdicts import judge_claims, summary

    table, runs, v = judged
    run = lambda *a: subprocess.run(a, cwd=tmp_path, capture_output=True, text=True, check=True)  # noqa: E731
    env = ["-c", "user.name=t", "-c", "user.email=t@t"]
    run("git", "init", "-q")
    run("dvc", "init", "-q")
    (tmp_path / "dvc.yaml").write_text("metrics:\n  - summary.json\n")
    first = summary(v, judge_claims({"t1": table}, runs))
    assert set(first) == {"cells", "verdicts", "claims", "device_hours"} and set(first["cells"]) == {"ea", "eb"}
    (tmp_path / "summary.json").write_text(json.dumps(first))
    run("git", "add", "-A")
    run("git", *env, "commit", "-qm", "first")
    moved = v.copy()
    moved.loc[moved.entry == "eb", "mean"] += 1.5
    (tmp_path / "summary.json").write_text(json.dumps(summary(moved, judge_claims({"t1": table}, runs))))
    diff = run("dvc", "metrics", "diff", "--json").stdout
    changes = json.loads(diff)["summary.json"]
    assert set(changes) == {"cells.eb.mean"} and changes["cells.eb.mean"]["diff"] == pytest.approx(1.5, abs=1e-3)
