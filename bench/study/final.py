"""`bench study final --cell S.A.D` (DVC stage study_final@S.A.D): the arm's chosen configuration trained
with each of the study's seeds on the full training split and scored on the test split.

The seeds pair the arms: seed s draws the same initial weights where the architectures agree, and the
same data order where the batch sizes agree, in every arm. Each seed's metrics go to `<out>/<seed>.json`
as it finishes, keyed by the plan and the training code (bench.study.tune.code_digest), so a rerun after
a kill trains only the seeds still missing, and a rerun after a code change trains them all again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.io import read_json, write_json
from bench.provenance import json_sha256
from bench.tables.study import Study


def final_runs(study: Study, arm: str, dataset: str, best: dict[str, Any], out_dir: Path, data_dir: str | Path,
               run=None) -> list[dict[str, Any]]:
    from bench.data.spec import data_spec
    from bench.study.tune import code_digest
    from bench.train.loop import RunConfig, TrainingDiverged, train

    run = run or RunConfig(progress=False)
    plan = study.plan(arm, dataset, best["params"])
    record = {k: v for k, v in plan.to_json().items() if k != "table_file"}
    key = json_sha256([record, code_digest()])
    chance = 100.0 / data_spec(plan.dataset, data_dir).num_classes  # the normalisation's floor (bench.study.analyze)
    out = []
    for seed in study.seeds:
        path = out_dir / f"{seed}.json"
        if path.is_file() and read_json(path, "").get("plan_sha256") == key:
            out.append(read_json(path, ""))
            continue
        try:
            metrics, _ = train(plan, seed, data_dir, run)
            row = {"status": "ok", "top1": metrics["top1"], "wall_time_s": metrics["wall_time_s"],
                   "device_hours": metrics["device_hours"], "device_name": metrics["device_name"],
                   "git_commit": metrics["git_commit"], "test_split": metrics["test_split"],
                   "test_examples": metrics["test_examples"], "chance": chance}
        except TrainingDiverged as exc:
            row = {"status": "failed", "reason": str(exc)}
        row.update(study=study.id, arm=arm, dataset=dataset, seed=seed, params=best["params"], plan_sha256=key,
                   code=code_digest())
        write_json(path, row)
        print(f"{study.id}.{arm}.{dataset} seed {seed}: "
              + (f"test top-1 {row['top1']:.2f}" if row["status"] == "ok" else row["reason"]), flush=True)
        out.append(row)
    for stale in out_dir.glob("*.json"):
        if stale.stem not in {str(s) for s in study.seeds}:
            stale.unlink()
    return out
