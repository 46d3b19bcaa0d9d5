"""Table-file schema: the shipped tables validate; bad input names the file and field."""

import textwrap
from pathlib import Path

import pytest

from bench.errors import TableError
from bench.experiments import load_tables, parse_table
from bench.params import load_params, load_suite
from conftest import ROOT

GOOD = textwrap.dedent("""\
    version: 1
    id: t1
    title: T
    source: {kind: paper, title: P, arxiv: "2010.11929", table: 2}
    metric: top1
    dispersion: {kind: std, n: 3}
    margin: 1.0
    layout: {rows: [r], columns: [c]}
    entries:
      e1:
        row: r
        column: c
        model: vit_tiny_patch16_224
        dataset: {name: sklearn_digits, train_split: train, test_split: test}
        recipe:
          optimizer: {name: sgd, lr: 0.1}
          steps: 10
          batch_size: 8
          resolution: 8
        published: {value: 90.0, dispersion: 0.1, source: "P, Table 2, row r, column c"}
    """)


def test_shipped_tables_validate():
    params = load_params(ROOT / "params.yaml")
    tables = load_suite(type(params)(**{**params.__dict__, "tables": [str(ROOT / t) for t in params.tables]}))
    assert {"embedded_vit", "embedded_sam"} <= set(tables)
    for t in tables.values():
        for e in t.entries.values():
            assert e.published.source


def test_good_table_parses_with_defaults():
    t = parse_table("x.yaml", GOOD)
    e = t.entries["e1"]
    assert e.recipe["optimizer"]["momentum"] == 0.9
    assert e.recipe["schedule"] == {"name": "cosine", "warmup_steps": 0}
    assert e.dataset["label_noise"] == 0.0
    assert t.higher_is_better


@pytest.mark.parametrize("old,new,field,words", [
    ("name: sgd", "name: sgdd", "entries.e1.recipe.optimizer.name", "did you mean 'sgd'"),
    ("steps: 10", "steps: ten", "entries.e1.recipe.steps", "expected int"),
    ("metric: top1", "metric: top5", "metric", "valid choices: top1, top1_err"),
    ("    row: r\n", "    row: q\n", "entries.e1.row", "unknown row"),
    ("      batch_size: 8\n", "", "entries.e1.recipe.batch_size", "missing required field"),
    ("kind: std", "kind: sem", "dispersion.kind", "valid choices"),
    ("margin: 1.0", "margin: .nan", "margin", "finite"),
    ("  e1:", "  ../evil:", "entries.../evil", "not a valid id"),
    ("resolution: 8", "resolution: 8\n      colour: red", "entries.e1.recipe.colour", "unknown field"),
])
def test_errors_name_file_and_field(old, new, field, words):
    with pytest.raises(TableError) as info:
        parse_table("experiments/x.yaml", GOOD.replace(old, new, 1))
    assert info.value.file == "experiments/x.yaml"
    assert info.value.field == field
    assert words in str(info.value)


def test_malformed_yaml_gives_line():
    with pytest.raises(TableError, match=r"x.yaml: line \d+"):
        parse_table("x.yaml", "version: 1\nentries: [unclosed\n")


def test_yaml_is_loaded_safely():
    with pytest.raises(TableError, match="malformed YAML"):
        parse_table("x.yaml", "!!python/object/apply:os.system ['echo hi']")


def test_checkpoint_file_cannot_escape(tmp_path):
    bad = GOOD.replace("    model: vit_tiny_patch16_224\n",
                       "    model: vit_tiny_patch16_224\n    checkpoint: {file: ../../etc/passwd}\n")
    with pytest.raises(TableError, match="checkpoint.file"):
        parse_table("x.yaml", bad)


def test_duplicate_entry_ids_across_tables(tmp_path):
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "b.yaml").write_text(GOOD.replace("id: t1", "id: t2"))
    with pytest.raises(TableError, match="entry id is also used"):
        load_tables([tmp_path / "a.yaml", tmp_path / "b.yaml"])


def test_params_errors(tmp_path):
    p = tmp_path / "params.yaml"
    p.write_text("tables: [a.yaml]\nseeds: []\nentries: [e1]\n")
    with pytest.raises(TableError, match="seeds"):
        load_params(p)
    p.write_text(f"tables: [{tmp_path / 'a.yaml'}]\nseeds: [0]\nentries: [e1, e2]\n")
    (tmp_path / "a.yaml").write_text(GOOD)
    with pytest.raises(TableError, match=r"entries: .*not in any table \['e2'\]"):
        load_suite(load_params(p))


def test_validate_resources_rejects_unknown_model_and_dataset():
    from bench.validate import check_resources

    for old, new, field in [("vit_tiny_patch16_224", "vit_tiny_patch16_2240", "model"),
                            ("name: sklearn_digits", "name: sklearn_digitz", "dataset.name")]:
        t = parse_table("x.yaml", GOOD.replace(old, new))
        with pytest.raises(TableError) as info:
            check_resources({t.id: t})
        assert info.value.field == f"entries.e1.{field}"
        assert "did you mean" in str(info.value)
