"""bench suite cost: FLOPs and memory from the meta device, against known answers."""

from __future__ import annotations

import pytest

from bench.scale.cost import entry_cost, suite_cost
from bench.train.footprint import measure
from bench.tables.table import load_tables
from conftest import ROOT


def test_vit_b16_flops_per_image_match_the_published_count():
    f = measure("vit_base_patch16_224", {}, 224, 3)
    flops, saved, params = f.flops_per_image, f.saved_bytes_per_image, f.params
    # timm's vit_base_patch16_224: 17.6 GMACs forward, 86.6M parameters; backward about twice the forward
    assert flops == pytest.approx(3 * 2 * 17.6e9, rel=0.05)
    assert params == pytest.approx(86.6e6, rel=0.01)
    assert 50e6 < saved < 2e9  # activations of one image, without the saved weights (those cancel out)
    assert f.input_bytes_per_image == 4 * 3 * 224 * 224  # the fp32 image the loader puts on the device


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


@pytest.mark.slow
def test_suite_cost_prints_totals_and_the_micro_batch_that_fits_the_card():
    tables = load_tables([ROOT / "experiments/vit/table2.yaml", ROOT / "experiments/vit/table9_vtab.yaml"])
    text = suite_cost(tables, 3, "H100", 0.4, 8)
    assert "GPU-hours in all" in text and "On 8 GPUs with `bench workers`" in text and "train.keep_checkpoint" in text
    row = next(line for line in text.splitlines() if line.startswith("| vit_t2_l16_i21k_imagenet |"))
    # ViT-L/16 at 512 px: the recipe's 64 per pass does not fit 80 GiB (estimate); the cap cuts it
    recipe, run = (int(x) for x in row.split("|")[6].split("->"))
    assert recipe == 64 and 1 <= run < 64
    assert float(row.split("|")[7].split()[0]) <= 0.8 * 80
    assert "micro_batch auto cuts" in text and "over the card" not in text
    roomy = suite_cost(tables, 3, "H200", 0.4, 8)  # 141 GiB: a larger micro-batch fits
    roomy_row = next(line for line in roomy.splitlines() if line.startswith("| vit_t2_l16_i21k_imagenet |"))
    assert int(roomy_row.split("|")[6].split("->")[1]) > run


def test_suite_cost_flags_batchnorm_that_trains_over_the_card(monkeypatch):
    """BatchNorm in train mode keeps the recipe's micro-batch (a cap would change it): over the card."""
    from bench.train import footprint

    tables = load_tables([ROOT / "experiments/embedded/sam_digits.yaml"])
    monkeypatch.setattr(footprint.Footprint, "largest_micro_batch", lambda self, *a: 1)
    monkeypatch.setattr(footprint.Footprint, "activation_bytes", lambda self, n, p: n * 2**40)
    text = suite_cost(tables, 3, "H100", 0.4, 8)
    assert "(over the card)" in text and "BatchNorm in train mode keeps the recipe's micro-batch" in text


def test_a_cuda_device_name_finds_its_own_card():
    from bench.scale.cost import card_of

    names = {"NVIDIA H100 80GB HBM3": "H100", "NVIDIA H100 PCIe": "H100 PCIe", "NVIDIA H100 NVL": "H100 NVL",
             "NVIDIA H200": "H200", "NVIDIA H200 NVL": "H200 NVL", "NVIDIA A100-SXM4-80GB": "A100",
             "NVIDIA L40S": "L40S", "NVIDIA L4": "L4", "h100": "H100", "NVIDIA GeForce RTX 4090": None}
    assert {n: card_of(n) for n in names} == names
