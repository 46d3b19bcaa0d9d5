"""bench slurm and bench workers, their parts on known answers (no SLURM needed; tests/test_slurm_real.py
runs them against a real one)."""

from __future__ import annotations

import json

import pytest

from bench.errors import BenchError
from bench.scale.jobscript import job_script
from bench.scale.resources import (
    Partition,
    make_request,
    parse_gres,
    parse_mem,
    parse_partition,
    parse_time,
)
from bench.scale.schedule import Schedule
from bench.scale.stages import Stage
from bench.scale.workers import visible_devices

CPU_NODE = Partition("debug", 2, 21694, 0, None, None)
GPU_NODE = Partition("gpu", 128, 1_000_000, 8, "h100", 48 * 60)


def test_slurm_notations():
    assert [parse_time(t) for t in ("30", "30:00", "2:00:00", "1-00:00:00", "1-12", "infinite", "0:30")] == \
        [30, 30, 120, 1440, 2160, None, 1]
    assert [parse_mem(m) for m in ("500", "500M", "64G", "1T", "21694")] == [500, 500, 65536, 1048576, 21694]
    assert parse_gres("(null)") == (0, None) and parse_gres("gpu:4") == (4, None)
    assert parse_gres("gpu:h100:8(S:0-1)") == (8, "h100") and parse_gres("shard:8,gpu:a100:4") == (4, "a100")
    part = parse_partition("gpu", ["64|512000|gpu:a100:4|2-00:00:00", "128|1000000|gpu:h100:8(S:0-1)|2-00:00:00"])
    assert part == Partition("gpu", 128, 1000000, 8, "h100", 2880)
    with pytest.raises(ValueError):
        parse_time("soon")


def test_a_jobs_default_is_its_share_of_a_node():
    cpu = make_request(CPU_NODE, None, None, None, None, 180, threads=1)
    assert (cpu.gpus, cpu.cpus, cpu.mem_mb, cpu.time_min) == (0, 1, 10847, 1440)  # half the node: two jobs at once
    gpu = make_request(GPU_NODE, None, None, None, None, 180, threads=1)
    assert (gpu.gpus, gpu.cpus, gpu.mem_mb, gpu.time_min) == (1, 16, 125000, 1440)  # one GPU's eighth
    four = make_request(GPU_NODE, 4, None, None, "12:00:00", 180, threads=1)
    assert (four.cpus, four.mem_mb, four.time_min) == (64, 500000, 720)
    short = make_request(CPU_NODE, None, None, None, "1", 180, threads=1)
    assert short.signal_s == 30  # at most half the time limit


@pytest.mark.parametrize("ask, message", [
    ({"gpus": 1}, "has no GPUs; leave --gpus out"),
    ({"cpus": 8}, "at most 2 CPUs on a node; the job would pend forever"),
    ({"mem": "64G"}, "at most 21,694 MB on a node"),
    ({"mem": "lots"}, "not a memory size"),
])
def test_impossible_requests_are_refused_before_submission(ask, message):
    with pytest.raises(BenchError, match=message):
        make_request(CPU_NODE, ask.get("gpus"), ask.get("cpus"), ask.get("mem"), None, 180, threads=1)
    with pytest.raises(BenchError, match="allows at most 2-00:00:00"):
        make_request(GPU_NODE, 1, None, None, "3-00:00:00", 180, threads=1)
    with pytest.raises(BenchError, match="has 8 per node"):
        make_request(GPU_NODE, 16, None, None, None, 180, threads=1)


def test_the_job_script_passes_the_time_limit_warning_on_and_records_how_it_ended(tmp_path):
    stage = Stage("train@vit_p4_digits-0", "bench train --entry vit_p4_digits --seed 0", ("runs/x/checkpoint.pt",))
    one = job_script(stage, make_request(GPU_NODE, 1, None, None, "01:00:00", 180, 1), "bench-ab-x", tmp_path,
                     tmp_path / "logs")
    assert "#SBATCH --signal=B:USR2@180" in one and "#SBATCH --gres=gpu:1" in one
    assert "bench train --entry vit_p4_digits --seed 0 &" in one
    assert "trap 'why=time_limit; kill -USR2 \"$child\" 2>/dev/null' USR2" in one
    assert f'echo "$rc $why" > {tmp_path}/logs/train_vit_p4_digits-0.$SLURM_JOB_ID.rc' in one
    four = job_script(stage, make_request(GPU_NODE, 4, None, None, None, 180, 1), "n", tmp_path, tmp_path)
    assert "torchrun --standalone --nproc_per_node 4 -m bench.cli train --entry vit_p4_digits --seed 0 &" in four
    assert "kill -TERM \"$child\" 2>/dev/null' USR2" in four  # torchrun passes SIGTERM on to its workers
    cpu = job_script(stage, make_request(CPU_NODE, None, None, None, None, 180, 1), "n", tmp_path, tmp_path)
    assert "--gres" not in cpu
    with pytest.raises(BenchError, match="not a single command"):
        job_script(Stage("train@a-0", "bench train; rm -rf /"), make_request(CPU_NODE, 0, 1, None, None, 1, 1), "n",
                   tmp_path, tmp_path)


def test_an_entrys_seeds_start_when_its_own_selection_is_done():
    stages = [Stage("select@a", ""), Stage("select@b", ""), Stage("train@a-0", ""), Stage("train@a-1", ""),
              Stage("train@b-0", ""), Stage("train@c-0", "")]
    s = Schedule(stages)
    order = [s.take().name for _ in range(3)]
    assert order == ["select@a", "select@b", "train@c-0"]  # c has no pending selection: ready at once
    assert s.take() is None  # a's and b's seeds wait for their selections
    s.finish("select@b", True)
    assert s.take().name == "train@b-0"  # b's seed starts while a's selection still runs
    s.finish("select@a", False, "diverged")
    assert s.take() is None and set(s.skipped) == {"train@a-0", "train@a-1"}
    for name in ("train@c-0", "train@b-0"):
        s.finish(name, True)
    assert s.finished and "3/6 done" in s.progress()
    again = Schedule([Stage("train@c-0", "")])
    stage = again.take()
    again.requeue(stage)
    assert again.take() is stage


def test_study_stages_are_scheduled_as_training_work_without_a_memory_check_by_plan():
    from bench.scale import stages

    cell = Stage("study@embedded_study.sam.digits", "bench study cell --cell embedded_study.sam.digits")
    assert "study@" in stages.PHASES and cell.kind == "study" and cell.entry == "embedded_study.sam.digits"
    assert not cell.planned and Stage("train@a-0", "").planned and Stage("select@a", "").planned
    s = Schedule([Stage("select@a", ""), Stage("train@a-0", ""), cell])
    assert [s.take().name, s.take().name] == ["select@a", "study@embedded_study.sam.digits"]  # waits for nothing


def test_workers_subset_an_inherited_cuda_visible_devices():
    assert visible_devices("0,1", "4,5,6,7") == ["4", "5"]  # indices into what the scheduler gave this job
    assert visible_devices(None, "4,5") == ["4", "5"]
    assert visible_devices("2,3", None) == ["2", "3"]
    assert visible_devices(None, None, count=2) == ["0", "1"]
    with pytest.raises(BenchError, match="not an index into CUDA_VISIBLE_DEVICES=4,5"):
        visible_devices("2", "4,5")
    with pytest.raises(BenchError, match="no GPU is visible"):
        visible_devices(None, None, count=0)
    with pytest.raises(BenchError, match="listed twice"):
        visible_devices("1,1", None)


def test_a_stage_over_the_cards_memory_is_refused_with_the_estimate(tmp_path):
    from conftest import tiny_plan

    from bench.scale.fit import Fit

    (tmp_path / "tiny.json").write_text(json.dumps({**tiny_plan(steps=5, batch_size=32), "data": {}}))
    effnet = tiny_plan(steps=5, batch_size=32)
    effnet.update(model="test_efficientnet", model_kwargs={})
    (tmp_path / "effnet.json").write_text(json.dumps({**effnet, "data": {}}))
    fit = Fit("auto", tmp_path)
    assert fit.problem("tiny", 80 * 2**30, "H100") is None and fit.problem("tiny", None) is None
    assert "even the smallest micro-batch does not fit" in fit.problem("tiny", 2**10, "a 1 KiB card")
    assert "BatchNorm trains" in fit.problem("effnet", 2**20, "a 1 MiB card")
    assert "BatchNorm trains, whose statistics it would change" in Fit("4", tmp_path).problem("effnet", 2**40)
