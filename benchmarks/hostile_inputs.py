"""Bad input against the `bench` CLI, every outcome classified: clear, unclear, traceback or silent.

    python benchmarks/hostile_inputs.py [--repo PATH] [--only SUBSTRING] [--jobs 2] [--json OUT]

Each case copies the repository under test (`--repo`, default: this one; its tracked and new files)
into a temporary directory, spoils one input there (a duplicate YAML key, a params.yaml value out of
range, a torn Optuna journal, a garbage CSV, a command-line flag...), runs one `bench` command on it and
classifies what came back:

    clear      a non-zero exit with one line that names the file and field (or the flag) at fault, and no
               traceback; or, for input the harness sets aside by design (a torn last journal line, a
               run's impossible number), exit 0 with one line saying what was set aside and why
    unclear    no traceback, but the message misses the file, field or flag (or gives the wrong advice)
    traceback  a Python traceback, a crash, the memory limit or the time limit
    silent     exit 0 and the bad input accepted without a word

The study-cell cases train nothing: the command runs through `--shim`, which replaces the training
loop by a learning curve computed from the parameters (microseconds a trial) and can make the journal's
disk full after a number of writes. `bench workers` runs with DVC stubbed out (nothing is launched).
A few controls run first on the unspoilt copy: each must exit 0, or the battery stops (a case must
fail for its own bad input, not for a missing file).

Run it against an older commit from a worktree of that commit:
    git worktree add /tmp/old <commit> && python benchmarks/hostile_inputs.py --repo /tmp/old
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]
CELL = "embedded_study.sgd.digits"
STUDY = "experiments/studies/embedded_study.yaml"
VIT = "experiments/embedded/vit_digits.yaml"
MEMORY_LIMIT = 6 * 2**30  # address space a case may take (an alias bomb would take the machine; torch needs ~4)


# -- the shim: faults installed in the child process before the CLI runs -----------------------------

def _fake_train(plan, seed, data_dir, run, splits=None):
    """A run in microseconds: a learning curve that is a fixed function of the parameters."""
    import math

    lr, bs = plan.recipe.optimizer.lr, plan.recipe.batch_size
    pos = plan.model_kwargs.get("pos_embed")
    final = 95.0 - 20.0 * abs(math.log10(lr / 0.3)) - (4.0 if pos == "none" else 0.0) - (1.5 if bs == 32 else 0.0)
    final += 0.1 * seed if splits is None else 0.0
    for step in range(1, plan.recipe.steps + 1):
        if run.curve is not None:
            run.curve(step, lambda s=step: final * (0.6 + 0.4 * s / plan.recipe.steps))
    return {"top1": final, "device_hours": 0.0, "wall_time_s": 0.0, "device_name": "fake",
            "git_commit": "fake", "test_split": "test", "test_examples": 450}, None


def shim(faults: list[str], argv: list[str]) -> int:
    import errno
    import types

    if "fake_train" in faults:
        import bench.data.spec as spec
        import bench.train.loop as loop

        loop.train = _fake_train
        spec.data_spec = lambda dataset, data_dir: types.SimpleNamespace(num_classes=10)
    for fault in faults:
        if fault.startswith("disk_full_after="):  # the Nth journal write and every later one: no space left
            from optuna.storages.journal import JournalFileBackend

            left = {"n": int(fault.split("=")[1])}
            real = JournalFileBackend.append_logs

            def append_logs(self, logs, real=real, left=left):
                left["n"] -= 1
                if left["n"] >= 0:
                    return real(self, logs)
                text = ("\n".join(json.dumps(log, separators=(",", ":")) for log in logs) + "\n").encode()
                with open(self._file_path, "ab") as f:  # what a full disk lets through: part of the record
                    f.write(text[: len(text) // 2] if left["n"] == -1 else b"")
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

            JournalFileBackend.append_logs = append_logs
    if "no_dvc" in faults:  # `bench workers` without launching anything
        import bench.scale.workers as workers

        workers.prologue = lambda *a, **k: None
        workers.pending = lambda *a, **k: []
        workers.dvc = lambda *a, **k: types.SimpleNamespace(returncode=0)
    from bench.cli import main

    return main(argv)


# -- the cases -----------------------------------------------------------------------------------------

@dataclass
class Case:
    name: str
    item: str  # the item
    args: list[str]  # the bench command
    setup: Callable[[Path], None] = lambda d: None
    names: tuple[str, ...] = ()  # what a clear line must name (all of them, case-insensitive)
    handled: tuple[str, ...] = ()  # exit 0 is right when the output says all of these
    faults: tuple[str, ...] = ()
    timeout: int = 180
    extra: Callable[[Path], str] | None = None  # a further check of the directory afterwards: "" when fine


def _edit(path: str, old: str, new: str, count: int = 1) -> Callable[[Path], None]:
    def run(d: Path) -> None:
        text = (d / path).read_text()
        if old not in text:
            raise RuntimeError(f"{path}: {old!r} not found")
        (d / path).write_text(text.replace(old, new, count))
    return run


def _append(path: str, text: str) -> Callable[[Path], None]:
    def run(d: Path) -> None:
        with open(d / path, "a") as f:
            f.write(text)
    return run


def _both(*steps: Callable[[Path], None]) -> Callable[[Path], None]:
    def run(d: Path) -> None:
        for s in steps:
            s(d)
    return run


def _write(path: str, text: str) -> Callable[[Path], None]:
    def run(d: Path) -> None:
        (d / path).parent.mkdir(parents=True, exist_ok=True)
        (d / path).write_text(text)
    return run


def _csv_value(path: str, row: int, column: str, value: str) -> Callable[[Path], None]:
    def run(d: Path) -> None:
        import csv

        with open(d / path, newline="") as f:
            rows = list(csv.reader(f))
        rows[row][rows[0].index(column)] = value
        with open(d / path, "w", newline="") as f:
            csv.writer(f).writerows(rows)
    return run


def _json_value(path: str, key: str, value) -> Callable[[Path], None]:
    def run(d: Path) -> None:
        data = json.loads((d / path).read_text())
        data[key] = value
        (d / path).write_text(json.dumps(data))
    return run


def _bomb() -> str:
    """A billion-laughs value, written inline where a field is read: a flow list of nested aliases that expands
    to 10^9 strings, in a few hundred bytes."""
    parts = ["&l0 [" + ", ".join(["lol"] * 10) + "]"]
    parts += [f"&l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 10)]
    return "[" + ", ".join(parts) + "]"


def _tuned(d: Path) -> None:
    """A finished tuning of CELL under tuned/ (fake training): 12 trials, then 5 final seeds."""
    out = run_bench(d, ["study", "cell", "--cell", CELL, "--out-dir", "tuned", "--threads", "1"], ("fake_train",))
    if out.returncode != 0:
        raise RuntimeError("the fake tuning failed:\n" + out.stderr[-2000:])


def _journal_lines(d: Path) -> list[bytes]:
    return (d / "tuned" / CELL / "tune" / "optuna.log").read_bytes().splitlines(keepends=True)


def _torn_last(d: Path) -> None:
    """A disk full (or a kill) during the write of line 40: the journal ends in half of it."""
    _tuned(d)
    lines = _journal_lines(d)
    (d / "tuned" / CELL / "tune" / "optuna.log").write_bytes(b"".join(lines[:39]) + lines[39][: len(lines[39]) // 2])
    for name in ("best.json", "trials.csv"):
        (d / "tuned" / CELL / "tune" / name).unlink()


def _cut_middle(d: Path) -> None:
    """Line 30 of a finished journal cut in half (bit rot, a hand edit)."""
    _tuned(d)
    lines = _journal_lines(d)
    lines[29] = lines[29][: len(lines[29]) // 2] + b"\n"
    (d / "tuned" / CELL / "tune" / "optuna.log").write_bytes(b"".join(lines))


def _glued(d: Path) -> None:
    """A torn line 40, then a rerun appended its records to it (what a rerun did before: the line is glued)."""
    _tuned(d)
    lines = _journal_lines(d)
    (d / "tuned" / CELL / "tune" / "optuna.log").write_bytes(
        b"".join(lines[:39]) + lines[39][: len(lines[39]) // 2] + b"".join(lines[40:]))


def cases() -> list[Case]:
    tune = ["study", "cell", "--cell", CELL, "--out-dir", "tuned", "--threads", "1"]
    fresh = ["study", "cell", "--cell", CELL, "--out-dir", "fresh", "--threads", "1"]
    journal = f"{CELL}/tune/optuna.log"
    out = [
        # 1. the study journal
        Case("journal: disk full during tuning", "1", fresh, faults=("fake_train", "disk_full_after=25"),
             names=("optuna.log", "space")),
        Case("journal: torn last line", "1", tune, setup=_torn_last, faults=("fake_train",),
             handled=("optuna.log", "torn-1")),
        Case("journal: line cut in the middle", "1", tune, setup=_cut_middle, faults=("fake_train",),
             names=(journal, "line 30", "bench study repair")),
        Case("journal: torn line with a rerun's records glued to it", "1", tune, setup=_glued,
             faults=("fake_train",), names=(journal, "line 40", "bench study repair")),
        # 3. duplicate keys
        Case("duplicate key: study datasets", "3", ["study", "list"],
             setup=_append(STUDY, "datasets:\n  digits: {sweep_train_split: \"train[:90%]\", "
                                  "sweep_val_split: \"train[90%:]\"}\n"),
             names=(STUDY, "datasets", "line")),
        Case("duplicate key: study tuning", "3", ["study", "list"],
             setup=_append(STUDY, "tuning: {trials: 1, seed: 0}\n"), names=(STUDY, "tuning", "line")),
        Case("duplicate key: table title", "3", ["published"],
             setup=_edit(VIT, "version: 2\n", "version: 2\ntitle: \"another\"\n"), names=(VIT, "title", "line")),
        Case("duplicate key: table entry id", "3", ["published"],
             setup=_edit(VIT, "  vit_p2_digits:\n", "  vit_p4_digits:\n"), names=(VIT, "vit_p4_digits", "line")),
        Case("duplicate key: params.yaml", "3", ["validate"], setup=_append("params.yaml", "seeds: [0, 1]\n"),
             names=("params.yaml", "seeds", "line")),
        Case("two study files with the same id", "3", ["study", "list"],
             setup=lambda d: shutil.copy(d / STUDY, d / "experiments/studies/copy_of_embedded.yaml"),
             names=("embedded_study", "copy_of_embedded.yaml")),
        # 4. cost and power
        Case("suite cost --mfu 0", "4", ["suite", "cost", "embedded", "--mfu", "0"], names=("--mfu",)),
        Case("suite cost --gpus 0", "4", ["suite", "cost", "embedded", "--gpus", "0"], names=("--gpus",)),
        Case("study cost --mfu 0", "4", ["study", "cost", "embedded_study", "--mfu", "0"], names=("--mfu",)),
        Case("study cost --card Z80", "4", ["study", "cost", "embedded_study", "--card", "Z80"],
             names=("--card", "H100")),
        Case("suite cost --card Z80", "4", ["suite", "cost", "embedded", "--card", "Z80"], names=("--card", "H100")),
        Case("suite cost --mfu -0.4", "4", ["suite", "cost", "embedded", "--mfu", "-0.4"], names=("--mfu",)),
        Case("suite cost --mfu nan", "4", ["suite", "cost", "embedded", "--mfu", "nan"], names=("--mfu",)),
        Case("suite cost --mfu 5 (500%)", "4", ["suite", "cost", "embedded", "--mfu", "5"], names=("--mfu",)),
        Case("study cost --mfu nan", "4", ["study", "cost", "embedded_study", "--mfu", "nan"], names=("--mfu",)),
        Case("study cost --mfu 5 (500%)", "4", ["study", "cost", "embedded_study", "--mfu", "5"], names=("--mfu",)),
        Case("power --seeds 1000000", "4", ["power", "--seeds", "1000000"], names=("--seeds",)),
        Case("power --seeds -3", "4", ["power", "--seeds", "-3"], names=("--seeds",)),
        Case("power --seeds 0", "4", ["power", "--seeds", "0"], names=("--seeds",)),
        Case("power --seeds 1", "4", ["power", "--seeds", "1"], names=("--seeds",)),
        Case("power --verdicts garbage", "4", ["power", "--verdicts", "garbage.csv"],
             setup=_write("garbage.csv", "x,y\n1,2\nfoo,bar\n"), names=("garbage.csv",)),
        # 5. hand-edited or foreign data
        Case("stats --runs with a non-numeric top1", "5", ["stats", "--runs", "results/runs.csv"],
             setup=_csv_value("results/runs.csv", 1, "value", "high"), names=("results/runs.csv", "value")),
        Case("stats --runs with a top1 of 250", "5", ["stats", "--runs", "results/runs.csv"],
             setup=_csv_value("results/runs.csv", 1, "value", "250"), names=("results/runs.csv", "250")),
        Case("collect: a run's metrics.json with top1 250", "5", ["collect"],
             setup=_json_value("runs/vit_p4_digits/0/metrics.json", "top1", 250.0),
             handled=("runs/vit_p4_digits/0/metrics.json", "top1"),
             extra=lambda d: "" if ",vit_p4_digits,digits,ViT-w32-d2 / patch 4,sklearn_digits,0,top1,," in
             (d / "results/runs.csv").read_text() else "the value 250 reached results/runs.csv as a number"),
        Case("study final record with top1 \"high\"", "5", ["study", "analyze"],
             setup=_json_value(f"studies/{CELL}/final/2.json", "top1", "high"),
             names=(f"studies/{CELL}/final/2.json", "top1")),
        Case("study final record not JSON", "5", ["study", "analyze"],
             setup=_write(f"studies/{CELL}/final/2.json", "{\"status\": \"ok\", \"top1\": 9"),
             names=(f"studies/{CELL}/final/2.json", "delete")),
        Case("study final record not JSON, stage rerun", "5", tune,
             setup=_both(_tuned, _write(f"tuned/{CELL}/final/2.json", "{\"status\"")), faults=("fake_train",),
             handled=(f"{CELL}/final/2.json", "retrain")),
        Case("garbage results/studies runs.csv, report", "5", ["report"],
             setup=_write("results/studies/embedded_study/runs.csv", "\x00\x01garbage\n;;;\n"),
             names=("results/studies/embedded_study/runs.csv",)),
        Case("published top1 of -5", "5", ["published"], setup=_edit(VIT, "value: 98.36", "value: -5"),
             names=(VIT, "published.value")),
        Case("published top1 of 150", "5", ["published"], setup=_edit(VIT, "value: 98.36", "value: 150"),
             names=(VIT, "published.value")),
        # 6. params.yaml
        Case("params train.micro_batch -3", "6", ["validate"], setup=_edit("params.yaml", "micro_batch: auto",
                                                                            "micro_batch: -3"),
             names=("params.yaml", "train.micro_batch")),
        Case("params train.micro_batch big", "6", ["validate"], setup=_edit("params.yaml", "micro_batch: auto",
                                                                             "micro_batch: big"),
             names=("params.yaml", "train.micro_batch")),
        Case("params train.threads -4", "6", ["validate"], setup=_edit("params.yaml", "threads: 1", "threads: -4"),
             names=("params.yaml", "train.threads")),
        Case("params train.checkpoint_every -1", "6", ["validate"],
             setup=_edit("params.yaml", "checkpoint_every: 500", "checkpoint_every: -1"),
             names=("params.yaml", "train.checkpoint_every")),
        Case("params stats.alpha 2 (validate)", "6", ["validate"], setup=_edit("params.yaml", "alpha: 0.05",
                                                                                "alpha: 2"),
             names=("params.yaml", "stats.alpha")),
        Case("params stats.alpha 2 (stats)", "6", ["stats"], setup=_edit("params.yaml", "alpha: 0.05", "alpha: 2"),
             names=("params.yaml", "stats.alpha")),
        Case("params a 1-seed list", "6", ["validate"], setup=_edit("params.yaml", "seeds: [0, 1, 2]", "seeds: [0]"),
             names=("params.yaml", "seeds")),
        Case("params unknown study_cells (plan)", "6", ["plan"],
             setup=_both(_write("data/manifest.json", "{}\n"),
                         _edit("params.yaml", "  - embedded_study.sgd.digits\n", "  - embedded_study.sgdd.digits\n")),
             names=("params.yaml", "study_cells", "sgdd")),
        Case("params unknown study_cells (study analyze)", "6", ["study", "analyze"],
             setup=_edit("params.yaml", "  - embedded_study.sgd.digits\n", "  - nostudy.sgd.digits\n"),
             names=("params.yaml", "study_cells", "nostudy")),
        # 7. alias bombs where a field is read
        Case("alias bomb as a study arm's changes", "7", ["study", "list"],
             setup=_edit(STUDY, "changes: {recipe.optimizer.sam: {rho: 0.05}}", f"changes: {{recipe.x: {_bomb()}}}"),
             names=(STUDY, "alias")),
        Case("alias bomb as a table entry's note", "7", ["published"],
             setup=_edit(VIT, "    column: \"ViT-w32-d2 / patch 2\"\n",
                         f"    column: \"ViT-w32-d2 / patch 2\"\n    note: {_bomb()}\n"),
             names=(VIT, "alias")),
        Case("alias bomb as params.yaml's report title", "7", ["validate"],
             setup=_edit("params.yaml", "  title: \"Reproducibility report\"", f"  title: {_bomb()}"),
             names=("params.yaml", "alias")),
        Case("YAML nested 20,000 deep in a table file", "7", ["published"],
             setup=_append(VIT, "deep: " + "[" * 20000 + "]" * 20000 + "\n"), names=(VIT,)),
        # 8. semantics
        Case("workers --devices a,b", "8", ["workers", "--devices", "a,b"], faults=("no_dvc",),
             names=("--devices", "'a'")),
        Case("study arm against itself", "8", ["study", "list"],
             setup=_edit(STUDY, "    against: sam\n", "    against: adamw_sam\n"),
             names=(STUDY, "arms.adamw_sam.against")),
        Case("study baseline arm with an against", "8", ["study", "list"],
             setup=_edit(STUDY, "    text: \"SGD with momentum 0.9 (the baseline)\"\n",
                         "    text: \"SGD with momentum 0.9 (the baseline)\"\n    against: sam\n"),
             names=(STUDY, "arms.sgd.against")),
        Case("params seed true", "8", ["validate"], setup=_edit("params.yaml", "seeds: [0, 1, 2]",
                                                                 "seeds: [0, true, 2]"),
             names=("params.yaml", "seeds")),
        Case("study seed true", "8", ["study", "list"], setup=_edit(STUDY, "seeds: [0, 1, 2, 3, 4]",
                                                                    "seeds: [0, true, 2, 3, 4]"),
             names=(STUDY, "seeds")),
        Case("study tuning.seed true", "8", ["study", "list"],
             setup=_edit(STUDY, "seed: 0, startup", "seed: true, startup"),
             names=(STUDY, "tuning.seed")),
        Case("train --seed true", "8", ["train", "--entry", "vit_p4_digits", "--seed", "true"], names=("--seed",)),
        Case("startup_trials above trials", "8", ["study", "list"],
             setup=_edit(STUDY, "startup_trials: 4", "startup_trials: 40"), names=(STUDY, "startup_trials")),
        Case("cells claim naming a cell twice", "8", ["published"],
             setup=_edit("experiments/timm/vit_sam.yaml", "cells: [vit_sam_b16_imagenet, vit_sam_b16_real,",
                         "cells: [vit_sam_b16_imagenet, vit_sam_b16_imagenet,"),
             names=("experiments/timm/vit_sam.yaml", "cells")),
    ]
    return out


CONTROLS = [["validate"], ["published"], ["study", "list"], ["suite", "cost", "embedded"],
            ["study", "cost", "embedded_study"], ["power"], ["stats"], ["collect"], ["study", "analyze"],
            ["report"]]


# -- running and classifying -----------------------------------------------------------------------------

def _limit() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_bench(d: Path, args: list[str], faults: tuple[str, ...] = (), timeout: int = 180):
    env = {**os.environ, "PYTHONPATH": str(d), "PYTHONHASHSEED": "0"}
    env.pop("DVC_STAGE", None)
    cmd = [sys.executable, str(HERE), "--shim", ",".join(faults) or "none", "--", *args]
    try:
        return subprocess.run(cmd, cwd=d, env=env, capture_output=True, text=True, timeout=timeout,
                              preexec_fn=_limit)
    except subprocess.TimeoutExpired as exc:
        return subprocess.CompletedProcess(cmd, -9, exc.stdout or "", f"(timed out after {timeout} s)")


def copy_tree(repo: Path, dst: Path) -> Path:
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=repo,
                           capture_output=True, text=True, check=True).stdout.splitlines()
    for name in files + [".dvc/config"]:
        src = repo / name
        if src.is_file():
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / name)
    return dst


def classify(case: Case, out, d: Path) -> tuple[str, str]:
    text = (out.stdout or "") + (out.stderr or "")
    err_lines = [line for line in (out.stderr or "").splitlines() if line.strip()]
    if "Traceback (most recent call last)" in text or out.returncode not in (0, 1, 2) or "MemoryError" in text:
        return "traceback", (err_lines[-1] if err_lines else f"exit {out.returncode}")[:200]
    low = text.lower()
    if out.returncode == 0:
        if case.handled and all(n.lower() in low for n in case.handled):
            problem = case.extra(d) if case.extra else ""
            said = next((line for line in text.splitlines() if case.handled[-1].lower() in line.lower()), "")
            return ("silent", problem) if problem else ("clear", said.strip()[:200])
        return "silent", "exit 0"
    line = next((x for x in reversed(err_lines) if "error" in x.lower()), err_lines[-1] if err_lines else "")
    errors = [x for x in err_lines if x.startswith("error:") or ": error:" in x]
    one_line = len(errors) <= 1
    if case.handled:  # exit 2 where the input should have been set aside and the work continued
        return "unclear", line[:200]
    if one_line and all(n.lower() in line.lower() for n in case.names):
        return "clear", line[:200]
    return "unclear", line[:200]


def run_case(repo_copy: Path, case: Case, work: Path) -> dict:
    d = work / re.sub(r"[^a-z0-9]+", "_", case.name.lower())[:60]
    shutil.copytree(repo_copy, d)
    try:
        case.setup(d)
    except Exception as exc:  # noqa: BLE001
        return {"case": case.name, "item": case.item, "outcome": "setup failed", "line": str(exc)[:300]}
    out = run_bench(d, case.args, case.faults, case.timeout)
    outcome, line = classify(case, out, d)
    shutil.rmtree(d, ignore_errors=True)
    return {"case": case.name, "item": case.item, "outcome": outcome, "exit": out.returncode, "line": line}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repo", default=str(ROOT), help="the repository under test (a worktree of any commit)")
    p.add_argument("--only", help="run the cases whose name contains this")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--json", help="write every outcome here")
    p.add_argument("--shim", help=argparse.SUPPRESS)
    p.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.shim is not None:
        argv = args.rest[1:] if args.rest[:1] == ["--"] else args.rest
        return shim([f for f in args.shim.split(",") if f != "none"], argv)
    chosen = [c for c in cases() if not args.only or args.only.lower() in c.name.lower()]
    with tempfile.TemporaryDirectory(prefix="hostile-") as tmp:
        base = copy_tree(Path(args.repo).resolve(), Path(tmp) / "repo")
        for control in CONTROLS if not args.only else []:
            d = Path(tmp) / "control"
            shutil.copytree(base, d)
            out = run_bench(d, control)
            shutil.rmtree(d, ignore_errors=True)
            if out.returncode != 0:
                print(f"control `bench {' '.join(control)}` failed on the unspoilt copy (exit {out.returncode}):\n"
                      + out.stderr[-1500:], file=sys.stderr)
                return 1
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            results = list(pool.map(lambda c: run_case(base, c, Path(tmp)), chosen))
    counts: dict[str, int] = {}
    for r in results:
        counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
        print(f"[{r['item']}] {r['outcome']:<10} {r['case']}: {r['line']}")
    print("\n" + ", ".join(f"{counts.get(k, 0)} {k}" for k in ("clear", "unclear", "traceback", "silent"))
          + (f", {counts['setup failed']} setup failed" if "setup failed" in counts else "")
          + f" ({len(results)} inputs, repository {args.repo})")
    if args.json:
        Path(args.json).write_text(json.dumps({"counts": counts, "results": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
