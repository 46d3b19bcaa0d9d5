"""Bad flags: one line naming the flag, exit 2, never a traceback nor a silently different result (the cost and
power flags, a foreign verdicts file)."""

from __future__ import annotations

import shutil

import pytest

from bench.cli import main
from conftest import ROOT


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
    (["power", "--seeds", "1000000"], "argument --seeds: 1000000 is outside [2, 1000]"),
    (["power", "--seeds", "-3"], "argument --seeds: -3 is outside [2, 1000]"),
    (["power", "--seeds", "0"], "argument --seeds: 0 is outside [2, 1000]"),
    (["power", "--seeds", "1"], "argument --seeds: 1 is outside [2, 1000]"),
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
