"""Scale-out and pre-emption, end to end (slow): kill-and-resume, per-device workers (SLURM: test_slurm_real.py)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
import torch
import yaml
from bench.judge.collect import read_run

from conftest import copy_repo, tiny_plan

pytestmark = pytest.mark.slow


def _env(tmp_path):
    return {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path),
            "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t"}


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGUSR2])
def test_killed_stage_resumes_to_the_uninterrupted_result(sig, digits_dir, tmp_path):
    """`bench train` killed midway (SIGKILL: from the last resume point; SIGTERM: saves, then stops)."""
    plan = tiny_plan(steps=400, batch_size=64)
    plan["model_kwargs"].update(embed_dim=32, depth=2)
    for d in ("plan", "select"):
        (tmp_path / d).mkdir()
    (tmp_path / "plan/tiny.json").write_text(json.dumps({**plan, "data": {}}))
    (tmp_path / "select/tiny.json").write_text(json.dumps({"entry": "tiny", "param": None}))
    cmd = [sys.executable, "-m", "bench.cli", "train", "--entry", "tiny", "--data-dir", str(digits_dir),
           "--threads", "1", "--checkpoint-every", "25", "--keep-checkpoint", "true"]
    full = subprocess.run(cmd + ["--seed", "4", "--runs-dir", "uninterrupted"], cwd=tmp_path, capture_output=True,
                          text=True, env=_env(tmp_path))
    assert full.returncode == 0, full.stderr[-2000:]

    proc = subprocess.Popen(cmd + ["--seed", "4"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=_env(tmp_path))
    resume = tmp_path / "runs/tiny/4/resume.pt"
    deadline = time.time() + 120
    while not resume.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed: make it longer"
    time.sleep(0.3)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0 and not (tmp_path / "runs/tiny/4/metrics.json").exists()
    if sig != signal.SIGKILL:  # SIGUSR2: what bench slurm asks SLURM to send before the time limit
        assert f"stopped by {sig.name}" in err
        assert proc.returncode == {signal.SIGUSR2: 75, signal.SIGTERM: 143}[sig]  # resubmit / leave for a rerun
    again = subprocess.run(cmd + ["--seed", "4"], cwd=tmp_path, capture_output=True, text=True, env=_env(tmp_path))
    assert again.returncode == 0, again.stderr[-2000:]
    a, b = read_run(tmp_path / "uninterrupted/tiny/4"), read_run(tmp_path / "runs/tiny/4")
    assert b["resumed_from_step"] and b["resumed_from_step"] % 25 == 0 or sig != signal.SIGKILL
    assert (a["top1"], a["train_loss"]) == (b["top1"], b["train_loss"])
    wa = torch.load(tmp_path / "uninterrupted/tiny/4/checkpoint.pt")
    wb = torch.load(tmp_path / "runs/tiny/4/checkpoint.pt")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert a["weights_sha256"] == b["weights_sha256"]
    assert not resume.exists()


def _vit_only(repo: Path, seeds=(0, 1)) -> list[str]:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    vit = yaml.safe_load((repo / "experiments/embedded/vit_digits.yaml").read_text())
    params["suites"]["embedded"] = ["experiments/embedded/vit_digits.yaml"]
    params.update(suite="embedded", seeds=list(seeds), entries=list(vit["entries"]), study_cells=[])
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    subprocess.run(["git", "commit", "-qam", "vit only"], cwd=repo, check=True, env=_env(repo))
    return [f"train@{e}-{s}" for e in vit["entries"] for s in seeds]


def _up_to_date(repo: Path, env) -> None:
    status = subprocess.run(["dvc", "status"], cwd=repo, capture_output=True, text=True, env=env)
    assert "up to date" in status.stdout, status.stdout


def test_workers_one_per_device_in_parallel(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    stages = _vit_only(repo)
    env = _env(tmp_path)
    run = subprocess.run(["bench", "workers", "--devices", "7,8"], cwd=repo, capture_output=True, text=True,
                         env=env, timeout=1200)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    _up_to_date(repo, env)
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    assert set(stages) <= set(lock)
    spans, devices = [], set()
    for stage in stages:
        entry, seed = stage.removeprefix("train@").rsplit("-", 1)
        m = read_run(repo / "runs" / entry / seed)
        devices.add(m["visible_devices"])
        start = datetime.fromisoformat(m["started_at"]).timestamp()
        spans.append((start, start + m["wall_time_s"]))
    assert devices == {"7", "8"}  # each stage saw exactly one of the two (fake) devices
    spans.sort()
    # two stages ran at the same time: some run began before the one before it ended (1 s resolution)
    assert any(b[0] <= a[1] + 1 for a, b in zip(spans, spans[1:]))
    assert (repo / "reports/index.html").is_file()
