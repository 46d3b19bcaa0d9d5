"""Faults and hostile input: failed runs, atomic outputs, full disks, path escapes, fuzzed table files."""

from __future__ import annotations

import errno
import json
import os

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.cli import main
from bench.errors import BenchError, TableError
from bench.tables.table import parse_table
from bench.io import write_json, write_text
from test_experiments import GOOD
from bench.judge.collect import read_run


def _stage_dirs(tmp_path, plan):
    (tmp_path / "plan").mkdir()
    (tmp_path / "select").mkdir()
    (tmp_path / "plan" / "tiny.json").write_text(json.dumps({**plan, "data": {}}))
    (tmp_path / "select" / "tiny.json").write_text(json.dumps({"entry": "tiny", "param": None}))


def test_nan_run_is_recorded_as_failed_and_never_becomes_a_number(digits_dir, tmp_path, monkeypatch, capsys):
    import bench.train.loop as loop
    from bench.judge.collect import collect
    from bench.judge.verdicts import judge
    from conftest import tiny_plan

    real = loop.sgd_step
    monkeypatch.setattr(loop, "sgd_step", lambda *a, **k: real(*a, **k) * float("inf"))
    monkeypatch.chdir(tmp_path)
    _stage_dirs(tmp_path, tiny_plan(steps=5))
    assert main(["train", "--entry", "tiny", "--seed", "0", "--data-dir", str(digits_dir)]) == 0
    metrics = read_run(tmp_path / "runs/tiny/0")
    assert metrics["status"] == "failed" and metrics["step"] == 0 and "not finite" in metrics["reason"]
    assert "top1" not in metrics and "FAILED" in capsys.readouterr().err
    table = parse_table("t.yaml", GOOD.replace("  e1:", "  tiny:"))
    runs = collect({"t1": table}, [0, 1], tmp_path / "runs")
    failed = runs[(runs.seed == 0)]
    assert set(failed.status) == {"failed"} and failed.value.isna().all()
    verdict = judge({"t1": table}, runs).iloc[0]
    assert verdict.verdict == "UNAVAILABLE" and "failed" in verdict.reason


@pytest.mark.parametrize("entry", ["../escape", "/abs/path", "a/b", "UPPER", ""])
def test_entry_ids_cannot_escape_the_run_directories(entry, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for command in ("train", "select"):
        args = [command, "--entry", entry] + (["--seed", "0"] if command == "train" else [])
        assert main(args) == 2
        assert "is not an entry id" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_outputs_are_atomic_when_the_rename_fails(tmp_path, monkeypatch):
    target = tmp_path / "metrics.json"
    write_json(target, {"old": 1})

    def broken(src, dst):
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(BenchError, match="cannot write .*metrics.json: I/O error"):
        write_json(target, {"new": 2})
    assert json.loads(target.read_text()) == {"old": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temporary file left


def test_outputs_are_atomic_when_killed_midway(tmp_path, monkeypatch):
    target = tmp_path / "report.html"
    write_text(target, "old")
    real_fsync = os.fsync

    def killed(fd):
        raise KeyboardInterrupt  # the process dies after writing part of the new file

    monkeypatch.setattr(os, "fsync", killed)
    with pytest.raises(KeyboardInterrupt):
        write_text(target, "new " * 1000)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_full_disk_is_a_clear_error_not_a_traceback(tmp_path, monkeypatch, capsys):
    from bench.train.checkpoint import write_checkpoint

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(BenchError, match=r"cannot write .*checkpoint.pt: No space left on device"):
        write_checkpoint(tmp_path / "run" / "checkpoint.pt", {"w": 1})
    assert list((tmp_path / "run").iterdir()) == []
    # through the CLI: exit status 2 and one line on stderr
    (tmp_path / "params.yaml").write_text("suite: s\nsuites: {s: [t.yaml]}\nseeds: [0, 1]\nentries: [e1]\n")
    (tmp_path / "t.yaml").write_text(GOOD)
    monkeypatch.chdir(tmp_path)
    assert main(["published"]) == 0  # reading works
    assert main(["verdict", "--published", "1", "--kind", "none", "--values", "1", "2", "--margin", "1",
                 "--lower-is-better"]) == 0
    capsys.readouterr()
    assert main(["collect", "--out", "results/runs.csv"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot write results/runs.csv: No space left on device") and "Traceback" not in err


def test_unwritable_output_directory(tmp_path):
    (tmp_path / "file").write_text("x")  # a file where a directory should be
    with pytest.raises(BenchError, match="cannot write"):
        write_text(tmp_path / "file" / "out.csv", "a,b\n")


# --- the table-file loader under fuzzing: only TableError, naming the file ---

scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-10**30, max_value=10**30),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20))
documents = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(st.text(max_size=12), st.integers()), inner, max_size=5)),
    max_leaves=25)


def _must_fail_cleanly(text: str) -> None:
    try:
        parse_table("fuzz.yaml", text)
    except TableError as exc:
        assert "fuzz.yaml" in str(exc)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_fuzz_arbitrary_text(text):
    _must_fail_cleanly(text)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_fuzz_arbitrary_yaml_documents(doc):
    _must_fail_cleanly(yaml.safe_dump(doc, allow_unicode=True))


KEYS = ["version", "id", "metric", "margin", "dispersion", "layout", "entries", "source", "claims", "costs"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(KEYS), documents, st.sampled_from(["row", "column", "model", "recipe", "dataset",
                                                          "published", "checkpoint", "derived"]), documents)
@pytest.mark.slow
def test_fuzz_one_field_of_a_good_table(top_key, top_value, entry_key, entry_value):
    doc = yaml.safe_load(GOOD)
    doc[top_key] = top_value
    _must_fail_cleanly(yaml.safe_dump(doc, allow_unicode=True))
    doc = yaml.safe_load(GOOD)
    doc["entries"]["e1"][entry_key] = entry_value
    _must_fail_cleanly(yaml.safe_dump(doc, allow_unicode=True))


def test_yaml_is_loaded_safely():
    evil = "!!python/object/apply:os.system ['echo owned']"
    with pytest.raises(TableError, match="malformed YAML"):
        parse_table("evil.yaml", evil)


def test_final_weights_are_kept_only_when_asked_and_their_digest_always(digits_dir, tmp_path, monkeypatch):
    """train.keep_checkpoint false (the default): checkpoint.pt is a small record; run.json has the weights'
    digest either way, the same digest as the kept weights of the same run."""
    import torch

    from bench.train.checkpoint import weights_sha256
    from conftest import tiny_plan

    monkeypatch.chdir(tmp_path)
    _stage_dirs(tmp_path, tiny_plan(steps=3))
    base = ["train", "--entry", "tiny", "--seed", "0", "--data-dir", str(digits_dir)]
    assert main(base) == 0
    assert main(base + ["--runs-dir", "kept", "--keep-checkpoint", "true"]) == 0
    record = torch.load(tmp_path / "runs/tiny/0/checkpoint.pt")
    weights = torch.load(tmp_path / "kept/tiny/0/checkpoint.pt")
    assert record["status"] == "not kept" and "classifier.weight" not in str(record.keys())
    run, kept = (json.loads((tmp_path / d / "tiny/0/run.json").read_text()) for d in ("runs", "kept"))
    assert run["weights_sha256"] == kept["weights_sha256"] == record["weights_sha256"] == weights_sha256(weights)
    assert (run["checkpoint_kept"], kept["checkpoint_kept"]) == (False, True)
    assert (tmp_path / "runs/tiny/0/checkpoint.pt").stat().st_size < 2000
