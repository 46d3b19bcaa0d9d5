"""An arm's tuning on one dataset: the first half of `bench study cell --cell S.A.D` (DVC stage study@S.A.D).

Optuna (TPE sampler, seeded; median pruner on the held-out learning curve) runs
`tuning.trials` trials of the arm's search space. Each trial trains on the
dataset's `sweep_train_split` with the tuning seed and is scored (top-1) on
`sweep_val_split`, at every `report_every` steps (the pruner compares these
with the other trials' at the same step) and at the end. The test split is
never read. Every trial is in Optuna's journal (`optuna.log`, in the stage's
output, which DVC keeps between runs): a killed stage resumes where it
stopped. A trial cut off by the kill is marked failed with `interrupted` and
its parameters run again; it does not count against the budget, so every arm
ends with exactly `trials` finished trials (complete, pruned or diverged).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.io import write_json, write_text
from bench.provenance import digest, json_sha256
from bench.study import journal
from bench.study.journal import JOURNAL, JournalWriteError
from bench.tables.study import Study
FINISHED = ("COMPLETE", "PRUNED", "FAIL")


def _storage(out_dir: Path, repair_command: str = "bench study repair <cell>"):
    """The cell's Optuna storage over its journal, checked on open and undone on a failed write
    (bench.study.journal)."""
    import optuna

    return optuna.storages.JournalStorage(journal.backend(out_dir / JOURNAL, repair_command))


# Every TPE setting that decides a draw, written out: Optuna 5.0 changed TPESampler's defaults for
# single-objective studies (multivariate TPE and the constant liar), so a default left implicit changes the
# trials after the start-up ones with the installed Optuna. These are Optuna 4's defaults, which made the
# committed journals; the sampler and Optuna's version are part of a cell's definition.
SAMPLER = {"n_ei_candidates": 24, "multivariate": False, "constant_liar": False}


def _sampler(study: Study, made: int):
    import optuna

    return optuna.samplers.TPESampler(seed=study.tuning_seed + 1_000_003 * made,
                                      n_startup_trials=study.startup_trials, **SAMPLER)


def _open(name: str, storage, sampler, pruner):
    """The cell's Optuna study: loaded when the journal has it (appending nothing), else created."""
    import optuna

    if any(s.study_name == name for s in storage.get_all_studies()):
        return optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
    return optuna.create_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner,
                               direction="maximize")


def _suggest(trial, space) -> dict[str, Any]:
    out = {}
    for p in space:
        if p.choices:
            out[p.path] = trial.suggest_categorical(p.path, list(p.choices))
        elif p.integer:
            out[p.path] = trial.suggest_int(p.path, int(p.low), int(p.high), log=p.log)
        else:
            out[p.path] = trial.suggest_float(p.path, p.low, p.high, log=p.log)
    return out


# The code a run's numbers depend on: every bench module the training entry point can run (the modules
# dvc.yaml's train stages depend on, by the same rule: bench.provenance.closure); and the packages whose
# versions change the arithmetic.
ENTRY = "bench.cli.training"
PACKAGES = ("torch", "timm", "numpy")


@functools.cache  # the code does not change under a running process
def code_digest() -> str:
    """SHA-256 of the training code and the numeric packages' versions: stored trials and final runs made by
    other code are not reused (a rerun after a change to the training code retrains, as DVC's train stages
    do)."""
    from importlib.metadata import version

    from bench.provenance import PACKAGE, closure, modules

    known = modules()
    files = sorted(str(known[m].relative_to(PACKAGE)) for m in closure([ENTRY]))  # as bench/-relative paths
    return digest([*(f.encode() + b"\0" + (PACKAGE / f).read_bytes() + b"\0" for f in files),
                   *(f"{name}=={version(name)}\0" for name in PACKAGES)])


def definition(study: Study, arm: str, base) -> str:
    """What a cell's trials depend on, hashed: its plan before the trial's parameters, its search space, the
    tuning protocol and the training code. The budget is not part of it: a larger budget continues the
    same trials."""
    from importlib.metadata import version

    record = {"plan": base.to_json(), "space": [dataclasses.asdict(p) for p in study.arms[arm].space],
              "seed": study.tuning_seed, "startup": study.startup_trials, "every": study.report_every,
              "code": code_digest(), "sampler": {"TPESampler": SAMPLER, "optuna": version("optuna")}}
    record["plan"].pop("table_file", None)
    return json_sha256(record)


def counted(trial) -> bool:
    """A trial that uses up the budget: complete, pruned, or failed by diverging (a result of its
    parameters). A trial cut off by a kill, or stopped by an error (out of memory, a missing file), is
    not: the stage fails, and its rerun runs other trials in its place."""
    if trial.state.name == "FAIL":
        return bool(trial.user_attrs.get("failed")) and not trial.user_attrs.get("interrupted")
    return trial.state.name in FINISHED


def tune(study: Study, arm: str, dataset: str, out_dir: Path, data_dir: str | Path, run=None) -> dict[str, Any]:
    """Run the arm's remaining trials; write `best.json` and `trials.csv`; return the best. A journal write that
    fails (a full disk) stops it with one line; the finished trials stay in the journal for the rerun."""
    try:
        return _tune(study, arm, dataset, out_dir, data_dir, run)
    except Exception as exc:
        failure = journal.write_failure(exc)  # Optuna turns it into its own assertion while handling it
        if failure is None:
            raise
        raise JournalWriteError(str(failure)) from None


def _tune(study: Study, arm: str, dataset: str, out_dir: Path, data_dir: str | Path, run=None) -> dict[str, Any]:
    import optuna

    from bench.train.loop import RunConfig, TrainingDiverged, train

    run = run or RunConfig(progress=False)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    name = f"{study.id}.{arm}.{dataset}"
    cli_out = out_dir.parent.parent  # <out-dir>/<cell>/tune
    repair = f"bench study repair {name}" + (f" --out-dir {cli_out}" if str(cli_out) != "studies" else "")
    storage = _storage(out_dir, repair)
    every = study.report_every
    # Pruning starts at the second report: one report into a run says little about where it ends.
    pruner = optuna.pruners.MedianPruner(n_startup_trials=study.startup_trials, n_warmup_steps=every + 1)
    base = study.plan(arm, dataset)
    key = definition(study, arm, base)
    opt = _open(name, storage, _sampler(study, 0), pruner)
    if opt.user_attrs.get("definition") not in (None, key):  # trials of another recipe, space or protocol
        stale = out_dir / "optuna.previous.log"
        (out_dir / JOURNAL).replace(stale)
        (out_dir / "requeued.json").unlink(missing_ok=True)
        print(f"{name}: the stored trials were made for another definition of this cell (its recipe, search "
              f"space or tuning settings changed): kept as {stale}, tuning starts afresh", flush=True)
        storage = _storage(out_dir, repair)
        opt = _open(name, storage, _sampler(study, 0), pruner)
    if opt.user_attrs.get("definition") != key:  # once: a rerun adds nothing to the journal
        opt.set_user_attr("definition", key)
    _requeue(opt, storage, out_dir, name)
    # A resumed stage's sampler: its random stream moved on by the trials already made, so that the
    # start-up trials it still has to draw are new ones, not the first ones again.
    opt.sampler = _sampler(study, len(opt.get_trials(deepcopy=False)))
    splits = (base.dataset.sweep_train_split, base.dataset.sweep_val_split)

    def objective(trial) -> float:
        params = _suggest(trial, study.arms[arm].space)
        plan = study.plan(arm, dataset, params)

        def curve(step: int, score) -> None:
            if step % every == 0 and step < plan.recipe.steps:
                trial.report(score(), step)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"held-out top-1 below the median at step {step}")

        began = time.perf_counter()
        trial.set_user_attr("splits", list(splits))
        try:
            metrics, _ = train(plan, study.tuning_seed, data_dir, dataclasses.replace(run, curve=curve),
                               splits=splits)
        except (KeyboardInterrupt, SystemExit):  # Optuna records it failed: mark it cut off, not a result
            trial.set_user_attr("interrupted", True)
            raise
        except TrainingDiverged as exc:
            trial.set_user_attr("failed", str(exc))
            return math.nan  # Optuna records a NaN objective as a failed trial
        finally:
            trial.set_user_attr("wall_time_s", round(time.perf_counter() - began, 3))
        trial.set_user_attr("device_hours", metrics["device_hours"])
        return metrics["top1"]

    left = study.trials - sum(counted(t) for t in opt.get_trials(deepcopy=False))
    if left > 0:
        print(f"{name}: {left} of {study.trials} trials to run", flush=True)
        opt.optimize(objective, n_trials=left, catch=(), callbacks=[_progress(name, study.trials)])
    return _record(opt, study, arm, dataset, splits, out_dir)


def _requeue(opt, storage, out_dir: Path, name: str) -> None:
    """Trials a kill cut off (still RUNNING in the journal, or failed by an interrupt): marked `interrupted`,
    and their parameters enqueued to run again, once (`requeued.json` lists the trials already enqueued)."""
    import json

    import optuna

    done_path = out_dir / "requeued.json"
    done = set(json.loads(done_path.read_text())) if done_path.is_file() else set()
    for t in opt.get_trials(deepcopy=False):
        if t.number in done:
            continue
        if t.state.name == "RUNNING":
            storage.set_trial_user_attr(t._trial_id, "interrupted", True)
            storage.set_trial_state_values(t._trial_id, optuna.trial.TrialState.FAIL)
        elif not (t.state.name == "FAIL" and t.user_attrs.get("interrupted")):
            continue
        opt.enqueue_trial(t.params, skip_if_exists=False)
        done.add(t.number)
        write_text(done_path, json.dumps(sorted(done)) + "\n")
        print(f"{name}: trial {t.number} was cut off; its parameters run again", flush=True)


def _progress(name: str, budget: int):
    def report(opt, trial) -> None:
        done = sum(counted(t) for t in opt.get_trials(deepcopy=False))
        value = f"{trial.value:.2f}" if trial.value is not None and not math.isnan(trial.value) else trial.state.name
        best = f"{opt.best_value:.2f}" if any(t.state.name == "COMPLETE" for t in opt.trials) else "none"
        print(f"{name}: trial {done}/{budget}: {value} ({trial.params}); best so far {best}", flush=True)
    return report


def _record(opt, study: Study, arm: str, dataset: str, splits: tuple, out_dir: Path) -> dict[str, Any]:
    import json

    import pandas as pd

    every = opt.get_trials(deepcopy=False)
    trials = [t for t in every if counted(t)][:study.trials]  # a budget lowered since: its first trials
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    if not complete:
        raise BenchError(f"{study.id}.{arm}.{dataset}: none of the {len(trials)} trials completed "
                         "(all pruned or diverged)")
    best = max(complete, key=lambda t: (t.value, -t.number))
    rows, running = [], -math.inf
    for i, t in enumerate(trials):
        if t.state.name == "COMPLETE":
            running = max(running, t.value)
        rows.append({"trial": i, "state": t.state.name, "value": t.value,
                     "best_so_far": None if running == -math.inf else running,
                     "wall_time_s": t.user_attrs.get("wall_time_s"), "failed": t.user_attrs.get("failed", ""),
                     "params": json.dumps(t.params, sort_keys=True)})
    write_text(out_dir / "trials.csv", pd.DataFrame(rows).to_csv(index=False))
    wall = sum(float(t.user_attrs.get("wall_time_s") or 0.0) for t in every)
    out = {"study": study.id, "arm": arm, "dataset": dataset, "params": best.params, "value": best.value,
           "best_trial": trials.index(best), "trials": len(trials),
           "states": {s: sum(t.state.name == s for t in trials) for s in FINISHED},
           "not_counted": len(every) - len([t for t in every if counted(t)]),
           "splits": {"train": splits[0], "val": splits[1]}, "seed": study.tuning_seed,
           "sampler": f"TPE (seed {study.tuning_seed}, {study.startup_trials} random start-up trials)",
           "pruner": f"median (reports every {study.report_every} steps, pruning from the second, after "
                     f"{study.startup_trials} trials)",
           "code": code_digest(), "device_hours": round(wall / 3600.0, 6)}
    write_json(out_dir / "best.json", out)
    print(f"{study.id}.{arm}.{dataset}: best held-out top-1 {best.value:.2f} with {best.params}", flush=True)
    return out
