"""`bench workers`: one worker per GPU of this machine, each running pending stages through DVC.

`dvc repro plan` first (prepare, plan); then each worker takes the next ready
stage (bench.scale.schedule) and runs `dvc --wait-for-lock repro -s <stage>`
with CUDA_VISIBLE_DEVICES set to its one device, so each stage sees one GPU and
DVC's own lock keeps dvc.lock consistent. Finally `dvc repro` runs what is left
(collect, stats, report).

Device ids are what CUDA would call them in this process: indices into an
inherited CUDA_VISIBLE_DEVICES when it is set (a job given GPUs 4-7 by its
scheduler runs `--devices 0,1` on its GPUs 4 and 5), and physical ids
otherwise. Without --devices, every visible GPU gets a worker.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

from bench.errors import BenchError
from bench.scale.fit import Fit
from bench.scale.schedule import Schedule, report
from bench.scale.stages import dvc, pending, prologue


def visible_devices(requested: str | None, inherited: str | None = None, count: int | None = None) -> list[str]:
    """The device each worker gets (a CUDA_VISIBLE_DEVICES value): `requested` ids, read as indices into
    `inherited` (CUDA_VISIBLE_DEVICES) when that is set; without `requested`, every visible device."""
    pool = [d.strip() for d in inherited.split(",") if d.strip()] if inherited is not None else None
    if requested is None:
        if pool is not None:
            if not pool:
                raise BenchError("CUDA_VISIBLE_DEVICES is empty: no GPU is visible to give the workers")
            return pool
        if not count:
            raise BenchError("no GPU is visible; give --devices (e.g. --devices 0,1), one worker per id")
        return [str(i) for i in range(count)]
    ids = [d.strip() for d in requested.split(",") if d.strip()]
    if not ids:
        raise BenchError("--devices: give at least one device id (e.g. 0,1,2,3)")
    if len(set(ids)) != len(ids):
        raise BenchError(f"--devices {requested}: a device is listed twice")
    for d in ids:  # what CUDA_VISIBLE_DEVICES takes; anything else hides every GPU and the stage runs on the CPU
        if not (d.isdigit() or d.startswith(("GPU-", "MIG-"))):
            raise BenchError(f"--devices {requested}: {d!r} is not a device id: an index (0, 1, ...) or a GPU-/MIG- "
                             "UUID as `nvidia-smi -L` prints it")
    if pool is None:
        return ids
    out = []
    for d in ids:
        if not d.isdigit() or int(d) >= len(pool):
            raise BenchError(f"--devices {requested}: {d} is not an index into CUDA_VISIBLE_DEVICES={inherited} "
                             f"(0..{len(pool) - 1}): with CUDA_VISIBLE_DEVICES set, ids count its devices")
        out.append(pool[int(d)])
    return out


def _card_memory(index: int) -> tuple[float | None, str]:
    """The memory of this process's CUDA device `index`, or None without CUDA (no check)."""
    try:
        import torch

        if torch.cuda.is_available() and index < torch.cuda.device_count():
            props = torch.cuda.get_device_properties(index)
            return float(props.total_memory), props.name
    except Exception:  # a broken driver: the stage itself reports it  # noqa: BLE001
        pass
    return None, "the card"


def run_workers(requested: str | None, micro_setting="auto", log_dir: str | Path = "runs/.logs") -> int:
    inherited = os.environ.get("CUDA_VISIBLE_DEVICES")
    count = None
    if requested is None and inherited is None:
        import torch

        count = torch.cuda.device_count()
    devices = visible_devices(requested, inherited, count)
    prologue()
    stages = pending()
    schedule = Schedule(stages)
    fit = Fit(micro_setting)
    Path(log_dir).mkdir(parents=True, exist_ok=True)
    print(f"{len(stages)} pending stages on {len(devices)} workers (devices {', '.join(devices)}); "
          f"logs in {log_dir}/", flush=True)
    say = threading.Lock()

    # Each worker's device as this process's CUDA sees it (for its memory): the id given, or its position.
    local = ([int(d) if d.strip().isdigit() else -1 for d in requested.split(",") if d.strip()]
             if requested is not None else list(range(len(devices))))

    def worker(slot: int, device: str) -> None:
        memory, card = _card_memory(local[slot]) if local[slot] >= 0 else (None, "the card")
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": device}
        while (stage := schedule.wait_for_work()) is not None:
            problem = fit.problem(stage.entry, memory, card) if stage.planned else None
            if problem:
                schedule.finish(stage.name, False, f"refused before it started: {problem}")
                with say:
                    print(f"  [device {device}] {stage.name}: REFUSED: {problem}", flush=True)
                continue
            start = time.perf_counter()
            log = Path(log_dir) / f"{stage.file_name}.log"
            with open(log, "w", encoding="utf-8") as f:
                rc = subprocess.run(["dvc", "--wait-for-lock", "repro", "-s", stage.name], env=env, stdout=f,
                                    stderr=subprocess.STDOUT, check=False).returncode
            schedule.finish(stage.name, rc == 0, f"exit {rc}, log {log}")
            with say:
                status = "ok" if rc == 0 else f"FAILED (exit {rc}, log {log})"
                print(f"  [device {device}] {stage.name}: {status} in {time.perf_counter() - start:.1f} s "
                      f"[{schedule.progress()}]", flush=True)

    threads = [threading.Thread(target=worker, args=(i, d)) for i, d in enumerate(devices)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rc = report(schedule)
    if rc:
        return rc
    return dvc("repro").returncode
