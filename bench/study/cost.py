"""`bench study cost NAME`: a study's estimated device-hours, tuning and final runs separately.

The same arithmetic as `bench suite cost` (bench/cost.py: FLOPs counted on the meta device, at an
assumed MFU; not measured): a run costs flops_per_image x steps x batch x passes (2 with SAM). Tuning is
bounded by every trial running to the end (the median pruner stops some early); the final runs are
the study's seeds at each arm's recipe.
"""

from __future__ import annotations

from bench.cost import run_tflop, tflop_per_hour
from bench.study.spec import Study, split_cell


def study_cost(study: Study, card: str, mfu: float) -> str:
    rate = tflop_per_hour(card, mfu)
    cache: dict = {}
    lines = ["| cell | model @ px | steps x batch | GPU-h per run | tuning GPU-h (at most) | final GPU-h |",
             "|---|---|---:|---:|---:|---:|"]
    tuning = final = 0.0
    for cell in study.cells():
        _, arm, dataset = split_cell(cell)
        plan = study.plan(arm, dataset)
        r = plan.recipe
        run_h = run_tflop(plan, cache)[1] / rate
        tuning += run_h * study.trials
        final += run_h * len(study.seeds)
        lines.append(f"| {cell} | {plan.model} @ {r.resolution} | {r.steps:,} x {r.batch_size} | {run_h:.2f} "
                     f"| {run_h * study.trials:.1f} | {run_h * len(study.seeds):.1f} |")
    lines += ["", f"{len(study.cells())} cells ({len(study.arms)} arms x {len(study.datasets)} datasets) on {card} "
                  f"at {mfu:.0%} MFU: tuning at most {tuning:,.1f} GPU-hours ({study.trials} trials a cell, "
                  f"before pruning), final runs {final:,.1f} ({len(study.seeds)} seeds a cell)."]
    return "\n".join(lines) + "\n"
