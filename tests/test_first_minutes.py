"""What a new user meets first: no verdict against an inherited reference, table errors before any
training, readable outputs, honest provenance, offline preparation in seconds, progress lines."""

import json
import os
import stat
import subprocess
import textwrap

import pandas as pd
import pytest
import yaml

from bench.errors import TableError
from bench.tables.table import load_tables, parse_table
from conftest import PREPROCESS, PROTOCOL_FIELDS, ROOT, sources_block

FIELDS = PROTOCOL_FIELDS + ("model_kwargs.img_size", "model_kwargs.patch_size", "model_kwargs.depth")
ENTRY = """\
      row: r
      column: COLUMN
      model: vit_tiny_patch16_224
      model_kwargs: {img_size: 8, patch_size: 4, depth: 1}
      dataset: {name: sklearn_digits, train_split: train, test_split: test}
      recipe:
        optimizer: {name: sgd, lr: 0.1}
        steps: 10
        batch_size: 8
        resolution: 8
        PREPROCESS
"""


def table(entries: str, claims: str = "") -> str:
    head = textwrap.dedent("""\
        version: 2
        id: t1
        title: T
        source: {kind: recorded, recorded_on: "2026-11-28", commit: abc, command: c, machine: m}
        metric: top1
        dispersion: {kind: std, n: 5}
        margin: 1.0
        layout: {rows: [r], columns: [a, b]}
        """)
    return head + claims + sources_block(fields=FIELDS) + "entries:\n" + entries.replace("PREPROCESS", PREPROCESS)


def entry(name: str, column: str, extra: str = "", anchor: str = "") -> str:
    return f"  {name}:{anchor}\n" + ENTRY.replace("COLUMN", column) + extra


PUB = '      published: {value: 90.0, dispersion: 0.5, source: "recorded"}\n'


def test_a_published_value_inherited_through_a_yaml_merge_is_rejected_naming_both_entries():
    text = table(entry("vit_a", "a", PUB, " &base") + "  vit_b:\n    <<: *base\n    column: b\n")
    with pytest.raises(TableError) as err:
        parse_table("t.yaml", text)
    message = str(err.value)
    assert "t.yaml: entries.vit_b.published" in message and "'vit_a'" in message and "<<" in message


def test_an_entry_may_merge_everything_but_write_its_own_published_value():
    own = '    published: {value: 80.0, dispersion: 0.5, source: "recorded"}\n'
    t = parse_table("t.yaml", table(entry("vit_a", "a", PUB, " &base") + "  vit_b:\n    <<: *base\n    column: b\n"
                                    + own))
    assert t.entries["vit_b"].published.value == 80.0
    assert t.entries["vit_b"].model_kwargs == {"img_size": 8, "patch_size": 4, "depth": 1}
    assert type(t.entries["vit_b"].model_kwargs) is dict  # plain data in plans, no yaml nodes


def test_an_entry_without_a_reference_is_exploratory_never_gating(tmp_path):
    from bench.judge.gate import check
    from bench.judge.verdicts import judge

    t = parse_table("t.yaml", table(entry("vit_a", "a", PUB) + entry("vit_b", "b")))
    assert t.entries["vit_b"].published is None
    runs = pd.DataFrame([{"entry": e, "seed": s, "metric": "top1", "value": v, "status": "ok", "reason": "",
                          "wall_time_s": 1.0, "device_name": "cpu", "git_commit": "x", "test_examples": 450}
                         for e, vals in (("vit_a", (90.1, 89.9, 90.0)), ("vit_b", (50.0, 51.0, 52.0)))
                         for s, v in enumerate(vals)])
    verdicts = judge({"t1": t}, runs).set_index("entry")
    assert verdicts.loc["vit_b", "verdict"] == "NO_REFERENCE"
    assert verdicts.loc["vit_b", "mean"] == pytest.approx(51.0)
    assert "bench record-reference --entry vit_b" in verdicts.loc["vit_b", "reason"]
    path = tmp_path / "v.csv"
    verdicts.reset_index().to_csv(path, index=False)
    assert check(str(path)) == 0


def test_a_claim_over_an_entry_without_a_reference_is_rejected(tmp_path):
    claims = "claims:\n  - {id: c1, text: t, source: s, direction: higher, pairs: [[vit_b, vit_a]]}\n"
    path = tmp_path / "t.yaml"
    path.write_text(table(entry("vit_a", "a", PUB) + entry("vit_b", "b"), claims))
    with pytest.raises(TableError, match="vit_b.*has no published value"):
        load_tables([path])


def test_a_misspelt_model_argument_fails_validation_on_the_meta_device():
    from bench.train.preflight import check_resources

    text = table(entry("vit_a", "a", PUB).replace("depth: 1", "dept: 1")).replace(
        "model_kwargs.depth:", "model_kwargs.dept:")
    with pytest.raises(TableError) as err:
        check_resources({"t1": parse_table("t.yaml", text)})
    message = str(err.value)
    assert "entries.vit_a.model_kwargs.dept" in message and "did you mean 'depth'" in message


def test_model_arguments_the_harness_sets_are_rejected():
    from bench.train.preflight import check_resources

    text = table(entry("vit_a", "a", PUB).replace("depth: 1", "num_classes: 3"))
    text = text.replace("model_kwargs.depth:", "model_kwargs.num_classes:")
    with pytest.raises(TableError, match="model_kwargs.num_classes: set by the harness"):
        check_resources({"t1": parse_table("t.yaml", text)})


def test_a_negative_seed_is_refused_before_anything_runs(tmp_path):
    from bench.tables.params import load_params

    out = subprocess.run(["bench", "train", "--entry", "vit_p4_digits", "--seed", "-1"], cwd=tmp_path,
                         capture_output=True, text=True)
    assert out.returncode == 2 and "--seed: -1 is outside [0, 2**31)" in out.stderr
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["seeds"] = [0, -1]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(TableError, match="params.yaml: seeds: .*got -1"):
        load_params(tmp_path / "params.yaml")


def test_the_plan_stage_validates_seeds_and_a_failed_train_stage_keeps_its_metrics():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert "seeds" in stages["plan"]["params"]  # a bad seed stops `dvc repro` at plan, before any training
    metrics = stages["train"]["metrics"][0]
    assert next(iter(metrics.values())) == {"cache": False, "persist": True}


def test_outputs_are_readable_by_others(tmp_path):
    from bench.io import write_json

    old = os.umask(0o022)
    try:
        write_json(tmp_path / "m.json", {"a": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "m.json").stat().st_mode) == 0o644


def _git(cwd, *args):
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
           "PATH": os.environ["PATH"]}
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, env=env)


def test_a_run_is_dirty_only_when_its_code_or_its_table_differ(tmp_path, monkeypatch):
    from bench import provenance

    for name in ("bench/x.py", "experiments/a.yaml", "experiments/b.yaml", "params.yaml", "dvc.lock"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("0\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "c")
    monkeypatch.chdir(tmp_path)

    def commit(*files):
        provenance.git_commit.cache_clear()
        return provenance.git_commit(*files)

    for name in ("params.yaml", "dvc.lock", "experiments/b.yaml"):  # rewritten by suite use, exp run, repro
        (tmp_path / name).write_text("1\n")
    assert not commit("experiments/a.yaml").endswith("+dirty")
    (tmp_path / "experiments/a.yaml").write_text("1\n")
    assert commit("experiments/a.yaml").endswith("+dirty")
    _git(tmp_path, "checkout", "--", "experiments/a.yaml")
    (tmp_path / "bench/x.py").write_text("1\n")
    assert commit("experiments/a.yaml").endswith("+dirty")
    provenance.git_commit.cache_clear()
    assert provenance.file_sha256(tmp_path / "params.yaml") == \
        "4355a46b19d348dc2f57c046f8ef63d4538ebb936000f3c9ee954a27460dd865"  # sha256 of "1\n"


def test_content_digests_keep_their_values():
    """Every content hash goes through bench.provenance.digest; these are the values the code before it gave,
    so resume points, select's done.json keys and the study journals' keys stay valid across the change."""
    from pathlib import Path

    import torch

    from bench import provenance
    from bench.train.checkpoint import weights_sha256
    from bench.train.resume import fingerprint

    assert provenance.digest([b"1\n"]) == provenance.digest(["1", b"\n"]) == \
        "4355a46b19d348dc2f57c046f8ef63d4538ebb936000f3c9ee954a27460dd865"  # sha256 of "1\n"
    assert provenance.json_sha256([{"plan": {"z": 1, "a": Path("x")}}, "c0de"]) == \
        "fb7b49bf7fbd58e3001d97acf1cee4b64261139ec14499b21b446d06063e100a"  # sorted keys, str() for a Path
    assert fingerprint({"entry": "e", "recipe": {"lr": 0.1}}, 3, {"device": "cpu", "precision": "fp32"}) == \
        "143cb5cf62ea0b2e51f50f2e815a403dafb65e5c8d425dcc51308550368960e4"
    weights = {"b": torch.arange(6, dtype=torch.float32).reshape(2, 3), "a": torch.tensor(7), "n": "not a tensor"}
    assert weights_sha256(weights) == "f3cc933489e3572bc83a7183f05ae20c9e40bdff33414145df2438d0ae292b41"


def test_plan_prunes_the_outputs_of_entries_no_table_has(tmp_path):
    from bench.cli.pipeline import _prune

    for d in ("runs/kept/0", "runs/gone/0", "runs/.slurm"):
        (tmp_path / d).mkdir(parents=True)
    for f in ("select/kept.json", "select/gone.json"):
        (tmp_path / f).parent.mkdir(exist_ok=True)
        (tmp_path / f).write_text("{}")
    _prune({"kept"}, tmp_path / "runs", tmp_path / "select")
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [".slurm", "kept"]
    assert [p.name for p in (tmp_path / "select").iterdir()] == ["kept.json"]


def test_prepare_offline_records_downloads_unavailable_without_probing_and_builds_the_digits_quietly(
        tmp_path, capsys, monkeypatch):
    from bench.data import prepare as preparing

    def no_probe(*a, **k):
        raise AssertionError("--offline must not probe the network")

    monkeypatch.setattr(preparing, "network", no_probe)
    manifest = preparing.prepare(["sklearn_digits", "cifar10"], tmp_path / "tfds", tmp_path / "manual", offline=True)
    assert manifest["sklearn_digits"]["status"] == "ok"
    assert manifest["cifar10"]["status"] == "unavailable"
    assert "no network (--offline given)" in manifest["cifar10"]["reason"]
    assert str(tmp_path / "manual" / "cifar10") in manifest["cifar10"]["reason"]
    out = capsys.readouterr()
    assert "Unknown size" not in out.out + out.err
    assert "Downloading" not in out.out


def test_the_network_probe_is_bounded(monkeypatch):
    import socket

    from bench.data import prepare

    def refuse(address, timeout):
        assert timeout <= 5
        raise OSError(101, "Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", refuse)
    assert "unreachable" in prepare.network()


def test_every_stage_announces_its_place_and_the_time_left(tmp_path):
    from bench import progress

    runs = tmp_path / "runs"
    for seed, wall in ((0, 10.0), (1, 12.0)):
        (runs / "a" / str(seed)).mkdir(parents=True)
        (runs / "a" / str(seed) / "metrics.json").write_text(json.dumps({"wall_time_s": wall}))
    plans = {"a": {"recipe": {"select": None}}, "b": {"recipe": {"select": {"grid": [0.1, 0.2]}}}}
    rows = progress.estimates(plans, [0, 1], runs)
    assert [r["stage"] for r in rows] == ["prepare", "plan", "select@a", "select@b", "train@a-0", "train@a-1",
                                          "train@b-0", "train@b-1", "collect", "stats", "report"]
    progress.write(tmp_path, rows)
    first = progress.line("train@a-1", tmp_path)
    assert first.startswith("[stage 6/11] train@a-1 · at most about ")
    assert "2 stages not run before (no estimate)" in first
    assert progress.line("report", tmp_path) == "[stage 11/11] report · at most about 6 s left"
    assert progress.line("train@zz-0", tmp_path) is None


def test_study_stages_are_counted_with_their_recorded_time(tmp_path):
    from bench import progress

    studies = tmp_path / "studies"
    (studies / "s.a.d" / "tune").mkdir(parents=True)
    (studies / "s.a.d" / "final").mkdir()
    (studies / "s.a.d" / "tune" / "best.json").write_text(json.dumps({"device_hours": 0.01}))  # 36 s
    for seed in (0, 1):
        (studies / "s.a.d" / "final" / f"{seed}.json").write_text(json.dumps({"device_hours": 0.001}))  # 3.6 s
    rows = progress.estimates({}, [0], tmp_path / "runs", ["s.a.d", "s.b.d"], studies)
    assert [r["stage"] for r in rows] == ["prepare", "plan", "study@s.a.d", "study@s.b.d", "study_stats",
                                          "collect", "stats", "report"]
    assert rows[2]["estimate_s"] == pytest.approx(progress.STARTUP_S + 36.0 + 7.2)
    assert rows[3]["estimate_s"] is None  # never run


def test_a_stage_announces_itself_only_when_dvc_runs_it(tmp_path, monkeypatch, capsys):
    from bench import progress
    from bench.cli import main

    monkeypatch.chdir(tmp_path)
    progress.write(tmp_path / "plan", progress.estimates({"a": {"recipe": {}}}, [0], tmp_path / "runs"))
    main(["show", "--verdicts", "absent.csv"])
    assert "[stage" not in capsys.readouterr().err
    monkeypatch.setenv("DVC_STAGE", "train@a-0")  # what `dvc repro` sets for a stage's command
    main(["show", "--verdicts", "absent.csv"])
    assert capsys.readouterr().err.startswith("[stage 4/7] train@a-0")


def test_record_reference_writes_or_adds_an_entrys_published_line():
    from bench.train.record import _set_published

    text = table(entry("vit_a", "a", PUB) + entry("vit_b", "b"))
    t = parse_table("t.yaml", text)
    added = _set_published(text, t.entries["vit_b"], 51.234, 0.5, "recorded reference: x", "t.yaml")
    replaced = _set_published(added, t.entries["vit_a"], 91.0, 0.25, "recorded reference: y", "t.yaml")
    again = parse_table("t.yaml", replaced)
    assert again.entries["vit_b"].published.value == 51.23 and again.entries["vit_b"].published.dispersion == 0.5
    assert again.entries["vit_a"].published.value == 91.0 and again.entries["vit_a"].published.source.endswith("y")


@pytest.mark.slow
def test_the_readmes_preview_of_a_suite_works_before_it_ever_ran(tmp_path):
    from conftest import copy_repo

    repo = copy_repo(tmp_path / "repo")
    subprocess.run(["bench", "suite", "use", "vit_table2"], cwd=repo, check=True, capture_output=True)
    shown = subprocess.run(["bench", "suite", "show", "vit_table2"], cwd=repo, capture_output=True, text=True)
    listed = subprocess.run(["dvc", "stage", "list"], cwd=repo, capture_output=True, text=True)
    assert shown.returncode == 0 and "vit_t2_" in shown.stdout
    assert listed.returncode == 0, listed.stderr
    assert "select@" in listed.stdout and "train@" in listed.stdout and "-2 " in listed.stdout


@pytest.mark.slow
def test_dvc_keeps_a_persisted_metrics_file_when_its_stage_fails(tmp_path):
    """What dvc.yaml's `persist: true` on metrics.json buys: a failed rerun leaves the previous result."""
    run = lambda *a: subprocess.run(a, cwd=tmp_path, capture_output=True, text=True)  # noqa: E731
    run("git", "init", "-q")
    run("dvc", "init", "-q")
    train = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["train"]
    metrics = train["metrics"][0]
    stages = {"s": {"cmd": "python make.py", "deps": ["dep.txt"],
                    "metrics": [{"m.json": next(iter(metrics.values()))}]}}
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}))
    (tmp_path / "make.py").write_text("import sys\nv = open('dep.txt').read().strip()\n"
                                      "sys.exit(3) if v == 'fail' else open('m.json', 'w').write(v)\n")
    (tmp_path / "dep.txt").write_text("1\n")
    assert run("dvc", "repro").returncode == 0
    (tmp_path / "dep.txt").write_text("fail\n")
    assert run("dvc", "repro").returncode != 0
    assert (tmp_path / "m.json").read_text() == "1"
