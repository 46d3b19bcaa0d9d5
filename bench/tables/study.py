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

import yaml

from bench.tables import yamlfile
from bench.errors import TableError
from bench.tables.recipe import Plan, parse_dataset, parse_recipe
from bench.tables.schema import Checker, choices

STUDY_DIR = Path("experiments/studies")


@dataclass(frozen=True)
class Param:
    """One dimension of an arm's search space: a float range (log or linear), an integer range, or choices."""

    path: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    choices: tuple = ()

    def describe(self) -> str:
        """`recipe.optimizer.lr [0.01, 1] log`, `model_kwargs.pos_embed in learn, none`."""
        if self.choices:
            return f"{self.path} in {', '.join(str(c) for c in self.choices)}"
        kind = " integer" if self.integer else ""
        return f"{self.path}{kind} [{self.low:g}, {self.high:g}]{' log' if self.log else ''}"


@dataclass(frozen=True)
class Arm:
    name: str
    text: str
    changes: dict[str, Any]
    space: tuple[Param, ...]
    against: str | None  # the arm a variant is compared with (None: the baseline arm itself)


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


def _space(c: Checker, raw: Any, path: str) -> tuple[Param, ...]:
    out = []
    for key, dim in c.mapping(raw or {}, path).items():
        where = f"{path}.{key}"
        d = c.mapping(dim, where)
        c.only(d, where, ("low", "high", "log", "int", "choices"))
        if "choices" in d:
            values = c.get(d, "choices", where, list)
            if len(values) < 2:
                raise c.fail(f"{where}.choices", "expected at least two choices")
            out.append(Param(key, choices=tuple(yamlfile.plain(v) for v in values)))
            continue
        low, high = c.number(d, "low", where, -1e9, 1e9), c.number(d, "high", where, -1e9, 1e9)
        log = c.get(d, "log", where, bool, False)
        if not low < high or (log and low <= 0):
            raise c.fail(where, f"expected low < high{' and low > 0 (log scale)' if log else ''}, got "
                                f"[{low:g}, {high:g}]")
        out.append(Param(key, float(low), float(high), log, c.get(d, "int", where, bool, False)))
    return tuple(out)


def parse_study(path: str | Path, text: str, tables: dict) -> Study:
    """Parse and check one study file against the loaded tables (for its baseline entry)."""
    c = Checker(str(path))
    try:
        raw = yamlfile.load(text)
    except yaml.YAMLError as exc:
        raise c.fail("", f"malformed YAML: {getattr(exc, 'problem', None) or exc}") from None
    top = c.mapping(raw, "")
    c.only(top, "", ("version", "id", "title", "text", "baseline", "datasets", "arms", "tuning", "seeds", "alpha"))
    c.integer(top, "version", "", 1, 1)
    sid = c.ident(c.get(top, "id", "", str), "id")
    base = c.mapping(c.get(top, "baseline", "", dict), "baseline")
    c.only(base, "baseline", ("entry", "changes", "arm"))
    eid = c.get(base, "entry", "baseline", str)
    entries = {e.id: (t, e) for t in tables.values() for e in t.entries.values()}
    base_changes = c.mapping(c.get(base, "changes", "baseline", dict, {}), "baseline.changes")

    def start(entry_id: str, where: str, changes: dict) -> Plan:
        if entry_id not in entries:
            raise c.fail(where, f"unknown entry {entry_id!r}; {choices(entry_id, entries)}")
        table, entry = entries[entry_id]
        if not entry.runs:
            raise c.fail(where, f"entry {entry_id!r} does not run (no recipe, or unavailable)")
        plan = dataclasses.replace(entry.plan(), table_file=str(table.path))
        return apply(plan, {**base_changes, **changes}, c, where)

    start(eid, "baseline.entry", {})
    datasets = {}
    for name, raw_task in c.mapping(c.get(top, "datasets", "", dict), "datasets").items():
        where = f"datasets.{name}"
        c.ident(name, where)
        raw_task = c.mapping(raw_task or {}, where)
        if raw_task and set(raw_task) <= {"entry", "dataset", "changes"}:  # its own entry, dataset, changes
            own = c.get(raw_task, "entry", where, str, eid)
            ds = dict(c.mapping(c.get(raw_task, "dataset", where, dict, {}), f"{where}.dataset"))
            plan = start(own, f"{where}.entry" if own != eid else "baseline.entry",
                         dict(c.mapping(c.get(raw_task, "changes", where, dict, {}), f"{where}.changes")))
        else:
            own, ds, plan = eid, dict(raw_task), start(eid, "baseline.entry", {})
        checked = apply(plan, {}, c, where, ds)
        _check_task(c, where, checked)
        datasets[name] = Task(own, plan, ds)
    arms: dict[str, Arm] = {}
    for name, a in c.mapping(c.get(top, "arms", "", dict), "arms").items():
        where = f"arms.{name}"
        c.ident(name, where)
        a = c.mapping(a, where)
        c.only(a, where, ("text", "changes", "space", "against"))
        arm = Arm(name, c.get(a, "text", where, str), dict(c.mapping(c.get(a, "changes", where, dict, {}),
                                                                     f"{where}.changes")),
                  _space(c, a.get("space"), f"{where}.space"), c.get(a, "against", where, str, None))
        if not arm.space:
            raise c.fail(f"{where}.space", "every arm is tuned: give at least one parameter to search")
        arms[name] = arm
    baseline = c.get(base, "arm", "baseline", str, next(iter(arms), ""))
    if baseline not in arms:
        raise c.fail("baseline.arm", f"unknown arm {baseline!r}; {choices(baseline, arms)}")
    for arm in arms.values():
        if arm.against is not None and arm.against not in arms:
            raise c.fail(f"arms.{arm.name}.against", f"unknown arm {arm.against!r}; {choices(arm.against, arms)}")
        values = [list(p.choices) if p.choices else [p.low, p.high] for p in arm.space]
        for task in datasets.values():  # every arm x dataset is a valid entry at every choice and both edges
            for i in range(max(len(v) for v in values)):
                trial = {p.path: v[min(i, len(v) - 1)] for p, v in zip(arm.space, values)}
                _check_task(c, f"arms.{arm.name}", apply(task.plan, {**arm.changes, **trial}, c, f"arms.{arm.name}",
                                                         task.dataset))
    tuning = c.mapping(c.get(top, "tuning", "", dict), "tuning")
    c.only(tuning, "tuning", ("trials", "seed", "startup_trials", "report_every"))
    seeds = c.get(top, "seeds", "", list)
    if len(seeds) < 2 or len(set(seeds)) != len(seeds) or not all(isinstance(s, int) and s >= 0 for s in seeds):
        raise c.fail("seeds", f"expected at least two distinct seeds (integers >= 0), got {seeds}")
    trials = c.integer(tuning, "trials", "tuning", 1, 100_000)
    steps = min(t.plan.recipe.steps for t in datasets.values())
    return Study(sid, c.get(top, "title", "", str), str(path), eid, datasets, arms, baseline, tuple(seeds),
                 trials, c.integer(tuning, "seed", "tuning", 0, 2**31 - 1, 0),
                 c.integer(tuning, "startup_trials", "tuning", 0, 100_000, min(3, trials)),
                 c.integer(tuning, "report_every", "tuning", 1, 10_000_000, max(1, steps // 5)),
                 c.number(top, "alpha", "", 1e-6, 0.5, 0.05), c.get(top, "text", "", str, ""))


def load_study(name_or_path: str | Path, tables: dict) -> Study:
    path = Path(name_or_path)
    if not path.suffix:
        path = STUDY_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in STUDY_DIR.glob("*.yaml"))
        raise TableError(str(path), "", f"no such study file; known studies: {', '.join(known) or 'none'}")
    return parse_study(path, path.read_text(encoding="utf-8"), tables)


def split_cell(cell: str) -> tuple[str, str, str]:
    """`<study>.<arm>.<dataset>` -> its three parts."""
    parts = cell.split(".")
    if len(parts) != 3:
        raise ValueError(f"a study cell is <study>.<arm>.<dataset>, got {cell!r}")
    return parts[0], parts[1], parts[2]
