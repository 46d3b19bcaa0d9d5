"""torchrun + DDP on CPU (gloo, 2 processes): the same SAM as one process with per-device perturbations (slow)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
plan = tiny_plan(steps={steps}, batch_size=32, accum_steps={accum})
plan["recipe"]["optimizer"]["sam"] = {{"rho": 0.05, "adaptive": False, "m": {m}}}
if {decay_in_loss}:  # the official SAM code's weight decay: 0.5 wd ||w||^2 in the loss
    plan["recipe"]["optimizer"].update(name="sgd", lr=0.1, weight_decay=0.05)
    plan["recipe"]["weight_decay_mode"] = "loss"
metrics, state = train(as_plan(plan), 2, {data!r}, RunConfig("cpu", progress=False))
torch.save({{"state": state, "metrics": metrics}}, {out!r} + f".rank{{dist.get_rank()}}")
dist.destroy_process_group()
"""


def _torchrun(tmp_path, digits_dir, m, accum, steps=4, decay_in_loss=False):
    script = tmp_path / "run.py"
    out = tmp_path / "out.pt"
    script.write_text(SCRIPT.format(tests=str(ROOT / "tests"), data=str(digits_dir), out=str(out), m=m,
                                    accum=accum, steps=steps, decay_in_loss=decay_in_loss))
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          str(script)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return [torch.load(f"{out}.rank{r}", weights_only=False) for r in (0, 1)]


@pytest.mark.parametrize("m,accum", [(None, 2), (8, 1)])
def test_two_process_sam_equals_one_process_with_per_device_perturbations(m, accum, digits_dir, tmp_path):
    distributed, _ = _torchrun(tmp_path, digits_dir, m, accum)

    # one process: m = 16 (each device's share of 32) or the same m = 8 chunks
    plan = tiny_plan(steps=4, batch_size=32, accum_steps=accum)
    plan["recipe"]["optimizer"]["sam"] = {"rho": 0.05, "adaptive": False, "m": m or 16}
    single, state = train(as_plan(plan), 2, digits_dir, RunConfig("cpu", progress=False))
    for key, value in state.items():
        torch.testing.assert_close(distributed["state"][key], value, rtol=1e-3, atol=1e-5, msg=key)  # all-reduce order; AdamW on ~0 grads
    assert distributed["metrics"]["devices"] == 2 and distributed["metrics"]["test_examples"] == 450
    assert abs(distributed["metrics"]["top1"] - single["top1"]) <= 100 / 450 + 1e-9  # at most one image flips


def test_sam_with_decay_in_the_loss_keeps_the_replicas_identical(digits_dir, tmp_path):
    """One perturbation per device and the official in-loss weight decay: the decay term at each device's
    own w + e must be averaged with the gradients, else the ranks' weights drift apart (they did: the term
    was added after DDP's all-reduce). After 10 steps both ranks hold the same weights, and they equal one
    process with m = 16 (each device's share), whose chunks are averaged the same way."""
    rank0, rank1 = _torchrun(tmp_path, digits_dir, None, 1, steps=10, decay_in_loss=True)
    for key, value in rank0["state"].items():
        torch.testing.assert_close(rank1["state"][key], value, rtol=0, atol=1e-6, msg=key)
    plan = tiny_plan(steps=10, batch_size=32)
    plan["recipe"]["optimizer"].update(name="sgd", lr=0.1, weight_decay=0.05, sam={"rho": 0.05, "adaptive": False,
                                                                                   "m": 16})
    plan["recipe"]["weight_decay_mode"] = "loss"
    _, state = train(as_plan(plan), 2, digits_dir, RunConfig("cpu", progress=False))
    for key, value in state.items():
        torch.testing.assert_close(rank0["state"][key], value, rtol=1e-3, atol=1e-5, msg=key)


NAN_SCRIPT = """
import sys, torch
sys.path.insert(0, {tests!r})
from conftest import as_plan, tiny_plan
import torch.distributed as dist
from bench.train import loop
from bench.train.loop import RunConfig, TrainingDiverged, train

calls = {{"n": 0}}
plain = loop.sgd_step

def poisoned(*args, **kwargs):  # rank 1 alone sees a non-finite loss at its 4th step
    loss = plain(*args, **kwargs)
    calls["n"] += 1
    if dist.get_rank() == 1 and calls["n"] == 4:
        return loss * float("nan")
    return loss

loop.sgd_step = poisoned
plan = tiny_plan(steps=25, batch_size=32)
try:
    train(as_plan(plan), 0, {data!r}, RunConfig("cpu", progress=False))
    outcome = "finished"
except TrainingDiverged as exc:
    outcome = f"diverged at step {{exc.step}}"
# one file per rank: two processes printing to one pipe can interleave their lines
with open({out!r} + f".{{dist.get_rank()}}", "w") as f:
    f.write(f"rank {{dist.get_rank()}}: {{outcome}}")
dist.destroy_process_group()
"""


def test_a_nan_on_one_rank_stops_every_rank_at_the_same_step(digits_dir, tmp_path):
    """The ranks agree on stopping (an all-reduce of the stop flags), so none waits in a collective for a
    rank that already raised: both report the same first bad step and the run ends in seconds."""
    script = tmp_path / "nan.py"
    out = tmp_path / "outcome"
    script.write_text(NAN_SCRIPT.format(tests=str(ROOT / "tests"), data=str(digits_dir), out=str(out)))
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          str(script)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = [Path(f"{out}.{rank}").read_text() for rank in (0, 1)]
    assert lines == ["rank 0: diverged at step 3", "rank 1: diverged at step 3"], run.stdout


RESUME_SCRIPT = """
import sys, torch
sys.path.insert(0, {tests!r})
from pathlib import Path
from conftest import as_plan, tiny_plan
import torch.distributed as dist
from bench.train import loop
from bench.train.loop import RunConfig, train

run_dir = Path({run_dir!r})
plan = tiny_plan(steps=8, batch_size=32)
class Stop(Exception):
    pass
def stop_after(step):
    if step == {stop}:
        raise Stop()
loop.after_step = stop_after
try:
    train(as_plan(plan), 0, {data!r}, RunConfig("cpu", progress=False, run_dir=run_dir, checkpoint_every=2))
except Stop:
    pass
if {damage} and dist.get_rank() == 1:  # rank 1's resume point is lost (killed while saving)
    (run_dir / "resume.rank1.pt").unlink()
dist.barrier()
loop.after_step = lambda step: None
metrics, state = train(as_plan(plan), 0, {data!r}, RunConfig("cpu", progress=False, run_dir=run_dir,
                                                               checkpoint_every=2))
(run_dir / f"outcome.{{dist.get_rank()}}").write_text(f"rank {{dist.get_rank()}}: resumed from {{metrics['resumed_from_step']}}")
torch.save(state, str(run_dir / f"final.rank{{dist.get_rank()}}.pt"))
dist.destroy_process_group()
"""


@pytest.mark.parametrize("damage", [False, True])
def test_ranks_resume_from_the_same_step_or_not_at_all(damage, digits_dir, tmp_path):
    script = tmp_path / "resume.py"
    run_dir = tmp_path / "run"
    script.write_text(RESUME_SCRIPT.format(tests=str(ROOT / "tests"), data=str(digits_dir), run_dir=str(run_dir),
                                           stop=4, damage=damage))
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          str(script)], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = [(run_dir / f"outcome.{rank}").read_text() for rank in (0, 1)]  # a file per rank: no interleaving
    expected = "None" if damage else "4"
    assert lines == [f"rank 0: resumed from {expected}", f"rank 1: resumed from {expected}"], run.stdout
    if damage:
        assert "resume points are at different steps" in run.stderr
    a, b = (torch.load(run_dir / f"final.rank{r}.pt") for r in (0, 1))
    assert all(torch.equal(a[k], b[k]) for k in a)  # the replicas agree
    assert not list(run_dir.glob("resume*.pt"))  # every rank's resume file is gone once the run completes
