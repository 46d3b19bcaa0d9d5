"""`bench study cost NAME`: a study's estimated device-hours, tuning and final runs separately.

The same arithmetic as `bench suite cost` (bench/cost.py: FLOPs counted on the meta device, at an
assumed MFU; not measured): a run costs flops_per_image x steps x batch x passes (2 with SAM). Tuning is
bounded by every trial running to the end (the median pruner stops some early); the final runs are
the study's seeds at each arm's recipe.
"""

from __future__ import annotations

import json

from bench.cost import CARDS
from bench.study.spec import Study
from bench.train.footprint import plan_footprint


def study_cost(study: Study, card: str, mfu: float) -> str:
    peak, _ = CARDS[card]
    rate = peak * mfu * 3600.0  # TFLOP per device-hour
    cache: dict = {}
    lines = ["| cell | model @ px | steps x batch | GPU-h per run | tuning GPU-h (at most) | final GPU-h |",
             "|---|---|---:|---:|---:|---:|"]
    tuning = final = 0.0
    for cell in study.cells():
        _, arm, dataset = cell.split(".")
        plan = study.plan(arm, dataset)
        r = plan.recipe
        key = json.dumps([plan.model, plan.model_kwargs, r.resolution, plan.dataset.name], sort_keys=True)
        if key not in cache:
            cache[key] = plan_footprint(plan)
        passes = 2 if r.optimizer.sam is not None else 1
        run_h = cache[key].flops_per_image * r.steps * r.batch_size * passes / 1e12 / rate
        tuning += run_h * study.trials
        final += run_h * len(study.seeds)
        lines.append(f"| {cell} | {plan.model} @ {r.resolution} | {r.steps:,} x {r.batch_size} | {run_h:.2f} "
                     f"| {run_h * study.trials:.1f} | {run_h * len(study.seeds):.1f} |")
    lines += ["", f"{len(study.cells())} cells ({len(study.arms)} arms x {len(study.datasets)} datasets) on {card} "
                  f"at {mfu:.0%} MFU: tuning at most {tuning:,.1f} GPU-hours ({study.trials} trials a cell, "
                  f"before pruning), final runs {final:,.1f} ({len(study.seeds)} seeds a cell)."]
    return "\n".join(lines) + "\n"
