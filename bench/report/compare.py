"""`bench report --compare REV`: per-cell differences between two experiments.

Like `dvc metrics diff`, but per table cell and with the verdict: for every
cell whose reproduced mean, number of runs or verdict differs between REV (a
git revision, or a DVC experiment's name) and the workspace (or `--against`
another revision), one Markdown line with both means, the change and the
verdict change. Reads results/verdicts.csv at each revision (committed with
every run: `cache: false` in dvc.yaml).
"""

from __future__ import annotations

import io
import subprocess

import pandas as pd

from bench.errors import BenchError
from bench.report import numbers, verdict_label

KEY = ["table", "entry"]
SHOWN = ["row", "column", "mean", "std", "n_runs", "verdict", "worse", "published_printed"]


def _resolve(rev: str) -> str:
    """A git revision as given, or the ref of a DVC experiment of that name (refs/exps/.../<name>)."""
    ok = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], capture_output=True,
                        text=True)
    if ok.returncode == 0:
        return ok.stdout.strip()
    refs = subprocess.run(["git", "for-each-ref", "--format=%(refname)", "refs/exps"], capture_output=True,
                          text=True).stdout.split()
    found = [r for r in refs if r.rsplit("/", 1)[-1] == rev]
    if len(found) == 1:
        return found[0]
    raise BenchError(f"--compare {rev!r}: neither a git revision nor one DVC experiment's name"
                     + (f" ({len(found)} experiments have it)" if found else ""))


def read_at(rev: str | None, path: str = "results/verdicts.csv") -> pd.DataFrame:
    """results/verdicts.csv at a revision (None: the workspace)."""
    try:
        if rev is None:
            return pd.read_csv(path, dtype={"published_printed": str})
        out = subprocess.run(["git", "show", f"{_resolve(rev)}:{path}"], capture_output=True, text=True)
        if out.returncode != 0:
            raise BenchError(f"{path} is not in {rev}: {out.stderr.strip()}")
        return pd.read_csv(io.StringIO(out.stdout), dtype={"published_printed": str})
    except (OSError, ValueError) as exc:
        raise BenchError(f"cannot read {path} at {rev or 'the workspace'}: {exc}") from None


def compare(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """One row per cell that changed: its mean, runs and verdict before and after."""
    both = old[KEY + SHOWN].merge(new[KEY + SHOWN], on=KEY, how="outer", suffixes=("_old", "_new"))
    mean_old, mean_new = both["mean_old"], both["mean_new"]
    moved = ~((mean_old - mean_new).abs().le(1e-9) | (mean_old.isna() & mean_new.isna()))
    changed = moved | both.verdict_old.ne(both.verdict_new) | both.n_runs_old.fillna(0).ne(both.n_runs_new.fillna(0))
    return both[changed].reset_index(drop=True)


def render(frame: pd.DataFrame, old_name: str, new_name: str) -> str:
    lines = [f"| table | cell | {old_name} | {new_name} | change | verdict |", "|---|---|---:|---:|---:|---|"]
    for r in frame.to_dict("records"):
        printed = r.get("published_printed_new") if isinstance(r.get("published_printed_new"), str) else \
            r.get("published_printed_old")
        d = numbers.decimals(printed if isinstance(printed, str) else None)
        row = r.get("row_new") if isinstance(r.get("row_new"), str) else r.get("row_old")
        col = r.get("column_new") if isinstance(r.get("column_new"), str) else r.get("column_old")
        before = verdict_label(str(r.get("verdict_old")), r.get("worse_old"))[1] \
            if isinstance(r.get("verdict_old"), str) else "(absent)"
        after = verdict_label(str(r.get("verdict_new")), r.get("worse_new"))[1] \
            if isinstance(r.get("verdict_new"), str) else "(absent)"
        change = numbers.signed(r["mean_new"] - r["mean_old"], d)
        verdict = after if before == after else f"{before} → {after}"
        lines.append(f"| {r['table']} | {row} / {col} (`{r['entry']}`) | {numbers.number(r['mean_old'], d)} "
                     f"| {numbers.number(r['mean_new'], d)} | {change} | {verdict} |")
    if len(frame) == 0:
        lines.append("| (no cell changed) | | | | | |")
    return "\n".join(lines) + "\n"
