"""The report's figures, drawn by matplotlib as inline SVG (no files, no scripts, text kept as text).

  * published against reproduced, one point per cell, error bars (seed std) and
    the table's margin band around the diagonal;
  * per-seed dots per cell, with the published value and its dispersion;
  * effect charts (SAM's Figure 1, left): per dataset, the improvement of each
    treatment column over the control column, published and reproduced (mean
    paired difference over matched seeds, with its 95% CI);
  * compute per table (device-hours).

matplotlib escapes every text it writes into SVG, so names from table files
stay text.
"""

from __future__ import annotations

import io
import math
import re

import numpy as np
import pandas as pd
from scipy import stats

COLORS = {"REPRODUCED": "#1e8449", "INCONCLUSIVE": "#b9770e", "DISCREPANT": "#c0392b", "UNAVAILABLE": "#7f8c8d",
          "NO_REFERENCE": "#2c3e63"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "bench", "font.size": 9,
                         "axes.spines.top": False, "axes.spines.right": False})
    return plt


def _svg(fig) -> str:
    plt = _plt()
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]  # drop the XML declaration and DOCTYPE: inline in HTML


def _label(row: str, column: str) -> str:
    return f"{row} / {column}"


def published_vs_reproduced(verdicts: pd.DataFrame, margin: float, metric: str) -> str | None:
    """One labelled point per cell with a reference: the reproduced mean (seed std bars) against it."""
    done = verdicts[verdicts.n_runs > 0]
    done = done[done.published.notna()] if "published" in done else done  # cells with a reference
    if done.empty:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 4.2))
    lo = float(min(done.published.min(), (done["mean"] - done["std"].fillna(0)).min())) - margin
    hi = float(max(done.published.max(), (done["mean"] + done["std"].fillna(0)).max())) + margin
    line = np.array([lo, hi])
    ax.fill_between(line, line - margin, line + margin, color="#d6eaf8", label=f"margin ±{margin:g}")
    ax.plot(line, line, color="#5d6d7e", lw=0.8)
    for verdict, group in done.groupby("verdict"):
        ax.errorbar(group.published, group["mean"], yerr=group["std"].fillna(0), fmt="o", ms=5, capsize=2,
                    color=COLORS.get(verdict, "#34495e"), label=verdict)
    names = []
    for k, r in enumerate(done.itertuples(), start=1):  # each point numbered, the numbers named beside the axes
        ax.annotate(str(k), (r.published, r.mean), xytext=(5, 2), textcoords="offset points", fontsize=9,
                    fontweight="bold", color="#1d2330")
        names.append(f"{k}: {r.entry}")
    ax.text(1.03, 1.0, "\n".join(names), transform=ax.transAxes, fontsize=8, va="top", ha="left",
            color="#1d2330")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel(f"reference {metric}")
    ax.set_ylabel(f"reproduced {metric} (mean ± seed std)")
    ax.legend(frameon=False, fontsize=8, loc="upper left")
    return _svg(fig)


def seed_dots(verdicts: pd.DataFrame, metric: str) -> str | None:
    """Per cell (one line each, so any number of cells stays legible on a phone): every seed, the
    reproduced mean and the reference with its std."""
    done = verdicts[verdicts.n_runs > 0].reset_index(drop=True)
    if done.empty:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.6, 0.42 * len(done) + 1.1))
    for i, r in done.iterrows():
        values = [float(v) for v in str(r["values"]).split(";") if v]
        ax.plot(values, [i] * len(values), "o", ms=5, color=COLORS.get(r.verdict, "#34495e"), alpha=0.8,
                label="a seed" if i == 0 else None)
        disp = r.get("published_std")
        ax.errorbar([r.published], [i + 0.25], xerr=[disp if disp == disp and disp else 0], fmt="D", ms=4,
                    color="#2c3e50", capsize=2, label="reference ± std" if i == 0 else None)
    ax.set_yticks(range(len(done)))
    ax.set_yticklabels([_label(r.row, r.column) for r in done.itertuples()], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(metric)
    ax.legend(frameon=False, fontsize=8, loc="best")
    return _svg(fig)


def _per_seed(runs: pd.DataFrame, entry: str, metric: str) -> dict[int, float]:
    sel = runs[(runs.entry == entry) & (runs.metric == metric) & (runs.status == "ok")]
    return {int(s): float(v) for s, v in zip(sel.seed, sel.value)}


def effect_chart(table, runs: pd.DataFrame, figure) -> str:
    """Improvement of each treatment column over the control column, per row (dataset)."""
    plt = _plt()
    sign = 1.0 if table.higher_is_better else -1.0
    cells = {(e.row, e.column): e for e in table.entries.values()}
    fig, ax = plt.subplots(figsize=(min(9.0, max(5.0, 0.9 * len(table.rows) + 1.5)), 3.6))
    width = 0.8 / max(1, len(figure.treatments))
    for k, column in enumerate(figure.treatments):
        for i, row in enumerate(table.rows):
            treat, ctrl = cells.get((row, column)), cells.get((row, figure.control))
            if treat is None or ctrl is None:
                continue
            x = i - 0.4 + width * (k + 0.5)
            ax.plot([x], [sign * (treat.published.value - ctrl.published.value)], "x", color="#2c3e50", ms=6,
                    label="published" if i == 0 and k == 0 else None)
            a, b = _per_seed(runs, treat.id, table.metric), _per_seed(runs, ctrl.id, table.metric)
            d = np.array([sign * (a[s] - b[s]) for s in sorted(set(a) & set(b))])
            if len(d) >= 2:
                half = float(stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d)))
                ax.errorbar([x], [d.mean()], yerr=[half], fmt="o", ms=4, capsize=2, color=f"C{k}",
                            label=f"reproduced: {column}" if i == 0 else None)
    ax.axhline(0, color="#5d6d7e", lw=0.8)
    ax.set_xticks(range(len(table.rows)))
    ax.set_xticklabels(table.rows, rotation=30, ha="right", fontsize=8)
    what = "accuracy gain" if table.higher_is_better else "error reduction"
    ax.set_ylabel(f"{what} over {figure.control} (points)", fontsize=8)
    ax.set_title(figure.title, fontsize=9)
    ax.legend(frameon=False, fontsize=8)
    return _svg(fig)


def compute_bars(hours: dict[str, float]) -> str | None:
    used = {k: v for k, v in hours.items() if v > 0}
    if not used:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.0, 0.4 * len(used) + 0.9))
    ax.barh(list(used), list(used.values()), color="#5d6d7e")
    ax.set_xlabel("device-hours (wall time x devices, summed over runs)")
    ax.invert_yaxis()
    return _svg(fig)


def no_script(svg: str) -> str:
    """Defence in depth for `|safe`: matplotlib writes no scripts or event handlers; refuse any that appear."""
    if re.search(r"<script|<[^>]*\son\w+\s*=", svg, flags=re.IGNORECASE):
        raise ValueError("refusing an SVG with a script or an event handler")
    return svg


def learning_curves(table, runs_dir, seeds_of: dict[str, list[int]]) -> str | None:
    """Small multiples, one panel per cell that ran: each seed's training loss (lines) and the learning
    rate (dashed, right axis), from the runs' per-step logs (bench.train.steplog)."""
    from bench.io import series_dir

    def read(path):
        try:
            frame = pd.read_csv(path, sep="\t")
        except (OSError, ValueError):
            return None
        return frame if len(frame) else None

    panels = []
    for e in table.entries.values():
        curves = {s: read(series_dir(f"{runs_dir}/{e.id}/{s}") / "loss.tsv") for s in seeds_of.get(e.id, [])}
        curves = {s: c for s, c in curves.items() if c is not None}
        if curves:
            lr = read(series_dir(f"{runs_dir}/{e.id}/{min(curves)}") / "lr.tsv")
            panels.append((e, curves, lr))
    if not panels:
        return None
    plt = _plt()
    cols = 1  # one panel per line: legible on a phone as on a desktop
    rows = len(panels)
    fig, axes = plt.subplots(rows, cols, figsize=(5.0, 2.3 * rows), squeeze=False)
    for ax, (e, curves, lr) in zip(axes.flat, panels):
        for k, (seed, c) in enumerate(sorted(curves.items())):
            ax.plot(c["step"], c["loss"], lw=1.0, color=f"C{k}", label=f"seed {seed}")
        ax.set_title(_label(e.row, e.column), fontsize=9)
        ax.set_xlabel("step", fontsize=9)
        ax.set_ylabel("training loss", fontsize=9)
        ax.tick_params(labelsize=8)
        if lr is not None:
            twin = ax.twinx()
            twin.plot(lr["step"], lr["lr"], ls="--", lw=0.8, color="#7f8c8d")
            twin.set_ylabel("lr (dashed)", fontsize=8, color="#5d6d7e")
            twin.tick_params(labelsize=7, colors="#5d6d7e")
            twin.spines["right"].set_visible(True)
        ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return _svg(fig)
