"""`bench slurm`: each pending stage a SLURM job, recorded in dvc.lock the moment it succeeds.

    bench slurm [--partition P] [--gpus N] [--cpus N] [--mem 32G] [--time 24:00:00]

What it does, in order:

1. Reads the partition (`sinfo`): CPUs, memory and GPUs per node, its time
   limit. A job's default is its share of a node: one GPU and the CPUs and
   memory that come with it on a GPU partition; `train.threads` CPUs and their
   share of the memory on a CPU partition; the partition's time limit, at most
   24 h. A request no node can meet (more GPUs, CPUs or memory than a node has,
   a GPU on a partition without any, more time than the partition allows) is
   refused before anything is submitted.
2. `dvc repro plan`, then the pending select@/train@/study@ stages in dependency
   order (an entry's seeds as soon as its selection is done). Jobs of this
   repository still queued or running from an earlier driver are found by
   name (`bench-<repo>-<stage>`) and adopted, never submitted twice.
3. Each job runs the stage's command as DVC expands it (through torchrun on
   `--gpus` > 1), after removing the stage's non-persistent outputs as `dvc
   repro` does. SLURM is asked to send SIGUSR2 `--signal-s` seconds before the
   time limit; the job script passes it on, the run saves its resume point and
   stops, and the driver resubmits the stage (up to `--max-restarts` times),
   which resumes where it stopped.
4. The end of a job is read from `squeue` (a job no longer listed has ended)
   and from the exit status its script writes beside its log, never from
   `sacct`: job accounting (slurmdbd) is optional and many clusters lack it.
   A job that ended without writing one was cancelled or killed; a job pending
   for a reason that cannot clear (a limit of the partition or the QOS) is
   cancelled; every wait is bounded (`--max-pending-h`, `--max-unreachable-min`).
5. A stage that succeeds is recorded at once (`dvc commit -f <stage>`): a
   driver that dies loses nothing finished. On Ctrl-C or an error the driver
   cancels its jobs (they save resume points on SIGTERM) or, with
   `--leave-jobs`, leaves them running for the next `bench slurm` to adopt.

Logs and job scripts: runs/.slurm/<stage>.<job>.log and <stage>.sh.
"""

from __future__ import annotations

import getpass
import hashlib
import re
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.errors import BenchError
from bench.scale.fit import Fit
from bench.scale.jobscript import TIME_LIMIT, job_script
from bench.scale.resources import Partition, Request, make_request, parse_partition
from bench.scale.schedule import Schedule, report
from bench.scale.stages import Stage, dvc, pending, prologue

# Pending reasons that no amount of waiting clears: the job asks for more than the partition, QOS or
# association allows (SLURM's "JOB REASON CODES").
HOPELESS = {
    "BadConstraints", "PartitionConfig", "PartitionNodeLimit", "PartitionTimeLimit", "InvalidAccount", "InvalidQOS",
    "QOSMaxCpuPerJobLimit", "QOSMaxGRESPerJob", "QOSMaxMemoryPerJob", "QOSMaxNodePerJobLimit",
    "QOSMaxWallDurationPerJobLimit", "AssocMaxCpuPerJobLimit", "AssocMaxGRESPerJob", "AssocMaxMemPerJob",
    "AssocMaxNodePerJobLimit", "AssocMaxWallDurationPerJobLimit", "QOSMinGRES", "QOSMinCpuNotSatisfied",
}
COMMAND_TIMEOUT_S = 60


# ---------------------------------------------------------------- SLURM's commands


class Slurm:
    """sinfo, sbatch, squeue, scontrol and scancel, each with a timeout."""

    def run(self, *args: str) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(list(args), capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False)
        except FileNotFoundError:
            raise BenchError(f"`{args[0]}` is not installed here: bench slurm runs where SLURM's commands do "
                             "(a login node); on one machine, use `bench workers`") from None
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(list(args), 124, "", f"{args[0]} timed out after {COMMAND_TIMEOUT_S} s")

    def partition(self, name: str | None) -> Partition:
        if name is None:
            out = self.run("sinfo", "-h", "-o", "%P")
            if out.returncode != 0:
                raise BenchError(f"SLURM is not reachable: sinfo: {out.stderr.strip() or out.returncode}")
            default = [p.rstrip("*") for p in out.stdout.split() if p.endswith("*")]
            if not default:
                raise BenchError("the cluster has no default partition: give --partition "
                                 f"({', '.join(sorted(set(out.stdout.split())))})")
            name = default[0]
        out = self.run("sinfo", "-h", "-p", name, "-o", "%c|%m|%G|%l")
        if out.returncode != 0:
            raise BenchError(f"SLURM is not reachable: sinfo: {out.stderr.strip() or out.returncode}")
        if not out.stdout.strip():
            listed = self.run("sinfo", "-h", "-o", "%P").stdout.split()
            raise BenchError(f"--partition {name}: no such partition "
                             f"(this cluster has {', '.join(p.rstrip('*') for p in listed)})")
        return parse_partition(name, out.stdout.splitlines())

    def submit(self, script: Path) -> str:
        out = self.run("sbatch", "--parsable", str(script))
        if out.returncode != 0:
            raise BenchError((out.stderr or out.stdout).strip() or f"sbatch exited {out.returncode}")
        return out.stdout.strip().split(";")[0]

    def queue(self, prefix: str) -> dict[str, tuple[str, str, str]] | None:
        """This user's jobs named `prefix…`: job id -> (name, state, reason); None if squeue failed."""
        out = self.run("squeue", "-h", "-u", getpass.getuser(), "-o", "%i|%j|%T|%r")
        if out.returncode != 0:
            return None
        rows = {}
        for line in out.stdout.splitlines():
            parts = line.split("|")
            if len(parts) == 4 and parts[1].startswith(prefix):
                rows[parts[0]] = (parts[1], parts[2], parts[3])
        return rows

    def state(self, job_id: str) -> str:
        """What scontrol still knows of an ended job (for a few minutes after it ends), for a message."""
        out = self.run("scontrol", "show", "job", job_id)
        found = dict(re.findall(r"\b(JobState|Reason|ExitCode)=(\S+)", out.stdout))
        return ", ".join(f"{k}={v}" for k, v in found.items()) or "no longer known to scontrol"

    def cancel(self, job_ids: list[str]) -> None:
        if job_ids:
            self.run("scancel", *job_ids)


# ---------------------------------------------------------------- the driver


@dataclass
class Job:
    id: str
    stage: Stage
    submitted: float = field(default_factory=time.time)
    started: float | None = None
    reason: str = ""
    unseen: int = 0  # polls since it left the queue without an exit status


@dataclass(frozen=True)
class Options:
    partition: str | None = None
    gpus: int | None = None
    cpus: int | None = None
    mem: str | None = None
    time: str | None = None
    signal_s: int = 180
    max_restarts: int = 3
    poll_s: float = 30.0
    max_pending_h: float = 48.0
    max_unreachable_min: float = 10.0
    leave_jobs: bool = False
    card: str | None = None
    log_dir: str = "runs/.slurm"


def repo_tag(repo: Path) -> str:
    return hashlib.sha1(str(repo.resolve()).encode()).hexdigest()[:8]


class Driver:
    def __init__(self, opts: Options, slurm: Slurm | None = None, repo: Path | None = None):
        self.opts, self.slurm = opts, slurm or Slurm()
        self.repo = (repo or Path.cwd()).resolve()
        self.prefix = f"bench-{repo_tag(self.repo)}-"
        self.log_dir = self.repo / opts.log_dir
        self.jobs: dict[str, Job] = {}
        self.restarts: Counter[str] = Counter()
        self.unreachable_since: float | None = None

    def say(self, text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)

    def run(self, micro_setting="auto", threads: int = 1) -> int:
        part = self.slurm.partition(self.opts.partition)
        req = make_request(part, self.opts.gpus, self.opts.cpus, self.opts.mem, self.opts.time, self.opts.signal_s,
                           threads)
        self.say(part.describe())
        self.say(req.describe())
        card_bytes, card = self._card(part, req)
        prologue()
        stages = pending()
        schedule = Schedule(stages)
        fit = Fit(micro_setting)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        queued = self.slurm.queue(self.prefix) or {}
        in_flight = {name.removeprefix(self.prefix): job_id for job_id, (name, _, _) in queued.items()}
        self.say(f"{len(stages)} pending stages; {len(in_flight)} of this repository's jobs already in the queue")
        try:
            while not schedule.finished:
                while (stage := schedule.take()) is not None:
                    if stage.file_name in in_flight:
                        job_id = in_flight.pop(stage.file_name)
                        self.jobs[job_id] = Job(job_id, stage)
                        self.say(f"{stage.name}: job {job_id} already in the queue, adopted")
                        continue
                    problem = fit.problem(stage.entry, card_bytes, card) if stage.planned else None
                    if problem:
                        schedule.finish(stage.name, False, f"refused before submission: {problem}")
                        self.say(f"{stage.name}: REFUSED: {problem}")
                        continue
                    self._submit(stage, req, schedule)
                self._poll(schedule)
                if not schedule.finished:
                    time.sleep(self.opts.poll_s)
        except KeyboardInterrupt:
            self._stop("interrupted")
            return 130
        except BaseException:
            self._stop("stopping on an error")
            raise
        rc = report(schedule)
        return rc or dvc("repro").returncode

    def _card(self, part: Partition, req: Request) -> tuple[float | None, str]:
        from bench.scale.cost import CARDS, card_of

        if not req.gpus:
            return None, "the card"
        name = self.opts.card or (card_of(part.gpu_type) if part.gpu_type else None)
        if name is None:
            self.say(f"GPU type {part.gpu_type or 'not given'}: unknown memory, stages are not checked against it "
                     f"(give --card, one of {', '.join(CARDS)})")
            return None, "the card"
        if name not in CARDS:
            raise BenchError(f"--card {name}: one of {', '.join(CARDS)}")
        return CARDS[name][1] * 2.0**30, name

    def _submit(self, stage: Stage, req: Request, schedule: Schedule) -> None:
        script = self.log_dir / f"{stage.file_name}.sh"
        try:
            script.write_text(job_script(stage, req, self.prefix + stage.file_name, self.repo, self.log_dir))
            stage.clear_outputs()
            job_id = self.slurm.submit(script)
        except BenchError as exc:
            schedule.finish(stage.name, False, f"not submitted: {exc}")
            self.say(f"{stage.name}: NOT SUBMITTED: {exc}")
            return
        self.jobs[job_id] = Job(job_id, stage)
        self.say(f"{stage.name}: submitted job {job_id}")

    def _poll(self, schedule: Schedule) -> None:
        if not self.jobs:
            return
        rows = self.slurm.queue(self.prefix)
        now = time.time()
        if rows is None:
            self.unreachable_since = self.unreachable_since or now
            waited = (now - self.unreachable_since) / 60
            if waited > self.opts.max_unreachable_min:
                raise BenchError(f"squeue has failed for {waited:.0f} minutes: SLURM is unreachable; the jobs are "
                                 "left as they are (rerun `bench slurm` to adopt them)")
            return
        self.unreachable_since = None
        for job_id, job in list(self.jobs.items()):
            if job_id in rows:
                self._watch(job, rows[job_id][1], rows[job_id][2], now, schedule)
                continue
            outcome = self._exit_status(job)
            if outcome is None:
                job.unseen += 1
                if job.unseen < 3:  # the status file may trail the queue on a shared file system
                    continue
                del self.jobs[job_id]
                detail = self.slurm.state(job_id)
                schedule.finish(job.stage.name, False, f"job {job_id} ended without an exit status ({detail}): "
                                f"cancelled or killed before it finished; log {self._log(job)}")
                self.say(f"{job.stage.name}: FAILED: job {job_id} ended without an exit status ({detail}) "
                         f"[{schedule.progress()}]")
                continue
            del self.jobs[job_id]
            self._ended(job, *outcome, schedule)

    def _watch(self, job: Job, state: str, reason: str, now: float, schedule: Schedule) -> None:
        if state == "PENDING":
            if reason in HOPELESS or now - job.submitted > self.opts.max_pending_h * 3600:
                self.slurm.cancel([job.id])
                del self.jobs[job.id]
                why = (f"pending for a reason that cannot clear ({reason})" if reason in HOPELESS else
                       f"pending for over {self.opts.max_pending_h:g} h ({reason})")
                schedule.finish(job.stage.name, False, f"job {job.id} cancelled: {why}")
                self.say(f"{job.stage.name}: job {job.id} cancelled: {why} [{schedule.progress()}]")
            elif reason != job.reason:
                job.reason = reason
                self.say(f"{job.stage.name}: job {job.id} pending ({reason})")
        elif state == "RUNNING" and job.started is None:
            job.started = now
            self.say(f"{job.stage.name}: job {job.id} running")

    def _log(self, job: Job) -> Path:
        return self.log_dir / f"{job.stage.file_name}.{job.id}.log"

    def _exit_status(self, job: Job) -> tuple[int, str] | None:
        path = self.log_dir / f"{job.stage.file_name}.{job.id}.rc"
        try:
            fields = path.read_text().split()
        except OSError:
            return None
        return (int(fields[0]), fields[1] if len(fields) > 1 else "") if fields else None

    def _ended(self, job: Job, rc: int, why: str, schedule: Schedule) -> None:
        name, took = job.stage.name, time.time() - (job.started or job.submitted)
        if rc == 0:
            commit = dvc("commit", "-f", name, quiet=True)
            if commit.returncode != 0:
                schedule.finish(name, False, f"`dvc commit -f {name}` failed: {commit.stderr.strip()[-300:]}")
                self.say(f"{name}: job {job.id} succeeded but `dvc commit` failed [{schedule.progress()}]")
                return
            schedule.finish(name, True)
            self.say(f"{name}: ok in {took:.0f} s (job {job.id}), recorded in dvc.lock [{schedule.progress()}]")
            return
        if why == TIME_LIMIT:
            self.restarts[name] += 1
            if self.restarts[name] <= self.opts.max_restarts:
                self.say(f"{name}: job {job.id} reached its time limit and saved a resume point; resubmitting "
                         f"({self.restarts[name]}/{self.opts.max_restarts})")
                schedule.requeue(job.stage)
                return
            schedule.finish(name, False, f"stopped at its time limit {self.opts.max_restarts + 1} times (resume "
                            "point kept): a longer --time, or a larger --max-restarts")
        elif why == "terminated":
            schedule.finish(name, False, f"job {job.id} was cancelled or pre-empted (SIGTERM); its resume point is "
                            "kept: rerun `bench slurm` to continue")
        else:
            schedule.finish(name, False, f"exit {rc}: {self._tail(job)} (log {self._log(job)})")
        self.say(f"{name}: FAILED ({schedule.failed[name]}) [{schedule.progress()}]")

    def _tail(self, job: Job) -> str:
        try:
            lines = [line for line in self._log(job).read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            return "no log"
        errors = [line for line in lines if line.startswith("error:") or "Error" in line]
        return (errors or lines or ["empty log"])[-1][:300]

    def _stop(self, why: str) -> None:
        ids = list(self.jobs)
        if not ids:
            return
        if self.opts.leave_jobs:
            print(f"{why}: leaving {len(ids)} jobs in the queue ({', '.join(ids)}); rerun `bench slurm` to adopt "
                  "them (it finds them by name)", file=sys.stderr, flush=True)
            return
        self.slurm.cancel(ids)
        print(f"{why}: cancelled this driver's {len(ids)} jobs ({', '.join(ids)}); runs save a resume point on "
              "SIGTERM, so rerunning `bench slurm` continues them", file=sys.stderr, flush=True)
