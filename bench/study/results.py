"""`bench study analyze` (DVC stage study_stats): every study's final runs and tuning records, judged.

Writes results/studies/<study>/: arms.csv (what each arm changes, its search space), runs.csv (one row per arm x dataset x seed), effects.csv (per comparison
and dataset: paired difference, CI, Holm-adjusted one-sided tests, verdict), iqm.csv and poi.csv (the
aggregates across datasets with stratified-bootstrap CIs), tuning.csv (every counted trial of every
cell: the tuning curves), cells.csv (per cell: the budget used, the best configuration, and the device-
hours of tuning and of the final runs, separately), and results/studies/summary.json.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from bench.errors import BenchError
from bench.io import write_json, write_text
from bench.study import analyze
from bench.tables import yamlfile
from bench.tables.study import Study, split_cell


def _cell_frames(study: Study, out_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    runs, trials, cells = [], [], []
    for cell in study.cells():
        _, arm, dataset = split_cell(cell)
        rerun = f"rerun `bench study cell --cell {cell}` (or `dvc repro`)"
        best_path = out_dir / cell / "tune" / "best.json"
        if not best_path.is_file():
            raise BenchError(f"{best_path} is missing: {rerun}")
        best = _best(best_path, f"delete it and {rerun}: it is written again from the tuning journal")
        finals = [_final(out_dir / cell / "final" / f"{s}.json", s, rerun) for s in study.seeds]
        runs += finals
        curve = _trials(out_dir / cell / "tune" / "trials.csv", f"delete it and {rerun}")
        curve.insert(0, "dataset", dataset)
        curve.insert(0, "arm", arm)
        trials.append(curve)
        cells.append({"arm": arm, "dataset": dataset, "trials": best["trials"], **best["states"],
                      "best_value": best["value"], "best_params": json.dumps(best["params"], sort_keys=True),
                      "tuning_split": f"{best['splits']['train']} -> {best['splits']['val']}",
                      "tuning_device_hours": best["device_hours"],
                      "final_device_hours": round(sum(float(r.get("device_hours") or 0) for r in finals), 6)})
    frame = pd.DataFrame(runs)
    if "params" in frame:
        frame["params"] = frame["params"].map(lambda p: json.dumps(p, sort_keys=True))
    return frame, pd.concat(trials, ignore_index=True), pd.DataFrame(cells)


def _final(path: Path, seed: int, rerun: str) -> dict[str, Any]:
    from bench.study.final import read_record

    if not path.is_file():
        raise BenchError(f"{path} not found: {rerun}")
    record, problem = read_record(path, seed)
    if record is None:
        raise BenchError(f"{path}: {problem}: delete it and {rerun} (that seed is trained again)")
    return record


def _best(path: Path, fix: str) -> dict[str, Any]:
    try:
        best = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise BenchError(f"{path}: not valid JSON ({exc}); {fix}") from None
    needed = {"trials": int, "states": dict, "value": (int, float), "params": dict, "splits": dict,
              "device_hours": (int, float)}
    for key, kind in needed.items():
        if not isinstance(best, dict) or not isinstance(best.get(key), kind) or isinstance(best.get(key), bool):
            got = best.get(key) if isinstance(best, dict) else best
            raise BenchError(f"{path}: {key}: expected {getattr(kind, '__name__', 'a number')}, got {got!r:.40}; "
                             f"{fix}")
    return best


def _trials(path: Path, fix: str) -> pd.DataFrame:
    try:
        curve = pd.read_csv(path)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise BenchError(f"cannot read {path} ({str(exc).splitlines()[0] if str(exc) else exc!r}); {fix}") from None
    missing = [c for c in ("trial", "state", "value", "best_so_far") if c not in curve.columns]
    if missing:
        raise BenchError(f"{path}: no column {missing[0]!r}; {fix}")
    return curve


def analyze_study(study: Study, out_dir: Path, results_dir: Path) -> dict[str, Any]:
    if not study.comparisons():  # the study loader refuses a study of one arm; a Study built otherwise gets a line
        raise BenchError(f"{study.path}: arms: the study has no comparison (one arm: {', '.join(study.arms)}); "
                         "add a variant to compare with the baseline")
    runs, trials, cells = _cell_frames(study, out_dir)
    comparisons = study.comparisons()
    effects = analyze.effects(runs, comparisons, study.alpha)
    iqm, poi = analyze.aggregate(runs, list(study.arms), comparisons, study.alpha)
    where = results_dir / study.id
    arms = pd.DataFrame([{"arm": a.name, "text": a.text, "against": a.against or "",
                          "changes": "; ".join(f"{k}: {yamlfile.plain(v)}" for k, v in a.changes.items()),
                          "space": "; ".join(p.describe() for p in a.space)} for a in study.arms.values()])
    for name, frame in (("arms", arms), ("runs", runs), ("effects", effects), ("iqm", iqm), ("poi", poi),
                        ("tuning", trials), ("cells", cells)):
        write_text(where / f"{name}.csv", frame.to_csv(index=False))
    commits = sorted(set(runs.get("git_commit", pd.Series(dtype=str)).dropna().astype(str)))
    return {"title": study.title, "file": study.path, "commits": commits,
            "effects": {k: int(v) for k, v in effects.verdict.value_counts().items()},
            "aggregate": {f"{r.variant} vs {r.control}": r.verdict for r in poi.itertuples()},
            "tuning_device_hours": round(float(cells.tuning_device_hours.sum()), 4),
            "final_device_hours": round(float(cells.final_device_hours.sum()), 4)}


def analyze_all(studies: dict[str, Study], out_dir: Path, results_dir: Path) -> dict[str, Any]:
    summary = {sid: analyze_study(s, out_dir, results_dir) for sid, s in studies.items()}
    write_json(results_dir / "summary.json", summary)
    return summary
