"""Running a suite's stages in parallel: every GPU of a machine, or a SLURM cluster.

    bench workers --devices 0,1,2,3     one worker per GPU on this machine
    bench slurm --partition gpu         one SLURM job per stage (submitit)

Both use existing engines for the work and DVC for the bookkeeping:

* workers: `dvc repro plan` first (prepare, plan), then the pending
  `select@*` and then `train@*` stages go to a pool with one worker per
  device; each runs `dvc --wait-for-lock repro -s <stage>` with
  CUDA_VISIBLE_DEVICES set to its device, so each stage sees one GPU and
  DVC's own lock keeps dvc.lock consistent. Finally `dvc repro` runs what is
  left (collect, stats, report).
* slurm: the same order, but each pending stage's command (as DVC expands
  dvc.yaml) is submitted as a job through submitit; when the jobs finish,
  the driver records each successful stage with `dvc commit -f <stage>`, so
  a later `dvc repro` sees them as up to date. submitit's local executor
  (`--local`) runs the same path on one machine, which is how it is tested.

A failed stage does not stop the others; it is listed at the end and the
command exits 1. Rerunning picks up only what is still pending (a stage
killed midway resumes from its runs/<entry>/<seed>/resume.pt).
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.errors import BenchError

PHASES = ("select@", "train@")


def _dvc(*args: str, env: dict | None = None, quiet: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run(["dvc", *args], env=env, text=True,
                          capture_output=quiet, check=False)


def pending(prefix: str) -> list[str]:
    """Stages named `prefix…` that DVC considers changed (or never run), in dvc.yaml order."""
    from dvc.repo import Repo

    with Repo(".") as repo:
        changed = set(repo.status())
        return [s.addressing for s in repo.index.stages if s.addressing.startswith(prefix)
                and s.addressing in changed]


def stage_commands(names: list[str]) -> dict[str, str]:
    from dvc.repo import Repo

    with Repo(".") as repo:
        stages = {s.addressing: s for s in repo.index.stages}
        return {n: stages[n].cmd for n in names}


def _prologue() -> None:
    out = _dvc("repro", "plan")
    if out.returncode != 0:
        raise BenchError("`dvc repro plan` failed (prepare or plan); see its output above")


def run_workers(devices: list[str], log_dir: str | Path = "runs/.logs") -> int:
    """One worker thread per device, each running pending stages one at a time through DVC."""
    if not devices:
        raise BenchError("--devices: give at least one device id (e.g. 0,1,2,3)")
    _prologue()
    failed: list[str] = []
    Path(log_dir).mkdir(parents=True, exist_ok=True)
    for phase in PHASES:
        todo: queue.Queue[str] = queue.Queue()
        names = pending(phase)
        for name in names:
            todo.put(name)
        print(f"{phase.rstrip('@')}: {len(names)} pending stages on {len(devices)} workers", flush=True)
        lock = threading.Lock()

        def worker(device: str) -> None:
            env = {**os.environ, "CUDA_VISIBLE_DEVICES": device}
            while True:
                try:
                    name = todo.get_nowait()
                except queue.Empty:
                    return
                start = time.perf_counter()
                log = Path(log_dir) / f"{name.replace('@', '_')}.log"
                with open(log, "w", encoding="utf-8") as f:
                    rc = subprocess.run(["dvc", "--wait-for-lock", "repro", "-s", name], env=env, stdout=f,
                                        stderr=subprocess.STDOUT, check=False).returncode
                with lock:
                    status = "ok" if rc == 0 else f"FAILED (exit {rc}, log {log})"
                    print(f"  [device {device}] {name}: {status} in {time.perf_counter() - start:.1f} s", flush=True)
                    if rc != 0:
                        failed.append(name)

        threads = [threading.Thread(target=worker, args=(d,)) for d in devices]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return _epilogue(failed)


def _epilogue(failed: list[str]) -> int:
    if failed:
        print(f"{len(failed)} stages failed: {', '.join(failed)}; rerun to retry them "
              "(completed stages are kept)", file=sys.stderr)
        return 1
    out = _dvc("repro")
    return 0 if out.returncode == 0 else out.returncode


def _run_command(cmd: str, cwd: str) -> None:
    """A submitit job: one stage's command, in the repository."""
    subprocess.run(cmd, shell=True, cwd=cwd, check=True)


def run_slurm(executor, poll_s: float = 5.0) -> int:
    """Each pending stage a job of `executor` (submitit); successful ones recorded with `dvc commit`."""
    _prologue()
    failed: list[str] = []
    cwd = str(Path.cwd())
    for phase in PHASES:
        commands = stage_commands(pending(phase))
        print(f"{phase.rstrip('@')}: submitting {len(commands)} jobs", flush=True)
        jobs = {name: executor.submit(_run_command, cmd, cwd) for name, cmd in commands.items()}
        while not all(j.done() for j in jobs.values()):
            time.sleep(poll_s)
        for name, job in jobs.items():
            try:
                job.result()
            except Exception as exc:  # the job's own failure (exit code, pre-emption): keep going
                print(f"  {name}: FAILED in job {job.job_id}: {str(exc).splitlines()[-1][:300]}", file=sys.stderr)
                failed.append(name)
                continue
            if _dvc("commit", "-f", name, quiet=True).returncode != 0:
                failed.append(name)
                print(f"  {name}: `dvc commit` failed", file=sys.stderr)
            else:
                print(f"  {name}: ok (job {job.job_id}), recorded in dvc.lock", flush=True)
    return _epilogue(failed)
