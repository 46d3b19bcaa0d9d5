"""`bench study final --cell S.A.D` (DVC stage study_final@S.A.D): the arm's chosen configuration trained
with each of the study's seeds on the full training split and scored on the test split.

The seeds pair the arms: seed s draws the same initial weights where the architectures agree, and the
same data order where the batch sizes agree, in every arm. Each seed's metrics go to `<out>/<seed>.json`
as it finishes, keyed by the plan and the training code (bench.study.tune.code_digest), so a rerun after
a kill trains only the seeds still missing, and a rerun after a code change trains them all again.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from bench.io import write_json
from bench.provenance import json_sha256
from bench.tables.study import Study


def read_record(path: Path, seed: int) -> tuple[dict[str, Any] | None, str]:
    """A final run's record (`<seed>.json`) and "", or None and what is wrong with it (unreadable, another seed's,
    a status or a top-1 that no run writes)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        return None, f"not valid JSON ({exc})"
    if not isinstance(data, dict):
        return None, "not a JSON object"
    if data.get("status") not in ("ok", "failed"):
        return None, f"status: expected ok or failed, got {data.get('status')!r:.40}"
    if data.get("seed") != seed or isinstance(data.get("seed"), bool):
        return None, f"seed: expected {seed} (the file's name), got {data.get('seed')!r:.40}"
    if data["status"] == "ok":
        for key, lo, hi in (("top1", 0.0, 100.0), ("chance", 0.0, 99.999), ("device_hours", 0.0, math.inf)):
            v = data.get(key)
            number = isinstance(v, (int, float)) and not isinstance(v, bool)
            if not (number and math.isfinite(v) and lo <= v <= hi) and (v is not None or key == "top1"):
                return None, f"{key}: expected a number in [{lo:g}, {hi:g}], got {v!r:.40}"
    return data, ""


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
        if path.is_file():
            record, problem = read_record(path, seed)
            if record is not None and record.get("plan_sha256") == key:
                out.append(record)
                continue
            if problem:  # this stage wrote it: a hand-edited or cut record is trained again, not trusted
                print(f"{path}: not a valid record ({problem}): that seed is retrained", flush=True)
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
