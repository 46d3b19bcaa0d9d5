"""The `select` and `train` stages: from plan files to select/<entry>.json and runs/<entry>/<seed>/.

    bench select --entry E            (DVC stage select@E)
    bench train --entry E --seed S    (DVC stage train@E-S)

A run writes runs/<entry>/<seed>/metrics.json (its numbers only: accuracies,
training loss, wall time, images/s, device-hours; what `dvc metrics show` and
`dvc exp show` list) and run.json (status, reason, the resolved setup and the
provenance: commit, table hash, packages, device, engine, selection).

A run that yields no number (its data unavailable, its selection unavailable,
its loss diverged) is recorded as such in metrics.json, with the reason,
never as a number; the stage exits 0 so that the rest of the suite goes on.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.io import read_json, write_json
from bench.tables.recipe import Plan
from bench.tables.schema import ID_RE
from bench.train.checkpoint import weights_sha256, write_checkpoint


def entry_id(entry: str) -> str:
    """An entry id from the command line: never a path (runs/, plan/ and select/ must not be escaped)."""
    if not ID_RE.match(entry):
        raise BenchError(f"--entry {entry!r} is not an entry id (lower-case letters, digits and _, at most 64)")
    return entry


def read_plan(plan_dir: str | Path, entry: str) -> Plan:
    data = read_json(Path(plan_dir) / f"{entry_id(entry)}.json", f"unknown entry {entry!r} or `bench plan` not run")
    try:
        return Plan.from_json(data)
    except (TypeError, ValueError) as exc:
        raise BenchError(f"{plan_dir}/{entry}.json does not match this version's plan ({exc}); "
                         "rerun `bench plan` (DVC stage `plan`)") from None


def unavailable(plan: Plan) -> str | None:
    """Why the plan's data cannot be read (from the manifest `bench plan` copied in), or None."""
    bad = [f"{name}: {rec.get('reason', rec['status'])}" for name, rec in (plan.data or {}).items()
           if rec["status"] != "ok"]
    return "; ".join(bad) or None


WORK_DIR = ".work"  # select/.work/<entry>/<param>=<value>/: a sweep's resumable runs (not tracked)


def select(plan: Plan, out: Path, data_dir: str, run) -> None:
    """select/<entry>.json: the chosen value with its scores, or nothing to choose, or unavailable data.
    `run`: a bench.train.loop.RunConfig for each grid value's run; the values' resume points and
    outcomes live in select/.work/<entry>/ until the choice is written."""
    chosen = plan.recipe.select
    if chosen is None:
        write_json(out, {"entry": plan.entry, "param": None})
        return
    reason = unavailable(plan)
    if reason:
        write_json(out, {"entry": plan.entry, "param": chosen.param, "status": "unavailable", "reason": reason})
        print(f"{plan.entry}: data unavailable, nothing selected", file=sys.stderr)
        return
    from bench.train.distributed import world_from_env
    from bench.train.select import select_value

    chosen = select_value(plan, data_dir, run, out.parent / WORK_DIR / plan.entry)
    if world_from_env().main:
        write_json(out, {"entry": plan.entry, **chosen})


# The numbers of a run that metrics.json keeps (the result keys and their `_raw` twins come from the recipe).
NUMBERS = ("train_loss", "wall_time_s", "images_per_s", "device_hours")


def write_run(run_dir: Path, record: dict[str, Any]) -> None:
    """Split a run's record: its numbers into metrics.json, everything else into run.json."""
    from bench.tables.recipe import RESULT_KEYS

    def is_number(key: str, value: Any) -> bool:
        wanted = key in NUMBERS or key in RESULT_KEYS or key.removesuffix("_raw") in RESULT_KEYS
        return wanted and isinstance(value, (int, float)) and not isinstance(value, bool)

    numbers = {k: v for k, v in record.items() if is_number(k, v)}
    write_json(run_dir / "run.json", {k: v for k, v in record.items() if k not in numbers})
    write_json(run_dir / "metrics.json", numbers)  # last: its presence means the run finished writing


def _no_number(run_dir: Path, plan: Plan, seed: int, status: str, reason: str, **extra: Any) -> None:
    """A run without a number: its status and reason, and a checkpoint.pt holding only those
    (the DVC output must exist)."""
    write_checkpoint(run_dir / "checkpoint.pt", {"status": status, "reason": reason})
    write_run(run_dir, {"entry": plan.entry, "table": plan.table, "seed": seed, "status": status, "reason": reason,
                        **extra})


def train_stage(plan: Plan, selected: dict, seed: int, data_dir: str, run_dir: Path, run,
                keep_checkpoint: bool = False) -> None:
    """Train one (entry, seed) and write runs/<entry>/<seed>/{metrics.json, run.json, checkpoint.pt}.

    `run`: a bench.train.loop.RunConfig (device, engine, resume points). checkpoint.pt holds the final
    weights with `keep_checkpoint` (train.keep_checkpoint in params.yaml), else a small record saying they
    were not kept (nothing reads them: a cell's numbers come from the run itself, and a suite's weights
    take tens of GiB in the DVC cache); run.json has their digest either way (weights_sha256).
    """
    reason = unavailable(plan) or (selected.get("reason") if selected.get("status") == "unavailable" else None)
    if reason:  # the cell becomes UNAVAILABLE with this reason; no number is made up
        _no_number(run_dir, plan, seed, "unavailable", reason)
        print(f"{plan.entry} seed {seed}: UNAVAILABLE: {reason}", file=sys.stderr)
        return
    from bench.train.distributed import world_from_env
    from bench.train.loop import TrainingDiverged, train

    try:
        metrics, state = train(plan.with_selection(selected.get("param"), selected.get("value")), seed, data_dir,
                               run)
    except TrainingDiverged as exc:  # a failed run, recorded as such: never a number
        if world_from_env().main:
            _no_number(run_dir, plan, seed, "failed", str(exc), step=exc.step)
            (run_dir / "resume.pt").unlink(missing_ok=True)
        print(f"{plan.entry} seed {seed}: FAILED: {exc} (recorded in {run_dir / 'run.json'}; "
              f"`dvc repro -f train@{plan.entry}-{seed}` retries)", file=sys.stderr)
        return
    if not world_from_env().main:  # torchrun: rank 0 writes the run's outputs
        return
    if selected.get("param"):
        metrics["selected"] = {k: selected[k] for k in ("param", "value", "scores", "split") if k in selected}
    metrics["weights_sha256"] = weights_sha256(state)
    metrics["checkpoint_kept"] = keep_checkpoint
    write_checkpoint(run_dir / "checkpoint.pt", state if keep_checkpoint else {
        "status": "not kept", "weights_sha256": metrics["weights_sha256"],
        "reason": "train.keep_checkpoint is false (params.yaml): the final weights were not written"})
    write_run(run_dir, metrics)
    speed = f" ({metrics['images_per_s']:.0f} img/s on {metrics['device']})" if metrics["images_per_s"] else ""
    print(f"{plan.entry} seed {seed}: top1 {metrics['top1']:.2f}% in {metrics['wall_time_s']:.1f} s{speed}")
