"""A study cell's tuning reproduces: the sampler's draws depend on the seed, the journal's outcomes and the
settings written out in bench.study.tune (never on Optuna's defaults, which Optuna 5.0 changed), so replaying a
journal's outcomes through `_sampler` must give back every trial's parameters, without training anything."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _workers(journal: Path) -> list[str]:
    """The worker (process) that created each trial, in trial order (op 4: create trial)."""
    return [r["worker_id"] for r in map(json.loads, journal.read_text().splitlines()) if r["op_code"] == 4]


def replay(study, arm: str, journal: Path) -> list[tuple[int, dict, dict]]:
    """(trial number, stored params, replayed params) for each trial of the journal, its outcomes told back
    in order. A new worker is a resumed stage: its sampler is reseeded by the trials made, as `tune` does."""
    import optuna

    from bench.study.tune import _storage, _sampler, _suggest

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    name = json.loads(journal.read_text().splitlines()[0])["study_name"]
    stored = optuna.load_study(study_name=name, storage=_storage(journal.parent)).get_trials(deepcopy=False)
    workers = _workers(journal)
    assert len(workers) == len(stored)
    sim = optuna.create_study(direction="maximize", sampler=_sampler(study, 0), pruner=optuna.pruners.NopPruner())
    out, previous = [], workers[0] if workers else None
    for t, worker in zip(stored, workers):
        if worker != previous:  # a resumed stage: the cut-off trials enqueued first, then the reseeded sampler
            for again in (s for s, w in zip(stored, workers) if w == worker and "fixed_params" in s.system_attrs):
                sim.enqueue_trial(again.params, skip_if_exists=False)
            sim.sampler = _sampler(study, len(sim.get_trials(deepcopy=False)))
            previous = worker
        trial = sim.ask()
        out.append((t.number, t.params, _suggest(trial, study.arms[arm].space)))
        for step, value in sorted(t.intermediate_values.items()):
            trial.report(value, step)
        if t.state.name == "COMPLETE":
            sim.tell(trial, t.value)
        else:
            sim.tell(trial, state=t.state)
    return out


def _committed_cells() -> list[str]:
    return sorted(p.parent.parent.name for p in (ROOT / "studies").glob("*/tune/optuna.log"))


def _cells_marked() -> list:
    """The first committed cell in the fast set, the others in the slow one (about 3 s each)."""
    cells = _committed_cells()
    return cells[:1] + [pytest.param(c, marks=pytest.mark.slow) for c in cells[1:]]


@pytest.mark.parametrize("cell", _cells_marked())
def test_the_committed_journals_replay_through_the_sampler(cell):
    """Every committed trial is the draw `_sampler` makes from the trials before it: a rerun from scratch on
    the machine that made the journal (the same training arithmetic) writes the same journal."""
    from bench.tables.params import every_suite
    from bench.tables.study import load_study, split_cell

    sid, arm, _ = split_cell(cell)
    study = load_study(sid, every_suite(str(ROOT / "params.yaml"))[1])
    for number, stored, replayed in replay(study, arm, ROOT / "studies" / cell / "tune" / "optuna.log"):
        assert replayed == stored, f"{cell}: trial {number} draws {replayed}, the journal has {stored}"


def _fake_train(calls: list):
    """A training run in microseconds: a learning curve that is a fixed function of the parameters (a peak at
    lr 0.3, batch 64, a position embedding), reported every `every` steps as the real loop does."""

    def train(plan, seed, data_dir, run, splits=None):
        lr, bs, pos = plan.recipe.optimizer.lr, plan.recipe.batch_size, plan.model_kwargs.get("pos_embed")
        final = 95.0 - 20.0 * abs(math.log10(lr / 0.3)) - (4.0 if pos == "none" else 0.0) - (1.5 if bs == 32 else 0.0)
        calls.append(lr)
        for step in range(1, plan.recipe.steps + 1):
            if run.curve is not None:
                run.curve(step, lambda s=step: final * (0.6 + 0.4 * s / plan.recipe.steps))
        return {"top1": final, "device_hours": 0.0}, None

    return train


def test_a_fresh_tuning_reproduces_its_journal_and_a_resumed_one_replays(tmp_path, monkeypatch):
    """Two fresh tunings write the same trials (parameters, states, values, learning curves), and both, and
    one stopped after 5 trials and resumed to 12 (a new process, a reseeded sampler), replay exactly."""
    import dataclasses

    import optuna

    import bench.train.loop as loop
    from bench.tables.params import every_suite
    from bench.tables.study import load_study
    from bench.study.tune import _storage, tune

    calls: list = []
    monkeypatch.setattr(loop, "train", _fake_train(calls))
    study = load_study("embedded_study", every_suite(str(ROOT / "params.yaml"))[1])
    runs = {}
    for name in ("a", "b"):
        tune(study, "sgd", "digits", tmp_path / name, tmp_path / "no-data")
        runs[name] = optuna.load_study(study_name="embedded_study.sgd.digits",
                                       storage=_storage(tmp_path / name)).get_trials(deepcopy=False)
    assert [(t.params, t.state, t.values, t.intermediate_values) for t in runs["a"]] == \
           [(t.params, t.state, t.values, t.intermediate_values) for t in runs["b"]]
    assert {t.state.name for t in runs["a"]} >= {"COMPLETE", "PRUNED"}  # the pruner took part
    for name in ("a", "b"):
        assert all(s == r for _, s, r in replay(study, "sgd", tmp_path / name / "optuna.log"))

    # The same process would reuse the worker id: a resumed stage is a new process, so a new storage object.
    tune(dataclasses.replace(study, trials=5), "sgd", "digits", tmp_path / "c", tmp_path / "no-data")
    tune(study, "sgd", "digits", tmp_path / "c", tmp_path / "no-data")
    assert len(set(_workers(tmp_path / "c" / "optuna.log"))) == 2
    assert all(s == r for _, s, r in replay(study, "sgd", tmp_path / "c" / "optuna.log"))


def test_the_definition_names_the_sampler_and_optunas_version(monkeypatch):
    """Journals made by another Optuna (whose TPE may draw differently) are set aside, not continued."""
    import importlib.metadata

    from bench.tables.params import every_suite
    from bench.tables.study import load_study
    from bench.study.tune import definition

    study = load_study("embedded_study", every_suite(str(ROOT / "params.yaml"))[1])
    base = study.plan("sgd", "digits")
    key = definition(study, "sgd", base)
    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version", lambda n: "99.0" if n == "optuna" else real(n))
    assert definition(study, "sgd", base) != key
