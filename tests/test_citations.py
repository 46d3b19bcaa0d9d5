"""Code citations that can be checked: every `code:` source quotes a few words of the lines it cites, the card shows
them, and they are words of those lines in the official repositories (tests/fixtures/cited_lines.json, written from
the real files by tools/cited_lines.py), so a wrong line number fails here and shows in review."""

from __future__ import annotations

import importlib.util
import json

import pytest

from bench.errors import TableError
from bench.tables import protocol
from bench.tables.params import load_all, load_params
from bench.tables.table import parse_table
from conftest import ROOT
from test_experiments import GOOD

FIXTURE = json.loads((ROOT / "tests/fixtures/cited_lines.json").read_text(encoding="utf-8"))


def _tool():
    spec = importlib.util.spec_from_file_location("cited_lines", ROOT / "tools/cited_lines.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tables():
    return load_all(load_params(ROOT / "params.yaml"))


@pytest.fixture(scope="module")
def cited(tables):
    return _tool().citations(tables)


def test_every_code_source_quotes_its_lines_on_the_card(tables):
    shown = 0
    for t in tables.values():
        for row in protocol.card(t):
            for item in row["values"]:
                for kind, text in item["parts"]:
                    if kind == "code":
                        c = protocol.citation(f"code: {text}")
                        assert c is not None, (t.id, row["field"], text)
                        assert f"@{c.commit}:" in text and f"`{c.snippet}`" in text and f"({c.what})" in text
                        shown += 1
    assert shown > 200  # every table's code sources, once per card item


def test_every_snippet_is_words_of_the_lines_it_cites(cited):
    assert len({(c.file, c.first, c.last, c.snippet) for c in cited}) > 100
    for c in cited:
        lines = FIXTURE[c.file]
        text = " ".join(lines[str(n)] for n in range(c.first, c.last + 1))
        assert c.snippet in protocol.words(text), f"{c.file}:{c.first}-{c.last} does not say `{c.snippet}`"


def test_the_fixture_holds_exactly_the_cited_lines(cited):
    """Regenerate it with tools/cited_lines.py after changing a citation."""
    wanted: dict[str, set[str]] = {}
    for c in cited:
        wanted.setdefault(c.file, set()).update(str(n) for n in range(c.first, c.last + 1))
    assert {f: set(lines) for f, lines in FIXTURE.items()} == wanted


def test_a_corrected_line_is_checked_against_the_official_text():
    """Two of the citations that pointed at the wrong line, now at the line that says it."""
    sam = "google-research/sam sam_jax/training_utils/flax_training.py@dae9904"
    assert FIXTURE[sam]["200"].strip() == "beta: float = 0.9) -> flax.optim.Optimizer:"
    vit = "google-research/vision_transformer vit_jax/input_pipeline.py@a4920ed"
    assert FIXTURE[vit]["113"].strip() == "im = (im - 127.5) / 127.5"


CITE = "code: google-research/vision_transformer vit_jax/configs/common.py@a4920ed:67"


@pytest.mark.parametrize("source,message", [
    (f"{CITE} (warmup_steps 500)", "cite code as"),  # no snippet
    (f"{CITE} `config.warmup_steps = 500`", "cite code as"),  # nothing said of it
    (f"{CITE}-60 `config.warmup_steps = 500` (warmup)", "runs backwards"),
    (f"{CITE} `config.warmup_steps  = 500` (warmup)", "single spaces"),
])
def test_a_code_source_without_its_snippet_or_with_a_bad_range_is_an_error(source, message):
    with pytest.raises(TableError) as info:
        parse_table("x.yaml", GOOD.replace('  steps: "choice: a test table"', f'  steps: "{source}"', 1))
    assert info.value.field == "sources.steps" and message in str(info.value)


def test_a_well_formed_citation_parses():
    c = protocol.citation(f"{CITE}-68 `config.warmup_steps = 500` (warmup_steps 500)")
    assert (c.repo, c.path, c.commit, c.first, c.last) == (
        "google-research/vision_transformer", "vit_jax/configs/common.py", "a4920ed", 67, 68)
    assert (c.snippet, c.what) == ("config.warmup_steps = 500", "warmup_steps 500")
