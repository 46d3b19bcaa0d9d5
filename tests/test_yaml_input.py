"""YAML as bench reads it: a key written twice is refused with its file, line and key; aliases may not expand a
document past a bound (a billion-laughs document), nor refer to themselves; too deep a nesting is an error, not
a crash. The same rules wherever bench reads YAML: table files, study files, params.yaml."""

from __future__ import annotations

import shutil

import pytest

from bench.errors import TableError
from bench.tables.params import load_params
from bench.tables.table import parse_table
from conftest import ROOT

VIT = (ROOT / "experiments/embedded/vit_digits.yaml").read_text()
STUDY = (ROOT / "experiments/studies/embedded_study.yaml").read_text()
PARAMS = (ROOT / "params.yaml").read_text()


def _line_of(text: str, needle: str, nth: int = 1) -> int:
    """The 1-based line of the nth line starting with `needle`."""
    hits = [i + 1 for i, line in enumerate(text.splitlines()) if line.startswith(needle)]
    return hits[nth - 1]


def bomb(levels: int = 7) -> str:
    """A billion-laughs value written inline, where a field is read: a flow list of nested aliases that expands to
    about 10**levels strings, written in a few hundred bytes (7 levels: above the bound, yet small enough that
    code without the bound expands it in seconds rather than exhausting the machine)."""
    parts = ["&l0 [" + ", ".join(["lol"] * 10) + "]"]
    parts += [f"&l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, levels + 1)]
    return "[" + ", ".join(parts) + "]"


@pytest.fixture(scope="module")
def tables():
    from bench.tables.params import every_suite

    return every_suite(str(ROOT / "params.yaml"))[1]


def test_a_table_title_written_twice_is_refused_with_its_line():
    text = VIT.replace("version: 2\n", "version: 2\ntitle: \"another title\"\n", 1)
    with pytest.raises(TableError) as info:
        parse_table("t.yaml", text)
    line = _line_of(text, "title:", 2)
    assert str(info.value).startswith(f"t.yaml: line {line}, column 1: duplicate key 'title' (first at line "
                                      f"{_line_of(text, 'title:', 1)})")


def test_an_entry_id_written_twice_is_refused_not_replaced():
    text = VIT.replace("  vit_p2_digits:\n", "  vit_p4_digits:\n", 1)
    with pytest.raises(TableError, match=r"t.yaml: line \d+, column 3: duplicate key 'vit_p4_digits'"):
        parse_table("t.yaml", text)


@pytest.mark.parametrize("key, block", [
    ("datasets", "datasets:\n  digits: {sweep_train_split: \"train[:90%]\", sweep_val_split: \"train[90%:]\"}\n"),
    ("tuning", "tuning: {trials: 1, seed: 0}\n"),
])
def test_a_study_key_written_twice_is_refused(tables, key, block):
    from bench.tables.study import parse_study

    text = STUDY + block
    with pytest.raises(TableError) as info:
        parse_study("s.yaml", text, tables)
    assert f"s.yaml: line {_line_of(text, key + ':', 2)}, column 1: duplicate key '{key}'" in str(info.value)


def test_a_params_key_written_twice_is_refused(tmp_path):
    (tmp_path / "params.yaml").write_text(PARAMS + "seeds: [0, 1]\n")
    with pytest.raises(TableError, match=r"params.yaml: line \d+, column 1: duplicate key 'seeds'"):
        load_params(tmp_path / "params.yaml")


def test_a_merge_may_still_be_overridden_by_an_own_key():
    """`<<: *vit` then `column:` is how entries share a recipe: not a duplicate."""
    assert parse_table("t.yaml", VIT).entries["vit_p2_digits"].column == "ViT-w32-d2 / patch 2"


def test_two_study_files_with_one_id_are_refused(tmp_path, monkeypatch, capsys):
    from bench.cli import main

    for name in ("experiments", "params.yaml"):
        (shutil.copytree if name == "experiments" else shutil.copy)(ROOT / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    shutil.copy("experiments/studies/embedded_study.yaml", "experiments/studies/copy_of_it.yaml")
    assert main(["study", "list"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "experiments/studies/copy_of_it.yaml: id: study id 'embedded_study'" in err


def test_an_alias_bomb_in_a_study_arm_is_refused_before_it_expands(tables):
    from bench.tables.study import parse_study

    text = STUDY.replace("changes: {recipe.optimizer.sam: {rho: 0.05}}", f"changes: {{recipe.x: {bomb()}}}", 1)
    line = next(i + 1 for i, t in enumerate(text.splitlines()) if "&l0" in t)
    with pytest.raises(TableError, match=rf"s.yaml: line {line}, column \d+: aliases expand this value to more "
                                         r"than 100,000 values"):
        parse_study("s.yaml", text, tables)


def test_an_alias_bomb_in_a_table_entry_is_refused():
    text = VIT.replace("    column: \"ViT-w32-d2 / patch 2\"\n",
                       f"    column: \"ViT-w32-d2 / patch 2\"\n    note: {bomb()}\n", 1)
    with pytest.raises(TableError, match="t.yaml: line .*aliases expand this value"):
        parse_table("t.yaml", text)


def test_an_alias_bomb_in_params_is_refused(tmp_path):
    (tmp_path / "params.yaml").write_text(PARAMS.replace("  title: \"Reproducibility report\"",
                                                         f"  title: {bomb()}"))
    with pytest.raises(TableError, match="params.yaml: line .*aliases expand this value"):
        load_params(tmp_path / "params.yaml")


def test_a_self_referring_alias_and_a_deep_nesting_are_errors():
    with pytest.raises(TableError, match="t.yaml: line 1, column 8: an alias refers to the value that contains it"):
        parse_table("t.yaml", "notes: &a [1, *a]\n")
    with pytest.raises(TableError, match="t.yaml: <top level>: malformed YAML: nested too deeply"):
        parse_table("t.yaml", "[" * 20000 + "]" * 20000)


def test_every_yaml_read_in_bench_goes_through_yamlfile():
    """Nothing under bench/ reads YAML past the duplicate-key and alias checks: yamlfile alone imports yaml."""
    import re

    users = {str(p.relative_to(ROOT)) for p in (ROOT / "bench").rglob("*.py")
             if re.search(r"^\s*(import yaml|from yaml)", p.read_text(), re.M)}
    assert users == {"bench/tables/yamlfile.py"}
