"""Bad flags and hand-edited or foreign data: one line naming the flag or the file and field, exit 2, nothing
written, never a traceback nor a silently different result (cost and power flags, results CSVs, study records,
published values, `bench workers --devices`, study arms)."""

from __future__ import annotations

import json
import shutil

import pytest

from bench.cli import main
from bench.errors import BenchError, TableError
from conftest import ROOT

CELL = "embedded_study.sgd.digits"
STUDY = (ROOT / "experiments/studies/embedded_study.yaml").read_text()


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """The experiments, params, committed results and study records, copied; the working directory."""
    for name in ("experiments", "params.yaml", "results", "studies"):
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy)(ROOT / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _usage_error(args: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


@pytest.mark.parametrize("args, says", [
    (["suite", "cost", "embedded", "--mfu", "0"], "argument --mfu: '0' is not a fraction in (0, 1]"),
    (["suite", "cost", "embedded", "--mfu", "-0.4"], "argument --mfu: '-0.4' is not a fraction"),
    (["suite", "cost", "embedded", "--mfu", "nan"], "argument --mfu: 'nan' is not a fraction"),
    (["suite", "cost", "embedded", "--mfu", "5"], "argument --mfu: '5' is not a fraction"),
    (["suite", "cost", "embedded", "--gpus", "0"], "argument --gpus: 0 is outside [1, 100000]"),
    (["study", "cost", "embedded_study", "--mfu", "0"], "argument --mfu: '0' is not a fraction"),
    (["study", "cost", "embedded_study", "--mfu", "inf"], "argument --mfu: 'inf' is not a fraction"),
    (["power", "--seeds", "1000000"], "argument --seeds: 1000000 is outside [2, 64]"),
    (["power", "--seeds", "-3"], "argument --seeds: -3 is outside [2, 64]"),
    (["power", "--seeds", "0"], "argument --seeds: 0 is outside [2, 64]"),
    (["power", "--seeds", "1"], "argument --seeds: 1 is outside [2, 64]"),
    (["study", "cell", "--cell", CELL, "--threads", "-2"], "argument --threads: -2 is outside [0, 1024]"),
])
def test_cost_and_power_flags_out_of_range_are_usage_errors(args, says, capsys):
    assert says in _usage_error(args, capsys)


@pytest.mark.parametrize("command", [["suite", "cost", "embedded"], ["study", "cost", "embedded_study"]])
def test_an_unknown_card_lists_the_cards(command, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main([*command, "--card", "Z80"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: --card 'Z80': unknown card; valid choices: A100, H100")


def test_power_refuses_a_garbage_verdicts_file(repo, capsys):
    (repo / "garbage.csv").write_text("x,y\n1,2\nfoo,bar\n")
    assert main(["power", "--verdicts", "garbage.csv"]) == 2
    assert capsys.readouterr().err == ("error: garbage.csv: not a verdicts file of this harness (no column 'table'); "
                                       "rerun `bench stats` (or `dvc repro`) to write it\n")


@pytest.mark.parametrize("value, says", [("high", "line 2: value: expected a number, got 'high'"),
                                         ("250", "line 2: value: 250.0 is not a percentage in [0, 100]")])
def test_stats_refuses_a_hand_edited_runs_file_and_writes_nothing(repo, capsys, value, says):
    lines = (repo / "results/runs.csv").read_text().splitlines(keepends=True)
    head, first = lines[0].split(","), lines[1].split(",")
    first[head.index("value")] = value
    (repo / "results/runs.csv").write_text(lines[0] + ",".join(first) + "".join(lines[2:]))
    verdicts = (repo / "results/verdicts.csv").read_bytes()
    assert main(["stats"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: results/runs.csv: {says}")
    assert (repo / "results/verdicts.csv").read_bytes() == verdicts


def test_collect_fails_a_run_whose_number_is_not_a_percentage(tmp_path):
    from bench.io import write_json
    from bench.judge.collect import collect
    from bench.tables.table import parse_table
    from test_experiments import GOOD

    table = parse_table("t.yaml", GOOD)
    write_json(tmp_path / "e1/0/metrics.json", {"status": "ok", "top1": 250.0, "top1_err": -150.0})
    runs = collect({"t1": table}, [0], tmp_path)
    row = runs[runs.metric == "top1"].iloc[0]
    assert row.status == "failed" and row.value != row.value
    assert row.reason == f"{tmp_path / 'e1/0/metrics.json'}: top1 is 250.0, not a percentage in [0, 100]"


@pytest.mark.parametrize("value", ["-5", "150"])
def test_a_published_value_must_be_a_percentage(value):
    from bench.tables.table import parse_table
    from test_experiments import GOOD

    with pytest.raises(TableError) as info:
        parse_table("t.yaml", GOOD.replace("value: 90.0", f"value: {value}"))
    assert str(info.value) == (f"t.yaml: entries.e1.published.value: {value} is not a percentage: a top1 value "
                               "lies in [0, 100]")


@pytest.mark.parametrize("text, says", [
    (lambda r: json.dumps({**r, "top1": "high"}), "top1: expected a number in [0, 100], got 'high'"),
    (lambda r: '{"status": "ok", "top1": 9', "not valid JSON"),
    (lambda r: json.dumps({**r, "seed": 3}), "seed: expected 2 (the file's name), got 3"),
])
def test_study_analyze_names_a_bad_final_record_and_the_file_to_delete(repo, capsys, text, says):
    path = repo / "studies" / CELL / "final" / "2.json"
    path.write_text(text(json.loads(path.read_text())))
    assert main(["study", "analyze"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: studies/{CELL}/final/2.json: {says}")
    assert err.rstrip().endswith(f"delete it and rerun `bench study cell --cell {CELL}` (or `dvc repro`) (that seed "
                                 "is trained again)")


def test_the_study_stage_retrains_a_seed_whose_record_is_broken(repo, monkeypatch, capsys):
    import bench.train.loop as loop
    from bench.study.final import final_runs
    from bench.tables.params import every_suite
    from bench.tables.study import load_study

    study = load_study("embedded_study", every_suite("params.yaml")[1])
    best = json.loads((repo / "studies" / CELL / "tune/best.json").read_text())
    final = repo / "final"
    trained = []
    monkeypatch.setattr(loop, "train", lambda plan, seed, *a, **k: trained.append(seed) or (
        {"top1": 90.0 + seed, "wall_time_s": 1.0, "device_hours": 0.0, "device_name": "x", "git_commit": "x",
         "test_split": "test", "test_examples": 450}, None))
    monkeypatch.setattr("bench.data.spec.data_spec", lambda d, dd: type("S", (), {"num_classes": 10}))
    first = final_runs(study, "sgd", "digits", best, final, "no-data")
    (final / "2.json").write_text('{"status"')
    trained.clear()
    assert final_runs(study, "sgd", "digits", best, final, "no-data") == first
    assert trained == [2]  # the others read back as they were
    assert (f"{final / '2.json'}: not a valid record (not valid JSON" in capsys.readouterr().out)


def test_the_report_refuses_a_garbage_study_results_file(repo, capsys):
    (repo / "results/studies/embedded_study/runs.csv").write_bytes(b"\x00\x01garbage\n;;;\n")
    assert main(["report"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: results/studies/embedded_study/runs.csv: not a study "
                                                   "runs file of this harness")
    assert not (repo / "reports").exists()


def test_workers_devices_must_be_device_ids():
    from bench.scale.workers import visible_devices

    with pytest.raises(BenchError, match=r"--devices a,b: 'a' is not a device id: an index \(0, 1, ...\) or a "
                                         r"GPU-/MIG- UUID"):
        visible_devices("a,b", None)
    assert visible_devices("GPU-8a1b,1", None) == ["GPU-8a1b", "1"]


@pytest.fixture(scope="module")
def tables():
    from bench.tables.params import every_suite

    return every_suite(str(ROOT / "params.yaml"))[1]


@pytest.mark.parametrize("old, new, field, says", [
    # the baseline arm's `against` would be ignored: refused
    ("    text: \"SGD with momentum 0.9 (the baseline)\"\n",
     "    text: \"SGD with momentum 0.9 (the baseline)\"\n    against: sam\n", "arms.sgd.against",
     "'sgd' is the baseline arm"),
    # refused already (kept here so that they stay refused)
    ("    against: sam\n", "    against: adamw_sam\n", "arms.adamw_sam.against", "cannot be compared with itself"),
    ("seeds: [0, 1, 2, 3, 4]", "seeds: [0, true, 2, 3, 4]", "seeds[1]", "expected int, got bool True"),
    ("seed: 0, startup", "seed: true, startup", "tuning.seed", "expected int, got bool True"),
    ("startup_trials: 4", "startup_trials: 40", "tuning.startup_trials", "exceed the budget of 12 trials"),
])
def test_study_semantics_are_checked(tables, old, new, field, says):
    from bench.tables.study import parse_study

    assert old in STUDY
    with pytest.raises(TableError) as info:
        parse_study("s.yaml", STUDY.replace(old, new, 1), tables)
    assert info.value.field == field and says in info.value.message
