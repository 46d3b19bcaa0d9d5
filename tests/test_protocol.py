"""Recipes as the authors ran them: every protocol field sourced, recipe lints, and the report's protocol card."""

from __future__ import annotations

import pytest

from bench.errors import TableError
from bench.tables.table import load_tables, parse_table
from bench.tables.params import load_all, load_params
from conftest import ROOT
from test_experiments import GOOD


@pytest.fixture(scope="module")
def shipped():
    return load_all(load_params(ROOT / "params.yaml"))


def _runs(tables, prefix=""):
    return [(t, e) for t in tables.values() for e in t.entries.values() if e.runs and t.id.startswith(prefix)]


def test_no_shipped_run_warms_up_for_its_whole_length(shipped):
    for t, e in _runs(shipped):
        if e.recipe.steps:
            assert e.recipe.schedule.warmup_steps < e.recipe.steps, e.id
    pets = shipped["vit_table2"].entries["vit_t2_l16_i21k_pets"].recipe
    assert (pets.steps, pets.schedule.warmup_steps) == (500, 100)  # big_vision's transfer config


def test_shipped_fine_tunes_carry_the_official_regularisers(shipped):
    b7 = [e for t, e in _runs(shipped, "sam_") if e.model == "tf_efficientnet_b7" and e.recipe.steps]
    vit = [e for t, e in _runs(shipped, "vit_") if e.model.startswith("vit_") and e.recipe.steps]
    assert len(b7) == 25 and len(vit) == 49
    for e in b7:
        assert e.model_kwargs["drop_rate"] == 0.5 and e.model_kwargs["drop_path_rate"] == 0.2, e.id
    for e in vit:
        assert e.model_kwargs["pos_drop_rate"] == 0.1 and e.model_kwargs["proj_drop_rate"] == 0.1, e.id
        assert e.recipe.pos_embed_resample == "linear", e.id


def test_sam_cifar_runs_the_official_order(shipped):
    pp = shipped["sam_table10"].entries["sam_t10_base_cifar100"].recipe.preprocess
    assert pp.train == ("sam_autoaugment(cifar, 128, 250, 100)|flip_lr|pad_crop(4, reflect)|"
                        "normalize(cifar100)|resize(600, bicubic)")
    assert pp.eval == "normalize(cifar100)|resize(600, bicubic)"



def test_sam_autoaugment_rows_run_the_official_policy(shipped):
    """Table 1's AA rows and Table 10's CIFAR rows (the official fine-tuning builds the same CIFAR source,
    sam_jax/train.py@dae9904:108-125) run policy_cifar with the official constants, before flip and crop."""
    aa = [e for e in shipped["sam_table1"].entries.values() if e.row.endswith(", AA")]
    cifar = [e for e in shipped["sam_table10"].entries.values() if e.dataset.name in ("cifar10", "cifar100")]
    assert len(aa) == 20 and len(cifar) == 6
    for e in aa + cifar:
        head = f"sam_autoaugment(cifar, 128, 250, 100)|flip_lr|pad_crop(4, reflect)|normalize({e.dataset.name})|"
        assert e.recipe.preprocess.train.startswith(head), e.id
    assert not any("autoaugment" in e.recipe.preprocess.train for e in shipped["sam_table1"].entries.values()
                   if not e.row.endswith(", AA"))

def test_every_shipped_protocol_field_has_a_source_on_the_card(shipped):
    from bench.tables import protocol

    for t in shipped.values():
        for row in protocol.card(t):
            for item in row["values"]:
                assert item["parts"] and all(k in protocol.KINDS for k, _ in item["parts"]), (t.id, row["field"])


def _without_source(field: str) -> str:
    lines = GOOD.splitlines(keepends=True)
    return "".join(line for line in lines if not line.startswith(f"  {field}:"))


@pytest.mark.parametrize("field,where", [
    ("schedule.warmup_steps", "entries.e1.recipe.schedule.warmup_steps"),
    ("preprocess.train", "entries.e1.recipe.preprocess.train"),
    ("model_kwargs.img_size", "entries.e1.model_kwargs.img_size"),
    ("dataset.train_split", "entries.e1.dataset.train_split"),
    ("checkpoint", "entries.e1.checkpoint"),
])
def test_a_field_without_a_source_is_an_error_naming_entry_and_field(field, where):
    with pytest.raises(TableError) as info:
        parse_table("x.yaml", _without_source(field))
    assert info.value.field == where and f"sources.{field}" in str(info.value)


@pytest.mark.parametrize("old,new,field,message", [
    ('  steps: "choice: a test table"', '  steps: "from the paper"', "sources.steps", "starts with one of paper:"),
    ('  steps: "choice: a test table"', '  steps: "code: vit_jax/train.py line 4"', "sources.steps",
     "owner/repo path@commit:line[-line] `words of the cited lines` (what they show)"),
    ('  steps: "choice: a test table"', '  steps: {10: "choice: x", 20: "choice: y"}', "sources.steps.20",
     "no entry has the value '20'"),
    ('  steps: "choice: a test table"', '  steps: "choice: x"\n  stepz: "choice: y"', "sources.stepz",
     "did you mean 'steps'"),
])
def test_malformed_or_stale_sources_are_errors(old, new, field, message):
    text = GOOD.replace(old, new, 1)
    assert text != GOOD
    with pytest.raises(TableError) as info:
        parse_table("x.yaml", text)
    assert info.value.field == field and message in str(info.value)


def test_a_value_keyed_source_follows_the_value():
    text = GOOD.replace('  steps: "choice: a test table"',
                        '  steps:\n    10: "code: google-research/vision_transformer vit_jax/configs/common.py@a4920ed:78 '
                        "`{'total_steps': 10_000,` (10,000 steps)\"")
    t = parse_table("x.yaml", text)
    assert t.sources["steps"] == {"10": "code: google-research/vision_transformer vit_jax/configs/common.py@a4920ed:78 "
                                        "`{'total_steps': 10_000,` (10,000 steps)"}


def test_validate_rejects_a_resolution_the_model_does_not_take():
    from bench.train.preflight import check_resources

    t = parse_table("x.yaml", GOOD.replace("img_size: 8", "img_size: 16"))
    with pytest.raises(TableError) as info:
        check_resources({t.id: t})
    assert info.value.field == "entries.e1.recipe.resolution" and "takes 16 x 16 inputs" in str(info.value)


EVAL_ONLY = GOOD.replace("""    model: vit_tiny_patch16_224
    model_kwargs: {img_size: 8, patch_size: 4}""", """    model: tf_efficientnet_b7
    checkpoint: {hub: ra_in1k}""").replace("""      optimizer: {name: sgd, lr: 0.1}
      steps: 10
      batch_size: 8
      resolution: 8""", """      steps: 0
      head: keep
      resolution: 600""").replace(
    "preprocess: {train: normalize(vit)|resize(8), eval: normalize(vit)|resize(8)}",
    "preprocess: {eval: 'EVAL'}")


def _eval_only(pipeline: str, source: str = "choice: a test table") -> str:
    lines = [line for line in EVAL_ONLY.replace("EVAL", pipeline).splitlines(keepends=True)
             if not line.startswith(("  model_kwargs.", "  optimizer.", "  select", "  schedule.", "  steps:",
                                     "  batch_size", "  accum_steps", "  grad_clip", "  label_smoothing",
                                     "  preprocess.train", "  ema", "  mix", "  freeze_bn", "  weight_decay_mode",
                                     "  pos_embed_resample", "  dataset.train_split"))]
    return "".join(lines).replace('  preprocess.eval: "choice: a test table"', f'  preprocess.eval: "{source}"')


def test_an_evaluated_checkpoint_uses_its_pretrained_config_unless_overridden():
    from bench.train.preflight import check_resources, checkpoint_eval_pipeline

    own = checkpoint_eval_pipeline("tf_efficientnet_b7", "ra_in1k")
    assert own == "resize_short(632, bicubic)|center_crop(600)|normalize(imagenet)"
    t = parse_table("x.yaml", _eval_only(own))
    check_resources({t.id: t})
    bilinear = own.replace("bicubic", "bilinear")
    t = parse_table("x.yaml", _eval_only(bilinear))
    with pytest.raises(TableError) as info:
        check_resources({t.id: t})
    assert info.value.field == "entries.e1.recipe.preprocess.eval" and "pretrained config" in str(info.value)
    t = parse_table("x.yaml", _eval_only(bilinear, "override: the paper evaluated with bilinear resizing"))
    check_resources({t.id: t})


def test_accumulation_must_divide_the_batch():
    with pytest.raises(TableError) as info:
        parse_table("x.yaml", GOOD.replace("      batch_size: 8\n", "      batch_size: 8\n      accum_steps: 3\n"))
    assert info.value.field == "entries.e1.recipe.accum_steps"


def test_the_report_shows_a_protocol_card_with_every_source(tmp_path, shipped):
    import pandas as pd

    from bench.report import render_html

    tables = {k: shipped[k] for k in ("vit_table2", "sam_table10")}
    html = render_html(tables, pd.DataFrame(columns=["table", "row", "column", "verdict", "n_runs", "derived_from",
                                                     "device_hours", "wall_time_s"]))
    assert 'id="protocol-vit_table2"' in html and 'id="protocol-sam_table10"' in html
    assert "schedule.warmup_steps" in html and "big_vision/configs/transfer.py@0127fb6:75" in html
    assert ("sam_autoaugment(cifar, 128, 250, 100)|flip_lr|pad_crop(4, reflect)|normalize(cifar10)|"
            "resize(600, bicubic)") in html
    assert '<span class="k k-unverified">unverified</span>' in html


def test_table_files_load_together_with_sources(tmp_path):
    (tmp_path / "a.yaml").write_text(GOOD)
    assert load_tables([tmp_path / "a.yaml"])["t1"].sources["steps"] == "choice: a test table"


def test_table1_trains_every_cell_with_batchnorm_over_each_gpus_32_examples(shipped):
    """The paper's 8 GPUs x 32 examples, each normalising its own (sam_jax/models/utils.py@dae9904:48-51): the SGD
    baselines in 8 micro-batches of 32 as the SAM cells' m-chunks, on one device or on 8, in the plan files
    `bench plan` writes."""
    from bench.tables.recipe import Plan
    from bench.train.micro import recipe_micro_batch

    entries = [e for e in shipped["sam_table1"].entries.values() if e.runs]
    sgd = [e for e in entries if e.recipe.optimizer.sam is None]
    assert len(entries) == 60 and len(sgd) == 30
    for e in entries:
        plan = Plan.from_json(e.plan().to_json())
        assert plan.recipe.batch_size == 256
        assert recipe_micro_batch(plan.recipe, 1) == recipe_micro_batch(plan.recipe, 8) == 32, e.id
    for e in sgd:
        recipe = e.plan().to_json()["recipe"]
        assert recipe["batch_size"] // recipe["accum_steps"] == 32, e.id
