"""The engine's micro-batch cap (bench.train.micro): the recipe's update on any card.

A cap cuts the recipe's forward passes into smaller ones; the global batch, the
SAM chunks (m) and so the update stay the same, up to float summation order
(held here to 1e-6 relative). BatchNorm in train mode is the one model whose
function depends on the micro-batch: a cap set by hand is refused there.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from bench.errors import BenchError
from bench.train import micro
from bench.train.footprint import Footprint
from bench.train.loop import RunConfig, train
from conftest import ROOT, as_plan, tiny_plan


def _update_gap(plan: dict, digits_dir, cap) -> tuple[float, dict, dict]:
    """Relative difference between the weight changes of a run without a cap and one with `cap`."""
    init = tiny_plan(**{**plan["recipe"], "steps": 0})
    init.update({k: plan[k] for k in ("model", "model_kwargs")})
    _, w0 = train(as_plan(init), 0, digits_dir, RunConfig("cpu", progress=False))
    ref_metrics, ref = train(as_plan(plan), 0, digits_dir, RunConfig("cpu", progress=False))
    cap_metrics, got = train(as_plan(plan), 0, digits_dir, RunConfig("cpu", progress=False, micro_batch=cap))
    keys = [k for k in ref if ref[k].is_floating_point() and "running" not in k]
    delta_ref = torch.cat([(ref[k] - w0[k]).flatten() for k in keys])
    delta_cap = torch.cat([(got[k] - w0[k]).flatten() for k in keys])
    return float((delta_cap - delta_ref).norm() / delta_ref.norm()), ref_metrics, cap_metrics


def _sgd(plan: dict) -> dict:
    plan["recipe"]["optimizer"].update(name="sgd", lr=0.05, momentum=0.9, weight_decay=0.0)
    plan["recipe"]["grad_clip"] = None
    return plan


def test_a_cap_leaves_the_sgd_update_unchanged(digits_dir, monkeypatch):
    from bench.train import loop

    passes: list[int] = []  # the batch size of every training forward pass
    plain = loop.create_model

    def watched(*args, **kwargs):
        model = plain(*args, **kwargs)
        model.register_forward_pre_hook(lambda m, inputs: passes.append(len(inputs[0])) if m.training else None)
        return model

    monkeypatch.setattr(loop, "create_model", watched)
    plan = _sgd(tiny_plan(steps=3, batch_size=32))
    gap, ref, capped = _update_gap(plan, digits_dir, 5)
    assert gap < 1e-6, gap
    assert (ref["micro_batch"], capped["micro_batch"], capped["recipe_micro_batch"]) == (32, 5, 32)
    assert passes == [32] * 3 + [5, 5, 5, 5, 5, 5, 2] * 3  # the run without a cap, then the one with it


def test_a_cap_keeps_sams_chunks_and_update(digits_dir):
    """m = 16 over a batch of 32 with accum_steps 4: two perturbations, micro-batches of 8. A cap of 3
    cuts each chunk's passes to 3, 3, 2 examples; the chunks (and their perturbations) stay the same."""
    plan = _sgd(tiny_plan(steps=3, batch_size=32, accum_steps=4))
    plan["recipe"]["optimizer"]["sam"] = {"rho": 0.05, "adaptive": False, "m": 16}
    plan["recipe"]["weight_decay_mode"] = "loss"
    plan["recipe"]["optimizer"]["weight_decay"] = 0.01
    gap, ref, capped = _update_gap(plan, digits_dir, 3)
    assert gap < 1e-6, gap
    assert (ref["micro_batch"], capped["micro_batch"]) == (8, 3)


def test_the_test_would_see_a_changed_update(digits_dir):
    """The measure above is sensitive: m = 8 instead of 16 (four perturbations instead of two) is far
    outside 1e-6 after the same three steps."""
    plan = _sgd(tiny_plan(steps=3, batch_size=32))
    plan["recipe"]["optimizer"]["sam"] = {"rho": 0.5, "adaptive": False, "m": 16}
    other = _sgd(tiny_plan(steps=3, batch_size=32))
    other["recipe"]["optimizer"]["sam"] = {"rho": 0.5, "adaptive": False, "m": 8}
    _, a = train(as_plan(plan), 0, digits_dir, RunConfig("cpu", progress=False))
    _, b = train(as_plan(other), 0, digits_dir, RunConfig("cpu", progress=False))
    assert max(float((a[k] - b[k]).abs().max()) for k in a if a[k].is_floating_point()) > 1e-4


def _effnet(freeze_bn: bool) -> dict:
    plan = _sgd(tiny_plan(steps=2, batch_size=16, freeze_bn=freeze_bn))
    plan.update(model="test_efficientnet", model_kwargs={})
    plan["recipe"]["preprocess"] = {"train": "normalize(vit)|resize(32)", "eval": "normalize(vit)|resize(32)"}
    plan["recipe"]["resolution"] = 32
    return plan


def test_a_cap_is_refused_where_batchnorm_trains(digits_dir):
    with pytest.raises(BenchError, match="BatchNorm in train mode.*micro-batch of 16"):
        train(as_plan(_effnet(False)), 0, digits_dir, RunConfig("cpu", progress=False, micro_batch=4))


def test_a_cap_applies_where_batchnorm_is_frozen(digits_dir):
    gap, _, capped = _update_gap(_effnet(True), digits_dir, 4)
    assert gap < 1e-6, gap
    assert capped["micro_batch"] == 4


class _Model(torch.nn.Module):
    def __init__(self, bn: bool):
        super().__init__()
        self.norm = torch.nn.BatchNorm1d(2) if bn else torch.nn.LayerNorm(2)


def _recipe(batch=1024, accum=16, m=None):
    from bench.tables.recipe import parse_recipe
    from bench.tables.schema import Checker

    raw = {"optimizer": {"name": "sgd", "lr": 0.1, "weight_decay": 0.0,
                         "sam": {"rho": 0.05, "m": m} if m else None},
           "schedule": {"name": "cosine"}, "steps": 1, "batch_size": batch, "accum_steps": accum,
           "resolution": 8, "preprocess": {"train": "normalize(vit)|resize(8)", "eval": "normalize(vit)|resize(8)"}}
    return parse_recipe(Checker("t"), raw, "recipe")


def test_the_recipes_micro_batch_per_device():
    """b7's recipe (1024, accum 16, m 16): 64 per pass on one device; 16 per pass (one chunk each) on 8."""
    assert micro.recipe_micro_batch(_recipe(), 1) == 64
    assert micro.recipe_micro_batch(_recipe(m=16), 1) == 16
    assert micro.recipe_micro_batch(_recipe(accum=1), 8) == 128
    assert micro.recipe_micro_batch(_recipe(accum=16), 8) == 64


def test_the_batch_on_the_device_counts_against_the_card():
    """The step's batch stays on the device (an H200 measured b7's peak at 1.004x the estimate once its
    4.1 GiB batch was counted, 1.04x before): 1 GiB card, 16 MiB state, 5 MiB per image in bf16, and 64
    images of 1 MiB each on the device: floor((0.8 GiB - 16 MiB - 64 MiB) / 5 MiB) = 147."""
    footprint = Footprint(flops_per_image=1.0, saved_bytes_per_image=10 * 2**20, params=2**20,
                          input_bytes_per_image=2**20)
    assert footprint.largest_micro_batch(2**30, "bf16", sam=False, batch=64) == 147
    assert footprint.peak_bytes(10, "bf16", False, 64) == (50 + 16 + 64) * 2**20
    # Two devices share a batch of 512: 256 images on each -> floor((819.2 - 16 - 256) / 5) = 109.
    cap, _ = micro.resolve("auto", _recipe(batch=512, accum=1), 2, _Model(bn=False), lambda: footprint, 2**30,
                           "bf16")
    assert cap == 109


def test_auto_derives_the_cap_from_the_card():
    """A known answer: 1 GiB card, 1 M parameters (16 MiB of state), 10 MiB saved per image in fp32
    (5 MiB in bf16): floor((0.8 GiB - 16 MiB) / 5 MiB) = 160 images."""
    footprint = Footprint(flops_per_image=1.0, saved_bytes_per_image=10 * 2**20, params=2**20)
    assert footprint.largest_micro_batch(2**30, "bf16", sam=False) == 160
    assert footprint.largest_micro_batch(2**30, "fp32", sam=False) == 80
    cap, record = micro.resolve("auto", _recipe(accum=1), 1, _Model(bn=False), lambda: footprint, 2**30, "bf16")
    assert cap == 160 and record["micro_batch"] == 160 and record["recipe_micro_batch"] == 1024
    cap, _ = micro.resolve("auto", _recipe(accum=1), 1, _Model(bn=False), lambda: footprint, None, "fp32")
    assert cap is None  # the CPU: no cap
    cap, _ = micro.resolve("auto", _recipe(batch=128, accum=1), 1, _Model(bn=False), lambda: footprint, 2**30,
                           "bf16")
    assert cap is None  # the recipe's 128 already fit


def test_auto_keeps_the_recipe_where_batchnorm_trains(capsys):
    footprint = Footprint(flops_per_image=1.0, saved_bytes_per_image=10 * 2**20, params=2**20)
    cap, record = micro.resolve("auto", _recipe(accum=1), 1, _Model(bn=True).train(), lambda: footprint, 2**30,
                                "bf16")
    assert cap is None and record["micro_batch"] == 1024
    assert "BatchNorm in train mode" in capsys.readouterr().err


def test_a_bad_cap_is_refused_on_the_command_line():
    run = subprocess.run(["bench", "train", "--entry", "x", "--seed", "0", "--micro-batch", "0"],
                         cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 2 and "micro_batch '0': expected auto, off or a positive number" in run.stderr
