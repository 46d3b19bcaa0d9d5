"""`bench select --entry E` (DVC stage select@E): choose a hyper-parameter on held-out data.

The papers' protocols, as the table files declare them in `recipe.select`:
  * ViT fine-tuning (Dosovitskiy et al. 2021, Appendix B.1.1): the learning
    rate from a small grid, trained on the training split minus a held-out
    part (2% CIFAR, 10% Pets/Flowers, 1% ImageNet; VTAB: train800 -> val200)
    and scored on that part;
  * SAM's "optimal rho" (Foret et al. 2021, Section 3.1 / Table 10): rho
    from {0.01, 0.02, 0.05, 0.1, 0.2, 0.5} on a held-out 10% of the training set.
Each grid value is trained once with `select.seed` on `sweep_train_split` and
scored (top-1) on `sweep_val_split`; the test split is never read. The best
value (ties: the first in the grid) goes to select/<entry>.json, which every
seed's train stage reads and records in its metrics. A grid value whose run
diverges is recorded under `failed` and the choice is made among the rest.

A sweep can outlast a job's time limit (ViT-L/16's on ImageNet is about 60
GPU-hours), so each grid value is its own resumable run, in
`work_dir/<param>=<value>/`: resume points every `checkpoint_every` steps and
on SIGTERM/SIGUSR2 (bench.train.loop), and `done.json` once the value is
scored. A rerun of the stage skips the values already done (for the same
plan) and resumes the one that was stopped; the work directory goes once the
choice is written.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.io import read_json, write_json
from bench.provenance import json_sha256
from bench.tables.recipe import Plan
from bench.train.distributed import world_from_env
from bench.train.loop import RunConfig, TrainingDiverged, train

DONE = "done.json"


def _trial(trial: Plan, seed: int, splits: tuple[str, str], data_dir: str | Path, run: RunConfig,
           trial_dir: Path | None) -> dict[str, Any]:
    """One grid value's outcome, {"top1": ...} or {"failed": reason}: from its done.json when this very
    trial finished before, else trained (resuming from the value's resume point if there is one)."""
    key = json_sha256([trial.to_json(), seed, splits])
    done = trial_dir / DONE if trial_dir is not None else None
    if done is not None and done.is_file():
        record = read_json(done, "")
        if record.get("key") == key:
            print(f"{trial.entry}: {trial_dir.name}: done before ({done})", flush=True)
            return record["outcome"]
    try:
        metrics, _ = train(trial, seed, data_dir, dataclasses.replace(run, run_dir=trial_dir), splits=splits)
        outcome: dict[str, Any] = {"top1": metrics["top1"]}
    except TrainingDiverged as exc:
        outcome = {"failed": str(exc)}
    if done is not None and world_from_env().main:
        write_json(done, {"key": key, "outcome": outcome})
    return outcome


def select_value(plan: Plan, data_dir: str | Path, run: RunConfig | None = None,
                 work_dir: Path | None = None) -> dict[str, Any]:
    """The grid value with the best held-out top-1. A value whose run diverges (NaN loss) is recorded as
    failed and the choice is made among the rest; only when every value fails is the selection itself
    a failure (BenchError, naming the values and their steps). `run`: how each value trains (device,
    engine, resume points every run.checkpoint_every steps); `work_dir`: where the values' resume
    points and outcomes live until the choice is made (None: nowhere, nothing resumable)."""
    run = run or RunConfig()
    select, ds = plan.recipe.select, plan.dataset
    splits = (ds.sweep_train_split, ds.sweep_val_split)
    scores: dict[str, float] = {}
    failed: dict[str, str] = {}
    for value in select.grid:
        name = f"{select.param}={value:g}"
        trial_dir = work_dir / name if work_dir is not None else None
        outcome = _trial(plan.with_selection(select.param, value), select.seed, splits, data_dir, run, trial_dir)
        if "failed" in outcome:
            failed[f"{value:g}"] = outcome["failed"]
            print(f"{plan.entry}: {name}: FAILED ({outcome['failed']}); choosing among the other values",
                  flush=True)
            continue
        scores[f"{value:g}"] = outcome["top1"]
        print(f"{plan.entry}: {name}: held-out top1 {outcome['top1']:.2f}%", flush=True)
    if not scores:
        raise BenchError(f"{plan.entry}: every {select.param} of the grid diverged: "
                         + "; ".join(f"{k}: {v}" for k, v in failed.items()))
    best = max((v for v in select.grid if f"{v:g}" in scores), key=lambda v: scores[f"{v:g}"])
    print(f"{plan.entry}: chose {select.param} = {best:g}")
    out = {"param": select.param, "value": best, "scores": scores, "seed": select.seed,
           "split": {"train": splits[0], "val": splits[1]}}
    if failed:
        out["failed"] = failed
    if work_dir is not None and world_from_env().main:
        shutil.rmtree(work_dir, ignore_errors=True)  # every score is in the choice now
    return out
