"""What a SLURM job asks for: a partition's nodes read from `sinfo`, and a job's request, defaulted to its
share of a node and checked against what a node has (a request no node can meet would pend forever)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bench.errors import BenchError


def parse_time(text: str) -> int | None:
    """SLURM's time format in minutes (None: no limit): 30, 30:00, 2:00:00, 1-00:00:00, 1-12, infinite."""
    text = text.strip()
    if text.lower() in ("infinite", "unlimited", "none", "n/a", ""):
        return None
    m = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text)
    if not m:
        raise ValueError(f"not a SLURM time: {text!r} (minutes, HH:MM:SS or D-HH:MM:SS)")
    days, a, b, c = (int(g) if g else None for g in m.groups())
    if days is not None:  # D-HH[:MM[:SS]]
        return days * 1440 + a * 60 + (b or 0) + (1 if c else 0)
    if c is not None:  # HH:MM:SS
        return a * 60 + b + (1 if c else 0)
    if b is not None:  # MM:SS
        return a + (1 if b else 0)
    return a  # minutes


def format_time(minutes: int) -> str:
    d, rest = divmod(minutes, 1440)
    return f"{d}-{rest // 60:02d}:{rest % 60:02d}:00" if d else f"{rest // 60:02d}:{rest % 60:02d}:00"


def parse_mem(text: str) -> int:
    """Memory in MB from SLURM's notation: 500 (MB), 500M, 64G, 1T."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)B?\s*", text, re.IGNORECASE)
    if not m:
        raise ValueError(f"not a memory size: {text!r} (e.g. 500M, 64G)")
    value, unit = float(m.group(1)), m.group(2).upper()
    return int(value * {"K": 1 / 1024, "": 1, "M": 1, "G": 1024, "T": 1024 ** 2}[unit])


def parse_gres(text: str) -> tuple[int, str | None]:
    """(GPUs per node, their type) from sinfo's %G: (null), gpu:4, gpu:h100:8(S:0-1), gpu:a100:4,shard:8."""
    for part in re.split(r",(?![^()]*\))", text):
        fields = re.sub(r"\(.*\)", "", part).split(":")
        if fields[0] != "gpu" or len(fields) < 2:
            continue
        count = fields[-1]
        if count.isdigit():
            return int(count), fields[1] if len(fields) == 3 else None
    return 0, None


@dataclass(frozen=True)
class Partition:
    name: str
    cpus: int  # per node (the largest node)
    mem_mb: int
    gpus: int
    gpu_type: str | None
    max_time_min: int | None

    def describe(self) -> str:
        gpus = f"{self.gpus} GPUs ({self.gpu_type or 'type not given'})" if self.gpus else "no GPUs"
        limit = format_time(self.max_time_min) if self.max_time_min else "no time limit"
        return f"partition {self.name}: nodes of {self.cpus} CPUs, {self.mem_mb:,} MB, {gpus}; {limit}"


def parse_partition(name: str, sinfo_lines: list[str]) -> Partition:
    """sinfo -h -p NAME -o '%c|%m|%G|%l' (one line per kind of node): the largest node's resources."""
    rows = [line.split("|") for line in sinfo_lines if line.strip()]
    if not rows:
        raise BenchError(f"partition {name!r}: sinfo lists no nodes in it")
    cpus = max(int(r[0].rstrip("+")) for r in rows)
    mem = max(int(r[1].rstrip("+")) for r in rows)
    gres = max((parse_gres(r[2]) for r in rows), key=lambda g: g[0])
    return Partition(name, cpus, mem, gres[0], gres[1], parse_time(rows[0][3]))


@dataclass(frozen=True)
class Request:
    partition: str
    gpus: int
    cpus: int
    mem_mb: int
    time_min: int
    signal_s: int

    def describe(self) -> str:
        gpus = f"{self.gpus} GPU{'s' if self.gpus != 1 else ''}, " if self.gpus else ""
        return (f"each job: {gpus}{self.cpus} CPU{'s' if self.cpus != 1 else ''}, {self.mem_mb:,} MB, "
                f"{format_time(self.time_min)} (SIGUSR2 {self.signal_s} s before the limit)")


def make_request(part: Partition, gpus: int | None, cpus: int | None, mem: str | None, time_text: str | None,
                 signal_s: int, threads: int) -> Request:
    """The resources of one job: what was asked, else the job's share of a node; impossible asks refused."""
    where = f"partition {part.name} (nodes of {part.cpus} CPUs, {part.mem_mb:,} MB, {part.gpus} GPUs)"
    if gpus is None:
        gpus = 1 if part.gpus else 0
    if gpus < 0 or (cpus is not None and cpus < 1):
        raise BenchError("--gpus must be 0 or more and --cpus 1 or more")
    if gpus > part.gpus:
        raise BenchError(f"--gpus {gpus}: {where} has " + (f"{part.gpus} per node" if part.gpus else
                         "no GPUs; leave --gpus out (or 0) to run on its CPUs, or choose a GPU partition"))
    share = gpus / part.gpus if gpus else None
    if cpus is None:
        cpus = max(1, int(part.cpus * share)) if share else max(1, min(threads, part.cpus))
    if cpus > part.cpus:
        raise BenchError(f"--cpus {cpus}: {where} has at most {part.cpus} CPUs on a node; the job would pend forever")
    try:
        mem_mb = parse_mem(mem) if mem else max(256, int(part.mem_mb * (share or cpus / part.cpus)))
    except ValueError as exc:
        raise BenchError(f"--mem: {exc}") from None
    if mem_mb > part.mem_mb:
        raise BenchError(f"--mem {mem}: {where} has at most {part.mem_mb:,} MB on a node")
    try:
        time_min = parse_time(time_text) if time_text else min(24 * 60, part.max_time_min or 24 * 60)
    except ValueError as exc:
        raise BenchError(f"--time: {exc}") from None
    if time_min is None or time_min < 1:
        raise BenchError(f"--time {time_text}: give a time limit of at least one minute")
    if part.max_time_min is not None and time_min > part.max_time_min:
        raise BenchError(f"--time {time_text}: {where} allows at most {format_time(part.max_time_min)}")
    return Request(part.name, gpus, cpus, mem_mb, time_min, max(10, min(signal_s, time_min * 30)))
