"""bench slurm against a real SLURM (single node, no job accounting): `.ci/slurm-single-node start` runs one.

Marked slurm and slow; skipped where `sinfo` fails, unless BENCH_REQUIRE_SLURM=1 (CI) makes that a failure.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from conftest import copy_repo
from test_scaleout import _env, _up_to_date, _vit_only

from bench.judge.collect import read_run

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


@pytest.fixture(scope="module")
def slurm():
    up = shutil.which("sinfo") and subprocess.run(["sinfo", "-h"], capture_output=True, timeout=30).returncode == 0
    if not up:
        if os.environ.get("BENCH_REQUIRE_SLURM"):
            pytest.fail("BENCH_REQUIRE_SLURM is set but sinfo fails: start one with `.ci/slurm-single-node start`")
        pytest.skip("no SLURM here (sinfo fails); `.ci/slurm-single-node start` runs a single-node one")


def _ours(repo: Path) -> dict[str, str]:
    """This repository's jobs in the queue: job id -> state."""
    return {i: state for i, (_, state) in _jobs(repo).items()}


def _jobs(repo: Path) -> dict[str, tuple[str, str]]:
    """This repository's jobs in the queue: job id -> (stage file name, state)."""
    from bench.scale.slurm import repo_tag

    out = subprocess.run(["squeue", "-h", "-o", "%i|%j|%T"], capture_output=True, text=True, check=True).stdout
    prefix = f"bench-{repo_tag(repo)}-"
    return {i: (name.removeprefix(prefix), state) for i, name, state in (line.split("|") for line in out.splitlines())
            if name.startswith(prefix)}


def _foreground() -> None:
    """In the driver's process before it starts: SIGINT as a terminal's Ctrl-C delivers it. A test run from a
    background job of a non-interactive shell inherits SIGINT ignored, and Python then never raises
    KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _running_train_job(repo: Path, stage: str = "train_vit_p4_digits-0") -> str | None:
    """The job id of `stage` (its job name's tail) while it runs."""
    return next((i for i, (name, state) in _jobs(repo).items() if name == stage and state == "RUNNING"), None)


def _until(condition, what: str, timeout: float = 180.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _long_run(repo: Path, steps: int = 8000) -> str:
    """vit_p4_digits (both seeds) runs past a one-minute time limit; vit_p2_digits stays short."""
    _vit_only(repo)
    table = repo / "experiments/embedded/vit_digits.yaml"
    text = table.read_text().replace("      steps: 600\n", f"      steps: {steps}\n")  # the shared recipe
    short = "    recipe: {<<: *vit_recipe, steps: 600}\n"  # vit_p2_digits keeps its 600 steps
    table.write_text(text.replace("    published: {value: 95.02", short + "    published: {value: 95.02"))
    subprocess.run(["git", "commit", "-qam", "long stages"], cwd=repo, check=True, env=_env(repo))
    return "train@vit_p4_digits-0"


def test_each_stage_is_a_job_recorded_as_it_finishes(slurm, tmp_path):
    repo = copy_repo(tmp_path / "repo")
    _vit_only(repo)
    env = _env(tmp_path)
    run = subprocess.run(["bench", "slurm", "--poll", "1"], cwd=repo, capture_output=True, text=True, env=env,
                         timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = run.stdout
    assert "partition debug: nodes of" in out and "each job: 1 CPU" in out  # defaults from sinfo
    assert out.count("recorded in dvc.lock") == 6  # two selections, two entries x two seeds
    # recorded as each job ends: a selection is in dvc.lock before the last train job is submitted
    assert out.index("select@vit_p4_digits: ok") < out.rindex("submitted job")
    _up_to_date(repo, env)
    assert not _ours(repo)
    again = subprocess.run(["bench", "slurm", "--poll", "1"], cwd=repo, capture_output=True, text=True, env=env,
                           timeout=300)
    assert again.returncode == 0 and "0 pending stages" in again.stdout and "submitted" not in again.stdout


def test_impossible_requests_are_refused_before_anything_is_submitted(slurm, tmp_path):
    repo = copy_repo(tmp_path / "repo")
    env = _env(tmp_path)
    for ask, message in ((["--cpus", "64"], "the job would pend forever"), (["--gpus", "1"], "has no GPUs"),
                         (["--mem", "100T"], "MB on a node"), (["--partition", "nope"], "no such partition")):
        run = subprocess.run(["bench", "slurm", *ask], cwd=repo, capture_output=True, text=True, env=env, timeout=120)
        assert run.returncode == 2 and message in run.stderr, (ask, run.stderr)
    assert not _ours(repo) and not (repo / "plan").exists()  # refused before prepare and plan


def test_a_job_at_its_time_limit_saves_and_continues_in_a_new_job_also_after_the_driver_left(slurm, tmp_path):
    """SIGUSR2 before the time limit: the run saves its resume point, the driver resubmits, the next job
    resumes. The first driver is interrupted with --leave-jobs; the second adopts the job in flight by its
    name instead of submitting a duplicate."""
    repo = copy_repo(tmp_path / "repo")
    # Long enough that no single one-minute job can finish it (8,000 steps once did, in about 60 s, on an
    # idle machine): at least one job must reach its time limit.
    stage = _long_run(repo, steps=24000)
    env = _env(tmp_path)
    cmd = ["bench", "slurm", "--poll", "1", "--time", "1", "--signal-s", "50", "--max-restarts", "20"]
    first = subprocess.Popen(cmd + ["--leave-jobs"], cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env, preexec_fn=_foreground)
    _until(lambda: _running_train_job(repo), "the train job to run")
    first.send_signal(signal.SIGINT)
    out, err = first.communicate(timeout=60)
    assert first.returncode == 130 and "jobs in the queue" in err, out + err
    assert _running_train_job(repo)  # left running
    second = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, env=env, timeout=1200)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    log = second.stdout
    assert f"{stage}: job" in log and "already in the queue, adopted" in log
    assert "reached its time limit and saved a resume point; resubmitting" in log
    assert log.count(f"{stage}: ok in") == 1
    metrics = read_run(repo / "runs/vit_p4_digits/0")
    assert metrics["status"] == "ok" and metrics["resumed_from_step"] and metrics["steps"] == 24000
    assert not (repo / "runs/vit_p4_digits/0/resume.pt").exists()
    _up_to_date(repo, env)


def test_ctrl_c_cancels_the_drivers_jobs_which_save_their_resume_points(slurm, tmp_path):
    repo = copy_repo(tmp_path / "repo")
    _long_run(repo)
    env = _env(tmp_path)
    driver = subprocess.Popen(["bench", "slurm", "--poll", "1"], cwd=repo, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env, preexec_fn=_foreground)
    resume = repo / "runs/vit_p4_digits/0/resume.pt"
    job = _until(lambda: _running_train_job(repo), "the train job to run")
    log = repo / f"runs/.slurm/train_vit_p4_digits-0.{job}.log"
    steps = repo / "runs/vit_p4_digits/0/dvclive/plots/metrics/train/loss.tsv"  # written as the steps run
    # in the training loop (its signal handlers installed), not still importing or loading data
    _until(lambda: steps.exists() and len(steps.read_text().splitlines()) > 2, "the training steps to run")
    driver.send_signal(signal.SIGINT)
    out, err = driver.communicate(timeout=60)
    assert driver.returncode == 130 and "cancelled this driver's" in err, out + err
    _until(lambda: not _ours(repo), "the queue to empty", 90)
    # scancel's SIGTERM reached the run, which saved then (not at a scheduled resume point: every 500 steps)
    assert "stopped by SIGTERM" in log.read_text()
    assert torch.load(resume, weights_only=False)["step"] % 500 != 0


def test_a_job_killed_without_an_exit_status_ends_the_wait(slurm, tmp_path):
    """No job accounting (no sacct): a job killed outright, without writing its exit status, is seen as ended
    from squeue and reported with what scontrol knows, not waited on forever."""
    repo = copy_repo(tmp_path / "repo")
    stage = _long_run(repo)
    env = _env(tmp_path)
    driver = subprocess.Popen(["bench", "slurm", "--poll", "1"], cwd=repo, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env)
    job = _until(lambda: _running_train_job(repo), "the train job to run")
    # The job's shell killed outright (as a node failure would): no exit status is written. (scancel with
    # any signal goes through the job script's trap, which writes one.)
    subprocess.run(["pkill", "-9", "-f", f"job{int(job):05d}/slurm_script"], check=True)
    # the other seed's long stage, killed the same way (the driver would otherwise wait for its 8,000 steps)
    other = _until(lambda: _running_train_job(repo, "train_vit_p4_digits-1"), "the other train job to run")
    subprocess.run(["pkill", "-9", "-f", f"job{int(other):05d}/slurm_script"], check=True)
    out, err = driver.communicate(timeout=120)
    assert driver.returncode == 1, out + err
    assert f"{stage}: FAILED: job {job} ended without an exit status" in out
    assert f"{stage}: job {job} ended without an exit status" in err  # the summary names it too
