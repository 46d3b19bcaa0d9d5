"""`stage k/N`: where a stage stands in the whole `dvc repro`, with an estimate of the time left.

DVC runs stages one at a time, in the order of the pipeline graph: prepare, plan,
every entry's select stage, every (entry, seed) train stage in the matrix's
order, every improvement-study cell (study@<study>.<arm>.<dataset>) and
study_stats, then collect, stats and report (the order `dvc repro` was seen to use). `bench plan` writes that order to plan/_progress.json with an
estimate per stage (a train stage: its previous run's wall time plus the
process start-up; a select stage: one such run per grid value; a study cell:
its recorded tuning and final device-hours); each stage's
first line then reads, for example,

    [stage 7/24] train@vit_p2_digits-1 · at most about 1 min 10 s left

"At most": a stage whose inputs did not change is skipped by DVC and takes no
time. Estimates come from runs already made, so a first run of an entry shows
how many stages have none.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

FILE = "_progress.json"  # in the plan directory (a name no entry can take: ids start with a letter or digit)
STARTUP_S = 3.0  # a train stage's process start-up on the 2-core reference machine (torch and timm imports)
FIXED_S = {"prepare": 5.0, "plan": 4.0, "study_stats": 5.0, "collect": 3.0, "stats": 4.0, "report": 6.0}


def stage_names(entries: list[str], seeds: list[int], cells: list[str] = ()) -> list[str]:
    """The stages in the order `dvc repro` runs them (dvc.yaml's graph, depth first)."""
    studies = [f"study@{c}" for c in cells] + ["study_stats"] if cells else []
    return (["prepare", "plan"] + [f"select@{e}" for e in entries]
            + [f"train@{e}-{s}" for e in entries for s in seeds] + studies + ["collect", "stats", "report"])


def _study_seconds(studies_dir: Path, cell: str) -> float | None:
    """A study cell's last time: its tuning's and its final runs' recorded device-hours, plus start-up."""
    try:
        best = json.loads((studies_dir / cell / "tune" / "best.json").read_text(encoding="utf-8"))
        finals = [json.loads(p.read_text(encoding="utf-8")) for p in (studies_dir / cell / "final").glob("*.json")]
    except (OSError, ValueError):
        return None
    hours = float(best.get("device_hours") or 0) + sum(float(f.get("device_hours") or 0) for f in finals)
    return STARTUP_S + hours * 3600.0


def _previous_wall(runs_dir: Path, entry: str, seed: int) -> float | None:
    try:
        metrics = json.loads((runs_dir / entry / str(seed) / "metrics.json").read_text(encoding="utf-8"))
        wall = metrics.get("wall_time_s")
        return float(wall) if wall is not None else None
    except (OSError, ValueError):
        return None


def estimates(plans: dict[str, dict[str, Any]], seeds: list[int], runs_dir: Path, cells: list[str] = (),
              studies_dir: Path = Path("studies")) -> list[dict[str, Any]]:
    """One record per stage: its name and its estimated seconds (None: no run to estimate from)."""
    rows = []
    for name in stage_names(list(plans), seeds, cells):
        kind, _, rest = name.partition("@")
        if not rest:
            rows.append({"stage": name, "estimate_s": FIXED_S[name]})
            continue
        if kind == "study":
            rows.append({"stage": name, "estimate_s": _study_seconds(studies_dir, rest)})
            continue
        entry = rest if kind == "select" else rest.rsplit("-", 1)[0]
        walls = [w for s in seeds if (w := _previous_wall(runs_dir, entry, s)) is not None]
        if kind == "select":
            grid = ((plans[entry].get("recipe") or {}).get("select") or {}).get("grid") or []
            est = 1.0 if not grid else (STARTUP_S + len(grid) * max(walls) if walls else None)
        else:
            seed = int(rest.rsplit("-", 1)[1])
            wall = _previous_wall(runs_dir, entry, seed)
            est = STARTUP_S + wall if wall is not None else None
        rows.append({"stage": name, "estimate_s": est})
    return rows


def write(plan_dir: Path, rows: list[dict[str, Any]]) -> None:
    from bench.io import write_json

    write_json(plan_dir / FILE, {"stages": rows})


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    return f"{seconds // 60} min {seconds % 60:02d} s"


def line(stage: str, plan_dir: str | Path = "plan") -> str | None:
    """The `[stage k/N]` line of a stage, or None when the plan does not list it."""
    try:
        rows = json.loads((Path(plan_dir) / FILE).read_text(encoding="utf-8"))["stages"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    names = [r["stage"] for r in rows]
    if stage not in names:
        return None
    k = names.index(stage)
    later = rows[k:]
    known = sum(r["estimate_s"] for r in later if r["estimate_s"] is not None)
    unknown = sum(r["estimate_s"] is None for r in later)
    left = f"at most about {_duration(known)} left" if known else ""
    if unknown:
        left += f"{' + ' if left else ''}{unknown} stage{'s' if unknown > 1 else ''} not run before (no estimate)"
    return f"[stage {k + 1}/{len(rows)}] {stage}" + (f" · {left}" if left else "")


def announce(stage: str, plan_dir: str | Path = "plan") -> None:
    text = line(stage, plan_dir)
    if text:
        print(text, file=sys.stderr, flush=True)
