"""A study cell's tuning journal survives a full disk and a torn or corrupt line: one clear line for a failed write,
the finished trials kept for the rerun; a torn last line set aside; a bad line elsewhere named, with a repair
command that sets it aside. Training is a fixed learning curve (microseconds a trial)."""

from __future__ import annotations

import errno
import json

import pytest

from conftest import ROOT
from test_study_replay import _fake_train

CELL = "embedded_study.sgd.digits"


@pytest.fixture
def study(monkeypatch):
    import bench.train.loop as loop
    from bench.tables.params import every_suite
    from bench.tables.study import load_study

    curve = _fake_train([])

    def train(*args, **kwargs):  # the keys a final run records, too
        metrics, _ = curve(*args, **kwargs)
        return {**metrics, "wall_time_s": 0.0, "device_name": "none", "git_commit": "none", "test_split": "test",
                "test_examples": 450}, None

    monkeypatch.setattr(loop, "train", train)
    return load_study("embedded_study", every_suite(str(ROOT / "params.yaml"))[1])


def _trials(out):
    """(number, state, params, value, intermediate values) of every trial in the journal under `out`."""
    import optuna

    from bench.study.tune import _storage

    stored = optuna.load_study(study_name=CELL, storage=_storage(out)).get_trials(deepcopy=False)
    return [(t.number, t.state.name, t.params, t.value, t.intermediate_values) for t in stored]


def _repo(tmp_path):
    """experiments/ and params.yaml in `tmp_path`, for the CLI."""
    import shutil

    shutil.copytree(ROOT / "experiments", tmp_path / "experiments")
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")


def _finished(trials):
    return [t for t in trials if t[1] in ("COMPLETE", "PRUNED")]


def _full_disk_after(monkeypatch, writes: int) -> None:
    """The journal's disk fills after `writes` appends: the next one gets half its bytes out, then ENOSPC."""
    from optuna.storages.journal import JournalFileBackend

    left = {"n": writes}
    real = JournalFileBackend.append_logs

    def append_logs(self, logs):
        left["n"] -= 1
        if left["n"] >= 0:
            return real(self, logs)
        text = ("\n".join(json.dumps(log, separators=(",", ":")) for log in logs) + "\n").encode()
        with open(self._file_path, "ab") as f:
            f.write(text[: len(text) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(JournalFileBackend, "append_logs", append_logs)


def test_a_full_disk_is_one_line_and_the_rerun_keeps_every_finished_trial(study, tmp_path, monkeypatch):
    from bench.errors import BenchError
    from bench.study.tune import tune

    out = tmp_path / "tune"
    with monkeypatch.context() as m:
        _full_disk_after(m, 60)
        with pytest.raises(BenchError) as info:
            tune(study, "sgd", "digits", out, tmp_path / "no-data")
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{out / 'optuna.log'}: cannot write the tuning journal: "
                                                      "No space left on device (errno 28)")
    assert (out / "optuna.log").read_bytes().endswith(b"\n")  # the half record was taken back
    before = _finished(_trials(out))
    assert 2 <= len(before) < study.trials
    best = tune(study, "sgd", "digits", out, tmp_path / "no-data")  # space freed: the rerun
    after = _trials(out)
    assert _finished(after)[: len(before)] == before  # every finished trial kept, as it was
    assert best["trials"] == study.trials and len([t for t in after if t[1] != "FAIL"]) == study.trials


def test_a_torn_last_line_is_set_aside_and_the_tuning_continues(study, tmp_path, capsys):
    from bench.study.tune import tune

    out = tmp_path / "tune"
    tune(study, "sgd", "digits", out, tmp_path / "no-data")
    lines = (out / "optuna.log").read_bytes().splitlines(keepends=True)
    kept = b"".join(lines[:40])
    (out / "optuna.log").write_bytes(kept + lines[40][:50])  # a write stopped by a kill, or a full disk
    before = _finished(_trials_from_bytes(tmp_path, kept))
    capsys.readouterr()
    best = tune(study, "sgd", "digits", out, tmp_path / "no-data")
    said = [line for line in capsys.readouterr().out.splitlines() if "set aside" in line]
    assert said == [f"{out / 'optuna.log'}: its last line (line 41) was cut off by an interrupted write: set aside "
                    "in optuna.log.torn-1; the tuning continues from the 40 records before it"]
    assert (out / "optuna.log.torn-1").read_bytes() == lines[40][:50]
    assert (out / "optuna.log").read_bytes().startswith(kept)
    assert _finished(_trials(out))[: len(before)] == before and best["trials"] == study.trials


def _trials_from_bytes(tmp_path, data: bytes):
    where = tmp_path / "copy"
    where.mkdir(exist_ok=True)
    (where / "optuna.log").write_bytes(data)
    return _trials(where)


def test_a_bad_line_in_the_middle_is_named_with_the_repair(study, tmp_path, monkeypatch, capsys):
    from bench.cli import main
    from bench.errors import BenchError
    from bench.study.tune import tune

    out = tmp_path / CELL / "tune"
    tune(study, "sgd", "digits", out, tmp_path / "no-data")
    lines = (out / "optuna.log").read_bytes().splitlines(keepends=True)
    cut = lines[:29] + [lines[29][:40] + b"\n"] + lines[30:]
    (out / "optuna.log").write_bytes(b"".join(cut))
    with pytest.raises(BenchError) as info:
        tune(study, "sgd", "digits", out, tmp_path / "no-data")
    assert str(info.value).startswith(f"{out / 'optuna.log'}: line 30 is not a whole journal record")
    assert f"Run `bench study repair {CELL} --out-dir {tmp_path}`" in str(info.value)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert main(["study", "repair", CELL, "--out-dir", "."]) == 2  # no terminal, no --yes: nothing changed
    assert "confirm with --yes" in capsys.readouterr().err
    assert (out / "optuna.log").read_bytes() == b"".join(cut)
    assert main(["study", "repair", CELL, "--out-dir", ".", "--yes"]) == 0
    assert "line 30: not a whole record (41 bytes): set aside" in capsys.readouterr().out
    assert (out / "optuna.log.bad-1").read_bytes() == lines[29][:40] + b"\n"
    assert (out / "optuna.log").read_bytes() == b"".join(lines[:29] + lines[30:])
    best = tune(study, "sgd", "digits", out, tmp_path / "no-data")  # replays; a trial whose record went reruns
    assert best["trials"] == study.trials


def test_a_rerun_glued_to_a_torn_line_is_repaired_keeping_the_whole_record(study, tmp_path, monkeypatch, capsys):
    """What a rerun did before: it appended to the torn line, so a whole record follows the torn one on line 40."""
    from bench.cli import main
    from bench.study.tune import tune

    out = tmp_path / "studies" / CELL / "tune"
    tune(study, "sgd", "digits", out, tmp_path / "no-data")
    lines = (out / "optuna.log").read_bytes().splitlines(keepends=True)
    (out / "optuna.log").write_bytes(b"".join(lines[:39]) + lines[39][:60] + b"".join(lines[40:]))
    _repo(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["study", "cell", "--cell", CELL, "--threads", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"Run `bench study repair {CELL}` to set" in err
    assert main(["study", "repair", CELL, "--yes"]) == 0
    assert "line 40: a cut-off record (60 bytes) with a whole record after it" in capsys.readouterr().out
    assert (out / "optuna.log").read_bytes() == b"".join(lines[:39] + lines[40:])
    assert (out / "optuna.log.bad-1").read_bytes() == lines[39][:60] + b"\n"
    assert main(["study", "repair", CELL, "--yes"]) == 0
    assert "nothing to repair" in capsys.readouterr().out


def test_bench_study_cell_on_a_full_disk_exits_2_with_one_line(study, tmp_path, monkeypatch, capfd):
    import types

    import bench.data.spec as spec
    from bench.cli import main

    monkeypatch.setattr(spec, "data_spec", lambda dataset, data_dir: types.SimpleNamespace(num_classes=10))
    _repo(tmp_path)
    monkeypatch.chdir(tmp_path)
    _full_disk_after(monkeypatch, 30)
    assert main(["study", "cell", "--cell", CELL, "--threads", "1"]) == 2
    err = capfd.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1 and "No space left on device (errno 28)" in err


def test_study_cell_threads_default_to_params(study, tmp_path, monkeypatch):
    """With no --threads, a cell runs at params.yaml's train.threads (1), the count its journal was made at."""
    import types

    import torch

    import bench.data.spec as spec
    from bench.cli import main

    monkeypatch.setattr(spec, "data_spec", lambda dataset, data_dir: types.SimpleNamespace(num_classes=10))
    _repo(tmp_path)
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text().replace("threads: 1 ", "threads: 3 "))
    monkeypatch.chdir(tmp_path)
    seen = []
    monkeypatch.setattr(torch, "set_num_threads", seen.append)
    assert main(["study", "cell", "--cell", CELL]) == 0
    assert seen == [3]


def test_the_report_says_what_a_rerun_of_a_study_can_differ_in(tmp_path):
    from bench.judge.collect import collect
    from bench.judge.verdicts import judge
    from bench.report import render_html
    from bench.report.studies import sections
    from bench.tables.table import parse_table
    from test_experiments import GOOD

    table = parse_table("t.yaml", GOOD)
    verdicts = judge({"t1": table}, collect({"t1": table}, [0, 1], tmp_path))
    html = render_html({"t1": table}, verdicts, studies=sections(ROOT / "results/studies"))
    assert "the same CPU thread count (<code>train.threads</code>) on the same machine" in html
    assert "a statistical replication of the study" in html
