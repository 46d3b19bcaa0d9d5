"""The batch script of a stage's job: its resources, the time-limit warning, and a shell that passes
signals on to the run and records how it ended (the driver reads that file, not `sacct`)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from bench.errors import BenchError
from bench.scale.resources import Request, format_time
from bench.scale.stages import Stage

TIME_LIMIT = "time_limit"  # what the job script records when SIGUSR2 (the time limit's warning) arrived


def job_command(stage: Stage, gpus: int) -> str:
    """The stage's command; with several GPUs, through torchrun (one process per GPU)."""
    if re.search(r"[;&|<>`$()]", stage.cmd):
        raise BenchError(f"{stage.name}: its command is not a single command ({stage.cmd!r}); bench slurm runs "
                         "bench select / bench train stages")
    if gpus > 1 and stage.cmd.startswith("bench "):
        return (f"torchrun --standalone --nproc_per_node {gpus} -m bench.cli "
                + stage.cmd.removeprefix("bench "))
    return stage.cmd


def job_script(stage: Stage, req: Request, job_name: str, repo: Path, log_dir: Path) -> str:
    """The batch script: resources, the time-limit warning, and a shell that passes signals on to the run
    (SIGUSR2 as it came to one process; SIGTERM to torchrun, which passes it to its workers) and writes the
    run's exit status beside the log, which is how the driver learns how the job ended."""
    cmd = job_command(stage, req.gpus)
    warn = "USR2" if req.gpus <= 1 else "TERM"
    lines = [
        "#!/bin/bash",
        f"#SBATCH --job-name={job_name}",
        f"#SBATCH --output={log_dir}/{stage.file_name}.%j.log",
        f"#SBATCH --chdir={repo}",
        f"#SBATCH --partition={req.partition}",
        "#SBATCH --nodes=1",
        "#SBATCH --ntasks=1",
        f"#SBATCH --cpus-per-task={req.cpus}",
        f"#SBATCH --mem={req.mem_mb}M",
        f"#SBATCH --time={format_time(req.time_min)}",
        f"#SBATCH --signal=B:USR2@{req.signal_s}",
    ]
    if req.gpus:
        lines.append(f"#SBATCH --gres=gpu:{req.gpus}")
    lines += [
        f"# {stage.name}, written by bench slurm",
        f"export DVC_STAGE={shlex.quote(stage.name)}",
        f'echo "job $SLURM_JOB_ID on $(hostname): {stage.name}"',
        "why=",
        f"{cmd} &",
        "child=$!",
        f"trap 'why={TIME_LIMIT}; kill -{warn} \"$child\" 2>/dev/null' USR2",
        "trap 'why=terminated; kill -TERM \"$child\" 2>/dev/null' TERM",
        'wait "$child"; rc=$?',
        'while kill -0 "$child" 2>/dev/null; do wait "$child"; rc=$?; done',
        f'echo "$rc $why" > {log_dir}/{stage.file_name}.$SLURM_JOB_ID.rc',
        'exit "$rc"',
    ]
    return "\n".join(lines) + "\n"
