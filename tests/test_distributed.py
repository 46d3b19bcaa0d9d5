"""torchrun + DDP on CPU (gloo, 2 processes): the same SAM as one process with per-device perturbations (slow)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from bench.train.loop import RunConfig, train
from conftest import ROOT, tiny_plan, as_plan

pytestmark = pytest.mark.slow

SCRIPT = """
import sys, torch
sys.path.insert(0, {tests!r})
from conftest import as_plan, tiny_plan
from bench.train.loop import RunConfig, train
import torch.distributed as dist
plan = tiny_plan(steps=4, batch_size=32, accum_steps={accum})
plan["recipe"]["optimizer"]["sam"] = {{"rho": 0.05, "adaptive": False, "m": {m}}}
metrics, state = train(as_plan(plan), 2, {data!r}, RunConfig("cpu", progress=False))
if dist.get_rank() == 0:
    torch.save({{"state": state, "metrics": metrics}}, {out!r})
dist.destroy_process_group()
"""


@pytest.mark.parametrize("m,accum", [(None, 2), (8, 1)])
def test_two_process_sam_equals_one_process_with_per_device_perturbations(m, accum, digits_dir, tmp_path):
    script = tmp_path / "run.py"
    out = tmp_path / "out.pt"
    script.write_text(SCRIPT.format(tests=str(ROOT / "tests"), data=str(digits_dir), out=str(out), m=m,
                                    accum=accum))
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          str(script)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    distributed = torch.load(out, weights_only=False)

    # one process: m = 16 (each device's share of 32) or the same m = 8 chunks
    plan = tiny_plan(steps=4, batch_size=32, accum_steps=accum)
    plan["recipe"]["optimizer"]["sam"] = {"rho": 0.05, "adaptive": False, "m": m or 16}
    single, state = train(as_plan(plan), 2, digits_dir, RunConfig("cpu", progress=False))
    for key, value in state.items():
        torch.testing.assert_close(distributed["state"][key], value, rtol=1e-3, atol=1e-5, msg=key)  # all-reduce order; AdamW on ~0 grads
    assert distributed["metrics"]["devices"] == 2 and distributed["metrics"]["test_examples"] == 450
    assert abs(distributed["metrics"]["top1"] - single["top1"]) <= 100 / 450 + 1e-9  # at most one image flips
