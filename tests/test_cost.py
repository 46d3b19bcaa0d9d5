"""bench suite cost: FLOPs and memory from the meta device, against known answers."""

from __future__ import annotations

import pytest

from bench.cost import _per_image, entry_cost, suite_cost
from bench.experiments import load_tables
from conftest import ROOT


def test_vit_b16_flops_per_image_match_the_published_count():
    flops, saved, params = _per_image("vit_base_patch16_224", {}, 224, 3)
    # timm's vit_base_patch16_224: 17.6 GMACs forward, 86.6M parameters; backward about twice the forward
    assert flops == pytest.approx(3 * 2 * 17.6e9, rel=0.05)
    assert params == pytest.approx(86.6e6, rel=0.01)
    assert 50e6 < saved < 2e9  # activations of one image, without the saved weights (those cancel out)


def test_sam_doubles_the_training_flops_and_the_sweep_is_one_run_per_grid_value():
    tables = load_tables([ROOT / "experiments/embedded/sam_digits.yaml"])
    entries = tables["embedded_sam"].entries
    cache: dict = {}
    sgd = entry_cost(entries["effnet_sgd_digits_noisy"], cache)
    sam = entry_cost(entries["effnet_sam005_digits_noisy"], cache)
    tuned = entry_cost(entries["effnet_samtuned_digits_noisy"], cache)
    assert sam.train_tflop == pytest.approx(2 * sgd.train_tflop) and sgd.select_tflop == 0
    assert tuned.select_tflop == pytest.approx(3 * tuned.train_tflop)  # grid of 3 rho values
    assert len(cache) == 1  # one model, built once


def test_suite_cost_prints_totals_and_flags_memory_over_the_card():
    tables = load_tables([ROOT / "experiments/vit/table2.yaml", ROOT / "experiments/vit/table9_vtab.yaml"])
    text = suite_cost(tables, 3, "H100", 0.4, 8)
    assert "GPU-hours in all" in text and "On 8 GPUs with `bench workers`" in text and "DVC cache" in text
    assert "| vit_t2_l16_i21k_imagenet | vit_large_patch16_224 @ 512 |" in text
    assert "over the card" in text  # ViT-L/16 at 512 px with micro-batch 64 does not fit 80 GiB (estimate)
