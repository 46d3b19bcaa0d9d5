"""`bench tune-rho`: choose SAM's rho by a grid on a held-out part of the training split.

As in the SAM paper (Section 3.1, "optimal rho" of Table 10): each rho of the
grid is trained on 90% of the training split and scored on the held-out 10%
(labels as the training data has them, label noise included); the test split
is never read. Prints one line per (rho, seed) and the rho with the best mean.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from bench.tables.recipe import Plan
from bench.train.loop import RunConfig, train


def tune_rho(plan: Plan, grid: list[float], seeds: list[int], data_dir: str | Path,
             holdout: float = 0.1) -> tuple[float, dict[float, list[float]]]:
    scores: dict[float, list[float]] = {}
    for rho in grid:
        trial = plan.with_selection("rho", rho)  # the entry's other SAM settings kept
        for seed in seeds:
            metrics, _ = train(trial, seed, data_dir, RunConfig(progress=False), holdout=holdout)
            scores.setdefault(rho, []).append(metrics["top1"])
            print(f"rho {rho:g} seed {seed}: held-out top1 {metrics['top1']:.2f}%", flush=True)
    best = max(grid, key=lambda r: statistics.fmean(scores[r]))
    return best, scores
