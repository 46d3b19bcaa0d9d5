"""A study file (experiments/studies/*.yaml): a proposed change tested against a baseline, fairly.

    baseline: {entry: <a table entry>, changes: {...}}   the recipe every arm starts from
    datasets: {<name>: {<dataset field>: ...}}           each a change to the entry's dataset, or
              {<name>: {entry, dataset, changes}}        its own table entry (another model or
                                                         dataset), dataset fields and changes
    arms: {<name>: {text, changes, space, against}}      the baseline arm and the variants
    tuning: {trials, seed, startup_trials, report_every}  the same budget for every arm
    seeds: [...]                                         the final runs, paired across arms

Every arm (the baseline included) gets `tuning.trials` Optuna trials over its own
`space`, scored on the dataset's held-out split (`sweep_val_split`) after training
on `sweep_train_split`; the test split is never read by tuning. `changes` and
`space` keys are dotted paths into the entry: `recipe.optimizer.lr`,
`recipe.mix.mixup_alpha`, `model_kwargs.pos_embed`, ... Each arm's recipe is
checked as a table entry's is, so a bad change names this file and its field.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.tables import yamlfile
from bench.errors import TableError
from bench.tables.recipe import Plan, parse_dataset, parse_recipe
from bench.tables.schema import Checker, choices, describe, parse, spec

STUDY_DIR = Path("experiments/studies")


def _choices(c: Checker, value: tuple, path: str) -> tuple:
    if len(value) == 1:
        raise c.fail(path, "expected at least two choices")
    return tuple(yamlfile.plain(v) for v in value)


@dataclass(frozen=True, kw_only=True)
class Param:
    """One dimension of an arm's search space: a float range (log or linear), an integer range, or choices."""

    path: str = spec("the dotted path it sets (its key under `space:`)", filled=True)
    low: float | None = spec("the range's low end", None, lo=-1e9, hi=1e9)
    high: float | None = spec("the range's high end", None, lo=-1e9, hi=1e9)
    log: bool = spec("sample on a log scale (low > 0)", False)
    integer: bool = spec("integers only", False, key="int")
    choices: tuple[Any, ...] = spec("the values to choose from, instead of a range", (), check=_choices)

    def check(self, c: Checker, path: str) -> None:
        if self.choices:
            if self.low is not None or self.high is not None:
                raise c.fail(path, "a dimension has either `choices` or a range (`low`, `high`), not both")
            return
        if self.low is None or self.high is None:
            raise c.fail(f"{path}.{'low' if self.low is None else 'high'}", "missing required field")
        if not self.low < self.high or (self.log and self.low <= 0):
            raise c.fail(path, f"expected low < high{' and low > 0 (log scale)' if self.log else ''}, got "
                               f"[{self.low:g}, {self.high:g}]")

    def describe(self) -> str:
        """`recipe.optimizer.lr [0.01, 1] log`, `model_kwargs.pos_embed in learn, none`."""
        if self.choices:
            return f"{self.path} in {', '.join(str(c) for c in self.choices)}"
        kind = " integer" if self.integer else ""
        return f"{self.path}{kind} [{self.low:g}, {self.high:g}]{' log' if self.log else ''}"


def _space(c: Checker, raw: Any, path: str) -> tuple[Param, ...]:
    """dotted path -> its dimension; floats as floats (an integer range too: `int` rounds the draws)."""
    out = []
    for key, dim in c.mapping(raw, path).items():
        param = parse(Param, c, dim, f"{path}.{key}", filled={"path": key})
        if param.low is not None:
            param = dataclasses.replace(param, low=float(param.low), high=float(param.high))
        out.append(param)
    if not out:
        raise c.fail(path, "every arm is tuned: give at least one parameter to search")
    return tuple(out)


_space.rows = lambda prefix: describe(Param, prefix[:-1] + ".<path>.")


def _changes(c: Checker, value: dict, path: str) -> dict:
    """Dotted path -> value: `recipe.optimizer.lr: 0.1`, `model_kwargs.pos_embed: none`."""
    return dict(value)


@dataclass(frozen=True, kw_only=True)
class Arm:
    """An arm: the baseline or a variant, tuned over its own search space."""

    name: str = spec("the arm's name (its key under `arms:`)", filled=True)
    text: str = spec("what the arm is, in words")
    changes: dict[str, Any] | None = spec("dotted-path changes to the baseline's recipe and model_kwargs", None,
                                          check=_changes)
    space: tuple[Param, ...] = spec("its search space: dotted path -> {low, high, log, int} or {choices}",
                                    reader=_space, type_doc="mapping of path -> dimension")
    against: str | None = spec("the arm it is compared with; null: the baseline arm", None)

    def __post_init__(self):
        object.__setattr__(self, "changes", self.changes or {})


@dataclass(frozen=True)
class Task:
    """A study's dataset: the plan it starts from (the baseline entry, or its own) and its changes."""

    entry: str
    plan: Plan  # the entry's plan with the study's baseline changes and the task's own changes
    dataset: dict[str, Any]  # changes to the plan's dataset fields


@dataclass(frozen=True)
class Study:
    id: str
    title: str
    path: str
    entry: str
    datasets: dict[str, Task]
    arms: dict[str, Arm]
    baseline: str  # the arm the others are compared with by default
    seeds: tuple[int, ...]
    trials: int
    tuning_seed: int
    startup_trials: int
    report_every: int
    alpha: float
    text: str = ""

    def cells(self) -> list[str]:
        """The tuning/final units, one per (arm, dataset): `<study>.<arm>.<dataset>`."""
        return [f"{self.id}.{a}.{d}" for a in self.arms for d in self.datasets]

    def comparisons(self) -> list[tuple[str, str]]:
        """(variant, control) pairs: each arm but the baseline against its `against` (default: the baseline)."""
        return [(a.name, a.against or self.baseline) for a in self.arms.values() if a.name != self.baseline]

    def plan(self, arm: str, dataset: str, params: dict[str, Any] | None = None) -> Plan:
        """The arm's plan on the dataset, with a trial's (or the chosen) parameters set."""
        task = self.datasets[dataset]
        return apply(task.plan, {**self.arms[arm].changes, **(params or {})}, Checker(self.path),
                     f"arms.{arm}", task.dataset)


def _set(tree: dict, path: str, value: Any, c: Checker, where: str) -> None:
    keys = path.split(".")
    node = tree
    for k in keys[:-1]:
        if node.get(k) is None:
            node[k] = {}
        if not isinstance(node[k], dict):
            raise c.fail(where, f"{path}: {k} is not a mapping in the entry")
        node = node[k]
    node[keys[-1]] = yamlfile.plain(value)


def apply(plan: Plan, changes: dict[str, Any], c: Checker, where: str,
          dataset: dict[str, Any] | None = None) -> Plan:
    """`plan` with dotted-path changes to its recipe and model_kwargs (and dataset fields), re-checked."""
    raw = {"recipe": copy.deepcopy(plan.to_json()["recipe"]), "model_kwargs": copy.deepcopy(plan.model_kwargs)}
    for path, value in changes.items():
        head = path.split(".")[0]
        if head not in raw:
            raise c.fail(f"{where}.{path}", f"a change starts with recipe. or model_kwargs.; "
                                            f"{choices(head, tuple(raw))}")
        _set(raw, path, value, c, f"{where}.{path}")
    recipe = parse_recipe(c, _drop_none(raw["recipe"]), f"{where} (recipe)")
    ds = plan.dataset
    if dataset:
        merged = {**{k: v for k, v in dataclasses.asdict(ds).items() if v is not None and k != "extra_eval"},
                  **dataset}
        ds = parse_dataset(c, merged, f"{where} (dataset)")
    return dataclasses.replace(plan, recipe=recipe, model_kwargs=raw["model_kwargs"], dataset=ds)


def _check_task(c: Checker, where: str, plan: Plan) -> None:
    """What a study's runs need: held-out splits apart from the test split, and no `select` (tuning chooses)."""
    ds = plan.dataset
    if not (ds.sweep_train_split and ds.sweep_val_split):
        raise c.fail(where, "tuning needs sweep_train_split and sweep_val_split (the held-out part of the "
                            "training split it scores on)")
    base = ds.test_split.split("[")[0] if ds.test_split else None
    for key in ("sweep_train_split", "sweep_val_split"):
        if getattr(ds, key).split("[")[0] == base:
            raise c.fail(where, f"{key} {getattr(ds, key)!r} is a part of the test split's {base!r}: tuning "
                                "must never read the test split")
    if plan.recipe.select is not None:
        raise c.fail(where, f"the entry selects {plan.recipe.select.param} (recipe.select): a study tunes instead; "
                            "set recipe.select: null in baseline.changes")


def _drop_none(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {k: _drop_none(v) for k, v in tree.items() if v is not None}
    return tree


@dataclass(frozen=True, kw_only=True)
class Baseline:
    entry: str = spec("the table entry every arm and dataset starts from")
    changes: dict[str, Any] | None = spec("dotted-path changes to its recipe and model_kwargs, for every arm", None)
    arm: str | None = spec("the arm the others are compared with by default; null: the first arm", None)


@dataclass(frozen=True, kw_only=True)
class TaskFile:
    """A dataset of the study: its own table entry (another model or dataset) with dataset fields and changes;
    or, written without these keys, just dataset fields changed on the baseline entry."""

    entry: str | None = spec("its own table entry; null: the baseline's", None)
    dataset: dict[str, Any] | None = spec("changes to the entry's dataset fields (train_split, label_noise, ...)",
                                          None)
    changes: dict[str, Any] | None = spec("dotted-path changes to the entry's recipe and model_kwargs", None)


def _tasks(c: Checker, raw: Any, path: str) -> dict[str, TaskFile]:
    out = {}
    for name, value in c.mapping(raw, path).items():
        where = f"{path}.{name}"
        c.ident(name, where)
        value = c.mapping(value or {}, where)
        if value and set(value) <= {"entry", "dataset", "changes"}:
            out[name] = parse(TaskFile, c, value, where)
        else:  # the short form: dataset fields of the baseline entry
            out[name] = TaskFile(dataset=dict(value))
    return out


_tasks.rows = lambda prefix: describe(TaskFile, prefix[:-1] + ".<name>.")


def _arms(c: Checker, raw: Any, path: str) -> dict[str, Arm]:
    out = {}
    for name, value in c.mapping(raw, path).items():
        c.ident(name, f"{path}.{name}")
        out[name] = parse(Arm, c, value, f"{path}.{name}", filled={"name": name})
    if len(out) < 2:
        raise c.fail(path, f"a study compares arms: it needs a baseline and at least one variant, got "
                           f"{len(out)} arm{'s' if len(out) != 1 else ''} ({', '.join(out) or 'none'})")
    return out


_arms.rows = lambda prefix: describe(Arm, prefix[:-1] + ".<name>.")


def _seeds(c: Checker, value: tuple, path: str) -> tuple:
    if len(value) < 2 or len(set(value)) != len(value) or any(s < 0 for s in value):
        raise c.fail(path, f"expected at least two distinct seeds (integers >= 0), got {list(value)}")
    return value


@dataclass(frozen=True, kw_only=True)
class Tuning:
    """The budget every arm gets, the same for all."""

    trials: int = spec("Optuna trials per arm and dataset", lo=1, hi=100_000)
    seed: int = spec("the sampler's seed and the trials' training seed", 0, lo=0, hi=2**31 - 1)
    startup_trials: int | None = spec("random trials before TPE; null: min(3, trials)", None, lo=0, hi=100_000)
    report_every: int | None = spec("steps between the learning curve's points (the pruner reads them); null: "
                                    "a fifth of the shortest recipe", None, lo=1, hi=10_000_000)

    def check(self, c: Checker, path: str) -> None:
        if self.startup_trials is not None and self.startup_trials > self.trials:
            raise c.fail(f"{path}.startup_trials", f"{self.startup_trials} random start-up trials exceed the "
                                                   f"budget of {self.trials} trials")


@dataclass(frozen=True, kw_only=True)
class StudyFile:
    """A study file as written (experiments/studies/*.yaml)."""

    version: int = spec("the study file's own version, bumped when a change makes earlier results incomparable",
                        lo=1, hi=1)
    id: str = spec("study id (its stages are <id>.<arm>.<dataset>)", check=lambda c, v, p: c.ident(v, p))
    title: str = spec("shown in the report")
    text: str = spec("what is tested and why, shown in the report", "")
    baseline: Baseline = spec("the entry every arm starts from")
    datasets: dict[str, TaskFile] = spec("the datasets, by name", reader=_tasks,
                                         type_doc="mapping of name -> dataset")
    arms: dict[str, Arm] = spec("the baseline arm and the variants, by name", reader=_arms,
                                type_doc="mapping of name -> arm")
    tuning: Tuning = spec("the same budget for every arm")
    seeds: tuple[int, ...] = spec("the final runs' seeds, paired across arms", check=_seeds)
    alpha: float = spec("the tests' significance level", 0.05, lo=1e-6, hi=0.5)

    def check(self, c: Checker, path: str) -> None:
        for arm in self.arms.values():
            if arm.against is not None and arm.against not in self.arms:
                raise c.fail(f"arms.{arm.name}.against", f"unknown arm {arm.against!r}; "
                                                         f"{choices(arm.against, self.arms)}")
            if arm.against == arm.name:
                raise c.fail(f"arms.{arm.name}.against", "an arm cannot be compared with itself")
        baseline = self.baseline.arm
        if baseline is not None and baseline not in self.arms:
            raise c.fail("baseline.arm", f"unknown arm {baseline!r}; {choices(baseline, self.arms)}")
        base = self.arms[baseline or next(iter(self.arms))]
        if base.against is not None:  # the baseline arm is compared with nothing: its `against` would be ignored
            raise c.fail(f"arms.{base.name}.against", f"{base.name!r} is the baseline arm, which the others are "
                                                      "compared with; remove `against` here (or make another arm "
                                                      "the baseline with baseline.arm)")


def parse_study(path: str | Path, text: str, tables: dict) -> Study:
    """Parse and check one study file against the loaded tables (for its baseline entry)."""
    c = Checker(str(path))
    f = parse(StudyFile, c, yamlfile.read(path, text), "")
    entries = {e.id: (t, e) for t in tables.values() for e in t.entries.values()}
    base_changes = f.baseline.changes or {}

    def start(entry_id: str, where: str, changes: dict) -> Plan:
        if entry_id not in entries:
            raise c.fail(where, f"unknown entry {entry_id!r}; {choices(entry_id, entries)}")
        table, entry = entries[entry_id]
        if not entry.runs:
            raise c.fail(where, f"entry {entry_id!r} does not run (no recipe, or unavailable)")
        plan = dataclasses.replace(entry.plan(), table_file=str(table.path))
        return apply(plan, {**base_changes, **changes}, c, where)

    start(f.baseline.entry, "baseline.entry", {})
    datasets = {}
    for name, task in f.datasets.items():
        where = f"datasets.{name}"
        own = task.entry or f.baseline.entry
        plan = start(own, f"{where}.entry" if own != f.baseline.entry else "baseline.entry", task.changes or {})
        ds = dict(task.dataset or {})
        _check_task(c, where, apply(plan, {}, c, where, ds))
        datasets[name] = Task(own, plan, ds)
    for arm in f.arms.values():
        values = [list(p.choices) if p.choices else [p.low, p.high] for p in arm.space]
        for task in datasets.values():  # every arm x dataset is a valid entry at every choice and both edges
            for i in range(max(len(v) for v in values)):
                trial = {p.path: v[min(i, len(v) - 1)] for p, v in zip(arm.space, values)}
                _check_task(c, f"arms.{arm.name}", apply(task.plan, {**arm.changes, **trial}, c, f"arms.{arm.name}",
                                                         task.dataset))
    t = f.tuning
    steps = min(task.plan.recipe.steps for task in datasets.values())
    return Study(f.id, f.title, str(path), f.baseline.entry, datasets, f.arms, f.baseline.arm or next(iter(f.arms)),
                 f.seeds, t.trials, t.seed, t.startup_trials if t.startup_trials is not None else min(3, t.trials),
                 t.report_every if t.report_every is not None else max(1, steps // 5), f.alpha, f.text)


def load_study(name_or_path: str | Path, tables: dict) -> Study:
    path = Path(name_or_path)
    if not path.suffix:
        path = STUDY_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in STUDY_DIR.glob("*.yaml"))
        raise TableError(str(path), "", f"no such study file; known studies: {', '.join(known) or 'none'}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TableError(str(path), "", f"cannot read the file: {getattr(exc, 'strerror', None) or exc}") from None
    study = parse_study(path, text, tables)
    if study.id != path.stem:  # `bench study cell --cell <id>.<arm>.<dataset>` finds the file by the id
        raise TableError(str(path), "id", f"study id {study.id!r} differs from the file's name {path.stem!r}: a "
                                          f"study's cells name it by its id, so name the file {study.id}.yaml")
    return study


def load_studies(names_or_paths, tables: dict) -> dict[str, Study]:
    """Several study files, by id; two files with the same id are refused (one would hide the other)."""
    out: dict[str, Study] = {}
    for name in names_or_paths:
        study = load_study(name, tables)
        if study.id in out:
            raise TableError(study.path, "id", f"study id {study.id!r} is also used by {out[study.id].path}")
        out[study.id] = study
    return out


def split_cell(cell: str) -> tuple[str, str, str]:
    """`<study>.<arm>.<dataset>` -> its three parts."""
    parts = cell.split(".")
    if len(parts) != 3:
        raise ValueError(f"a study cell is <study>.<arm>.<dataset>, got {cell!r}")
    return parts[0], parts[1], parts[2]
