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
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.recipe import Plan
from bench.train.loop import RunConfig, TrainingDiverged, train


def select_value(plan: Plan, data_dir: str | Path, device: str = "auto") -> dict[str, Any]:
    """The grid value with the best held-out top-1. A value whose run diverges (NaN loss) is recorded as
    failed and the choice is made among the rest; only when every value fails is the selection itself
    a failure (BenchError, naming the values and their steps)."""
    select, ds = plan.recipe.select, plan.dataset
    splits = (ds.sweep_train_split, ds.sweep_val_split)
    scores: dict[str, float] = {}
    failed: dict[str, str] = {}
    for value in select.grid:
        trial = plan.with_selection(select.param, value)
        try:
            metrics, _ = train(trial, select.seed, data_dir, RunConfig(device=device), splits=splits)
        except TrainingDiverged as exc:
            failed[f"{value:g}"] = str(exc)
            print(f"{plan.entry}: {select.param} {value:g}: FAILED ({exc}); choosing among the other values",
                  flush=True)
            continue
        scores[f"{value:g}"] = metrics["top1"]
        print(f"{plan.entry}: {select.param} {value:g}: held-out top1 {metrics['top1']:.2f}%", flush=True)
    if not scores:
        raise BenchError(f"{plan.entry}: every {select.param} of the grid diverged: "
                         + "; ".join(f"{k}: {v}" for k, v in failed.items()))
    best = max((v for v in select.grid if f"{v:g}" in scores), key=lambda v: scores[f"{v:g}"])
    print(f"{plan.entry}: chose {select.param} = {best:g}")
    out = {"param": select.param, "value": best, "scores": scores, "seed": select.seed,
           "split": {"train": splits[0], "val": splits[1]}}
    if failed:
        out["failed"] = failed
    return out
