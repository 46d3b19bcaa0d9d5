"""params.yaml is read through a declared schema, as the table and study files are: every field checked, with the
file and the field named, before any stage runs; `bench schema` lists its keys."""

from __future__ import annotations

import re
import shutil

import pytest
import yaml

from bench.errors import TableError
from bench.tables.params import load_params
from conftest import ROOT

PARAMS = (ROOT / "params.yaml").read_text()


@pytest.mark.parametrize("old, new, field, says", [
    ("micro_batch: auto", "micro_batch: -3", "train.micro_batch", "auto, off or a positive number"),
    ("micro_batch: auto", "micro_batch: big", "train.micro_batch", "auto, off or a positive number"),
    ("threads: 1 ", "threads: -4 ", "train.threads", "must lie in [0, 1024], got -4"),
    ("checkpoint_every: 500", "checkpoint_every: -1", "train.checkpoint_every", "must lie in [0, "),
    ("alpha: 0.05", "alpha: 2", "stats.alpha", "must lie in [1e-06, 0.5], got 2"),
    ("device: auto", "device: gpu", "train.device", "unknown device 'gpu'"),
    ("compile: \"false\"", "compile: false", "train.compile", "expected str, got bool False"),
    ("precision: auto", "precision: fp16", "train.precision", "unknown precision 'fp16'"),
    ("seeds: [0, 1, 2]", "seeds: [0]", "seeds", "at least two seeds"),
    ("seeds: [0, 1, 2]", "seeds: [0, true, 2]", "seeds[1]", "expected int, got bool True"),
    ("seeds: [0, 1, 2]", "seeds: [0, 1, 1]", "seeds", "distinct"),
    ("  - embedded_study.sgd.digits\n", "  - embedded_study.sgd\n", "study_cells[0]", "is not a study cell"),
    ("  title: \"Reproducibility report\"", "  title: [a, b]", "report.title", "expected str, got list"),
    ("stats:\n", "statz:\n", "statz", "unknown field; valid choices"),
    ("  - vit_p2_digits\n", "  - vit_p4_digits\n", "entries", "'vit_p4_digits' is listed twice"),
])
def test_every_params_field_is_checked_with_its_file_and_field(tmp_path, old, new, field, says):
    assert old in PARAMS
    (tmp_path / "params.yaml").write_text(PARAMS.replace(old, new, 1))
    with pytest.raises(TableError) as info:
        load_params(tmp_path / "params.yaml")
    assert info.value.field == field and says in info.value.message, str(info.value)
    assert str(info.value).startswith(f"{tmp_path / 'params.yaml'}: {field}: ")


def test_the_shipped_params_read_back_typed():
    p = load_params(ROOT / "params.yaml")
    assert p.train.threads == 1 and p.train.micro_batch == "auto" and p.stats.alpha == 0.05
    assert p.seeds == [0, 1, 2] and p.study_cells[0] == "embedded_study.sgd.digits"


@pytest.fixture
def repo(tmp_path, monkeypatch):
    for name in ("experiments", "params.yaml", "studies", "results"):
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy)(ROOT / name, tmp_path / name)
    (tmp_path / "data").mkdir()
    (tmp_path / "data/manifest.json").write_text("{}\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("command", [["plan"], ["study", "analyze"], ["validate"]])
def test_an_unknown_study_cell_stops_plan_analyze_and_validate(repo, command, capsys):
    from bench.cli import main

    text = PARAMS.replace("  - embedded_study.sgd.digits\n", "  - embedded_study.sgdd.digits\n", 1)
    (repo / "params.yaml").write_text(text)
    assert main(command) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: params.yaml: study_cells[0]: "
                                                   "'embedded_study.sgdd.digits': study embedded_study has no arm "
                                                   "'sgdd'"), err
    assert not (repo / "plan").exists()  # nothing planned


def test_stats_refuses_an_alpha_out_of_range_before_judging(repo, capsys):
    from bench.cli import main

    (repo / "params.yaml").write_text(PARAMS.replace("alpha: 0.05", "alpha: 2"))
    before = (repo / "results/verdicts.csv").read_bytes()
    assert main(["stats"]) == 2
    assert "params.yaml: stats.alpha: must lie in [1e-06, 0.5], got 2" in capsys.readouterr().err
    assert (repo / "results/verdicts.csv").read_bytes() == before


def test_bench_schema_lists_every_key_of_params_yaml():
    from bench.cli.tables import schema_markdown

    text = schema_markdown()
    section = text.split("### `params.yaml`")[1].split("###")[0]
    documented = {re.sub(r" \(.*\)$", "", line[3:line.index("` |")]) for line in section.splitlines()
                  if line.startswith("| `")}
    raw = yaml.safe_load(PARAMS)
    keys = {k for k, v in raw.items()} | {f"{k}.{sub}" for k, v in raw.items() if k in ("train", "stats", "report")
                                          for sub in v}
    assert keys <= documented, sorted(keys - documented)
