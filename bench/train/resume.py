"""Resuming a run: everything a training loop needs to continue exactly where it stopped.

`runs/<entry>/<seed>/resume.pt` is written atomically every `checkpoint_every`
steps and when the process receives SIGTERM (pre-emption); it holds the
model, optimizer, schedule and EMA states, the step, the data position and
every random state. A rerun of the same (entry, seed) with the same plan and
engine picks it up, so its final weights and metrics equal an uninterrupted
run's. DVC does not track the file (it is not a stage output, so `dvc repro`
leaves it in place); it is deleted when the run completes.
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.provenance import json_sha256
from bench.train import distributed as ddp
from bench.train.checkpoint import write_checkpoint

RESUME_FILE = "resume.pt"


def fingerprint(plan: dict[str, Any], seed: int, engine: dict[str, Any]) -> str:
    """What must not change between the stopped run and the resumed one."""
    return json_sha256({"plan": plan, "seed": seed, "engine": engine})


@dataclass(frozen=True)
class Point:
    """Where a run starts: the state saved by an earlier run of it (None: step 0), and where it saves its own."""

    path: Path | None  # None: the run saves no resume point
    fp: str  # what a saved state must have been written for
    saved: dict[str, Any] | None

    @property
    def start(self) -> int:
        return self.saved["step"] if self.saved else 0


def point(run_dir: str | Path | None, steps: int, plan: dict[str, Any], seed: int, engine: dict[str, Any],
          world, device: str, label: str) -> Point:
    """The run's resume point under `run_dir` (one file per rank), if one was saved for this very run. The
    ranks of a distributed run agree: all resume from the same step, or all start over."""
    name = RESUME_FILE if not world.active else f"resume.rank{world.rank}.pt"
    path = Path(run_dir) / name if run_dir is not None and steps else None
    fp = fingerprint(plan, seed, engine)
    saved = load(path, fp)
    if world.active and not ddp.same_step(saved["step"] if saved else 0, device):
        print(f"{label}: the ranks' resume points are at different steps (a kill during a save); every rank "
              "starts from step 0", file=sys.stderr, flush=True)
        saved = None
    return Point(path, fp, saved)


def save(path: Path, *, fp: str, step: int, wall: float, model, optimizer, schedule, ema, generator,
         feed_state: Any) -> None:
    write_checkpoint(path, {
        "fingerprint": fp, "step": step, "wall_time_s": wall,
        "model": model.state_dict(), "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
        "ema": ema.state_dict() if ema is not None else None, "generator": generator.get_state(),
        "feed": feed_state, "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "numpy_rng": np.random.get_state(), "python_rng": random.getstate(),
    })


def load(path: Path | None, fp: str) -> dict[str, Any] | None:
    """The saved state, or None (no file, unreadable, or from another plan / seed / engine)."""
    if path is None or not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)  # this project's own file
    except Exception as exc:  # a file cut short by a crash while it was written cannot exist (atomic)
        print(f"ignoring unreadable {path}: {exc}", file=sys.stderr)
        return None
    if state.get("fingerprint") != fp:
        print(f"ignoring {path}: written for another plan, seed or engine", file=sys.stderr)
        return None
    return state


def restore_cuda_rng(saved: list, visible: int, set_state) -> str | None:
    """Restore the CUDA generators of the devices visible now from those saved; the number of visible
    devices may have changed since the resume point (another CUDA_VISIBLE_DEVICES). Returns what was not
    restored, or None."""
    n = min(len(saved), visible)
    for i in range(n):
        set_state(saved[i], i)
    if len(saved) == visible:
        return None
    return (f"resume: {len(saved)} CUDA generator states were saved and {visible} devices are visible now: "
            f"restored devices 0..{n - 1}; " + ("the other saved states are unused" if len(saved) > visible
                                                  else f"devices {n}..{visible - 1} keep their seeded state")
            + " (only dropout and random augmentation on those devices can differ from an uninterrupted run)")


def restore(state: dict[str, Any], *, model, optimizer, schedule, ema, generator, feed) -> None:
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    if ema is not None and state["ema"] is not None:
        ema.load_state_dict(state["ema"])
    generator.set_state(state["generator"])
    if feed is not None and feed.restore is not None and state["feed"] is not None:
        feed.restore(state["feed"])
    torch.set_rng_state(state["torch_rng"])
    if state["cuda_rng"] is not None and torch.cuda.is_available():
        note = restore_cuda_rng(state["cuda_rng"], torch.cuda.device_count(),
                                lambda rng, i: torch.cuda.set_rng_state(rng, device=i))
        if note:
            print(note, file=sys.stderr)
    np.random.set_state(state["numpy_rng"])
    random.setstate(state["python_rng"])
