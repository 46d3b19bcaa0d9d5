"""The report's improvement-study sections (results/studies/<study>/*.csv from `bench study analyze`).

Per study: the arms and what each changes, the tuning budget and each cell's best configuration, the
per-dataset effects with their CIs (a forest plot), the aggregates across datasets (IQM and probability
of improvement, stratified-bootstrap CIs), the tuning curves (best held-out value against trial), and
the device-hours of tuning and of the final runs, separately.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from bench.errors import BenchError
from bench.report.plots import _plt, _svg

VERDICT_COLORS = {"IMPROVES": "#1e8449", "NO_EVIDENCE": "#7f8c8d", "HURTS": "#c0392b"}


def forest(effects: pd.DataFrame) -> str | None:
    """Per (comparison, dataset): the paired difference of test top-1 with its 95% CI, coloured by verdict."""
    done = effects[effects["effect"].notna()] if "effect" in effects else effects.iloc[0:0]
    if done.empty:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.0, 0.32 * len(done) + 0.9))
    labels = [f"{r.variant} vs {r.control}, {r.dataset}" for r in done.itertuples()]
    for i, r in enumerate(done.itertuples()):
        color = VERDICT_COLORS.get(r.verdict, "#2c3e63")
        ax.errorbar(r.effect, i, xerr=[[r.effect - r.ci95_low], [r.ci95_high - r.effect]], fmt="o", color=color,
                    capsize=3, markersize=4)
    ax.axvline(0.0, color="#555", linewidth=0.8)
    ax.set_yticks(range(len(done)), labels)
    ax.invert_yaxis()
    ax.set_xlabel("test top-1 difference, variant - control (points), 95% CI")
    return _svg(fig)


def tuning_curves(tuning: pd.DataFrame) -> str | None:
    """Best held-out top-1 so far against trial, one line per arm, one panel per dataset."""
    if tuning.empty:
        return None
    plt = _plt()
    datasets = list(dict.fromkeys(tuning.dataset))
    fig, axes = plt.subplots(1, len(datasets), figsize=(3.2 * len(datasets), 2.6), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        mine = tuning[tuning.dataset == dataset]
        for arm in dict.fromkeys(mine.arm):
            curve = mine[mine.arm == arm]
            ax.step(curve.trial + 1, curve.best_so_far, where="post", label=arm)
        ax.set_title(dataset)
        ax.set_xlabel("trial")
    axes[0][0].set_ylabel("best held-out top-1 (%)")
    axes[0][-1].legend(fontsize=7, frameon=False)
    return _svg(fig)


# The columns the report reads from each file `bench study analyze` writes (runs.csv: the per-seed results the
# effects come from, checked so that a foreign or hand-edited file is refused rather than left unread).
COLUMNS = {"arms": ("arm", "text", "against", "changes", "space"),
           "effects": ("variant", "control", "dataset", "effect", "ci95_low", "ci95_high", "verdict"),
           "iqm": ("arm", "iqm", "ci95_low", "ci95_high", "runs"),
           "poi": ("variant", "control", "poi", "ci95_low", "ci95_high", "verdict"),
           "tuning": ("arm", "dataset", "trial", "best_so_far"),
           "cells": ("arm", "dataset", "trials", "best_params"),
           "runs": ("arm", "dataset", "seed", "status", "top1")}


def _read(path: Path) -> pd.DataFrame:
    """One of a study's result files, its columns checked; an absent file reads as empty."""
    if not path.is_file():
        return pd.DataFrame()
    fix = "rerun `bench study analyze` (or `dvc repro`) to write it"
    try:
        frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise BenchError(f"cannot read {path} ({str(exc).splitlines()[0] if str(exc) else exc!r}); {fix}") from None
    missing = [c for c in COLUMNS[path.stem] if c not in frame.columns]
    if missing:
        raise BenchError(f"{path}: not a study {path.stem} file of this harness (no column {missing[0]!r}); {fix}")
    if path.stem == "runs":
        top1 = pd.to_numeric(frame.top1, errors="coerce")
        bad = (frame.status == "ok") & ~top1.between(0.0, 100.0)
        if bad.any():
            at = int(bad.to_numpy().nonzero()[0][0])
            raise BenchError(f"{path}: line {at + 2}: top1: {frame.top1.iloc[at]!r} is not a percentage in [0, 100]; "
                             f"{fix}")
    return frame


def sections(results_dir: str | Path = "results/studies") -> list[dict[str, Any]]:
    """One item per analysed study, for the template."""
    results_dir = Path(results_dir)
    summary_path = results_dir / "summary.json"
    if not summary_path.is_file():
        return []
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        if not isinstance(summary, dict) or not all(isinstance(v, dict) for v in summary.values()):
            raise ValueError("not a mapping of study id -> its summary")
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise BenchError(f"{summary_path}: {exc}; rerun `bench study analyze` (or `dvc repro`) to write it") from None
    out = []
    for sid, info in summary.items():
        where = results_dir / sid
        frames = {n: _read(where / f"{n}.csv") for n in COLUMNS}
        arms = frames["arms"].fillna("").to_dict("records")
        cells = frames["cells"]
        if not cells.empty:
            cells = cells.assign(best_params=cells.best_params.map(_params_text))
        out.append({"id": sid, "title": info["title"], "file": info.get("file", ""), "arms": arms,
                    "effects": frames["effects"].to_dict("records"), "iqm": frames["iqm"].to_dict("records"),
                    "poi": frames["poi"].to_dict("records"), "cells": cells.to_dict("records"),
                    "forest": forest(frames["effects"]), "curves": tuning_curves(frames["tuning"]),
                    "tuning_hours": info.get("tuning_device_hours"), "final_hours": info.get("final_device_hours"),
                    "trials": int(cells.trials.max()) if not cells.empty else 0,
                    "commits": info.get("commits", []),
                    "equal_budget": bool(cells.empty or cells.trials.nunique() == 1)})
    return out


def _params_text(text: str) -> str:
    try:
        params = json.loads(text)
    except (TypeError, ValueError):
        return str(text)
    return ", ".join(f"{k.split('.')[-1]}={v:.3g}" if isinstance(v, float) else f"{k.split('.')[-1]}={v}"
                     for k, v in params.items())
