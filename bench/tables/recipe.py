"""What determines a run's result: the typed recipe, dataset and plan of one table entry.

Each part is a frozen dataclass whose fields are the table file's keys
(bench.tables.schema: one declaration gives the type, default, range, description
and check). `bench schema` prints them all; experiments/README.md explains
the protocol choices behind them. A plan (`plan/<entry>.json`, written by
`bench plan`) is `Plan.to_json()`: the keys are the field names, so a plan
file and the fingerprint a resumed run checks stay stable.

Adding a recipe field: one `spec()` field here (and, if it relates to
others, a line in the part's `check`), its use in bench/train or bench/data,
and its source in every table file's `sources:` (every field that reaches a
run has one: `bench validate` names each table that lacks it) and the
generated reference in experiments/README.md (`bench schema`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.tables.schema import Checker, from_json, parse, spec, to_json

RESULT_KEYS = ("top1", "top1_err", "real_top1", "real_top1_err", "top5", "top5_err", "real_top5", "real_top5_err")


def _grid(c: Checker, grid: tuple, path: str) -> tuple[float, ...]:
    """Positive numbers (lr and rho at most 10, steps whole numbers: checked with the recipe)."""
    if len(grid) < 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 10_000_000
                                for v in grid):
        raise c.fail(path, "expected a list of at least two positive numbers")
    return tuple(float(v) for v in grid)


@dataclass(frozen=True, kw_only=True)
class Sam:
    """Sharpness-Aware Minimization on top of the base optimizer (bench/train/sam.py)."""

    rho: float = spec("neighbourhood radius", lo=0.0, hi=10.0)
    adaptive: bool = spec("ASAM (Kwon et al. 2021): the perturbation scaled by |w|", False)
    m: int | None = spec("examples per perturbation (m-sharpness); null: one perturbation for the batch",
                         None, lo=1, hi=1_000_000)


@dataclass(frozen=True, kw_only=True)
class Optimizer:
    """The base optimizer (bench/train/optim.py)."""

    name: str = spec("base optimizer", choices=("sgd", "adamw"), noun="optimizer")
    lr: float = spec("peak learning rate (or the value before `select` chooses one)", lo=0.0, hi=10.0)
    weight_decay: float = spec("weight decay (where: recipe.weight_decay_mode)", 0.0, lo=0.0, hi=1.0)
    momentum: float = spec("SGD momentum", 0.9, lo=0.0, hi=1.0)
    nesterov: bool = spec("Nesterov momentum (SGD)", False)
    sam: Sam | None = spec("SAM settings; null: the base optimizer alone", None)


@dataclass(frozen=True, kw_only=True)
class Schedule:
    name: str = spec("learning-rate decay after the warmup", "cosine", choices=("cosine", "constant"),
                     noun="schedule")
    warmup_steps: int = spec("linear warmup from 0 to the peak lr, in steps", 0, lo=0, hi=10_000_000)


def _pipeline(c: Checker, text: str, path: str) -> str:
    """An op pipeline (ops: bench/pp/), checked, in its canonical form (what plan files hold)."""
    from bench.pp.grammar import parse

    try:
        return str(parse(text))
    except ValueError as exc:
        raise c.fail(path, str(exc)) from None


@dataclass(frozen=True, kw_only=True)
class Preprocess:
    """The pre-processing pipelines, as `op(args)|op|...` (ops: bench/pp/); both input paths run them."""

    train: str | None = spec("training pipeline, augmentation included (not needed when steps: 0)", None,
                             check=_pipeline)
    eval: str = spec("evaluation pipeline (deterministic)", check=_pipeline)


@dataclass(frozen=True, kw_only=True)
class Selection:
    """A hyper-parameter chosen on held-out training data by the `select` stage (bench/train/select.py)."""

    param: str = spec("what is chosen: lr, SAM's rho, or steps (the SAM paper's SGD baselines: the standard "
                      "or the doubled epoch count)", choices=("lr", "rho", "steps"), noun="parameter")
    grid: tuple[float, ...] = spec("the candidate values", check=_grid)
    seed: int = spec("the seed of the selection runs", 0, lo=0, hi=2**31 - 1)


@dataclass(frozen=True, kw_only=True)
class Mix:
    """Mixup and CutMix of each training batch (timm.data.Mixup: soft targets, per-batch lambda)."""

    mixup_alpha: float = spec("Mixup's Beta(alpha, alpha); 0: no Mixup", 0.0, lo=0.0, hi=100.0)
    cutmix_alpha: float = spec("CutMix's Beta(alpha, alpha); 0: no CutMix", 0.0, lo=0.0, hi=100.0)
    prob: float = spec("probability that a batch is mixed", 1.0, lo=0.0, hi=1.0)
    switch_prob: float = spec("with both on: probability of CutMix instead of Mixup", 0.5, lo=0.0, hi=1.0)


@dataclass(frozen=True, kw_only=True)
class Recipe:
    """How an entry is trained and evaluated; `steps: 0` evaluates a checkpoint as it is."""

    optimizer: Optimizer = spec("the base optimizer (evaluation only: not needed)")
    select: Selection | None = spec("a value chosen on held-out data; null: none", None)
    schedule: Schedule = spec("learning-rate schedule", Schedule())
    steps: int = spec("optimizer updates; 0 evaluates the checkpoint as it is", lo=0, hi=10_000_000)
    batch_size: int = spec("examples per update (the global batch)", lo=1, hi=1_000_000)
    accum_steps: int = spec("micro-batches per update (gradient accumulation); divides batch_size", 1,
                            lo=1, hi=4096)
    eval_batch_size: int = spec("examples per evaluation batch", 512, lo=1, hi=1_000_000)
    resolution: int = spec("input size (pixels, square)", lo=1, hi=4096)
    grad_clip: float | None = spec("clip the gradient's global norm at this value; null: no clipping", None,
                                   lo=0.0, hi=1e6)
    label_smoothing: float = spec("label smoothing of the cross-entropy", 0.0, lo=0.0, hi=1.0)
    preprocess: Preprocess = spec("training and evaluation pre-processing")
    pos_embed_resample: str = spec("how a ViT checkpoint's position embeddings are resampled to a new grid: "
                                   "timm (bicubic, timm's loader) or linear (corners aligned, as vit_jax's "
                                   "scipy.ndimage.zoom order 1)", "timm", choices=("timm", "linear"),
                                   noun="resampling")
    ema: float | None = spec("Polyak (EMA) averaging decay; the averaged model is evaluated; null: none", None,
                             lo=0.0, hi=1.0)
    head: str = spec("classifier head: reset (new, timm init), zeros (new, zero-initialised), keep (the "
                     "checkpoint's)", "reset", choices=("reset", "zeros", "keep"), noun="head rule")
    freeze_bn: bool = spec("BatchNorm in eval mode during training (statistics frozen)", False)
    mix: Mix | None = spec("Mixup / CutMix of training batches (timm's; label smoothing goes into the soft "
                           "targets); null: none", None)
    weight_decay_mode: str = spec("optimizer: the optimizer's own decay; loss: 0.5 * wd * ||w||^2 added to the "
                                  "loss (SAM's code)", "optimizer", choices=("optimizer", "loss"), noun="mode")

    def check(self, c: Checker, path: str) -> None:
        from bench.pp.grammar import parse, problem

        if self.steps and self.schedule.warmup_steps >= self.steps:
            raise c.fail(f"{path}.schedule.warmup_steps",
                         f"{self.schedule.warmup_steps} warmup steps in a {self.steps}-step run: the learning rate "
                         "would never decay; the warmup must be shorter than the run")
        for kind in ("train", "eval"):
            text = getattr(self.preprocess, kind)
            if text is None:
                if kind == "train" and self.steps:
                    raise c.fail(f"{path}.preprocess.train", "missing required field (the run trains)")
                continue
            wrong = problem(parse(text), self.resolution, evaluation=kind == "eval")
            if wrong:
                raise c.fail(f"{path}.preprocess.{kind}", wrong)
        if self.batch_size % self.accum_steps:
            raise c.fail(f"{path}.accum_steps", f"must divide batch_size ({self.batch_size}), got {self.accum_steps}")
        if self.select is not None and self.select.param == "rho" and self.optimizer.sam is None:
            raise c.fail(f"{path}.select.param", "selecting rho needs optimizer.sam")
        if self.select is not None:
            param = self.select.param
            if param == "steps" and not all(v == int(v) for v in self.select.grid):
                raise c.fail(f"{path}.select.grid", f"steps must be whole numbers; grid: {list(self.select.grid)}")
            if param != "steps" and max(self.select.grid) > 10:
                raise c.fail(f"{path}.select.grid", f"{param} values must lie in (0, 10]; grid: {list(self.select.grid)}")
            named = {"lr": self.optimizer.lr, "steps": self.steps}.get(param) or self.optimizer.sam.rho
            if not any(abs(v - named) <= 1e-12 * max(1.0, abs(named)) for v in self.select.grid):
                where = {"lr": "optimizer.lr", "steps": "steps"}.get(param, "optimizer.sam.rho")
                raise c.fail(f"{path}.select.grid", f"does not contain the recipe's {where} ({named:g}), the "
                                                    f"value the paper names; grid: {list(self.select.grid)}")
        if self.mix is not None and not (self.mix.mixup_alpha or self.mix.cutmix_alpha):
            raise c.fail(f"{path}.mix", "set mixup_alpha or cutmix_alpha above 0 (or mix: null)")
        if self.mix is not None and self.batch_size % 2:
            raise c.fail(f"{path}.mix", f"Mixup pairs each batch with its reverse: batch_size must be even, got "
                                        f"{self.batch_size}")
        m = self.optimizer.sam.m if self.optimizer.sam else None
        if m and self.batch_size % m:
            raise c.fail(f"{path}.optimizer.sam.m", f"must divide batch_size ({self.batch_size}), got {m}")
        if self.steps == 0 and (self.head != "keep" or self.select is not None):
            raise c.fail(f"{path}.steps", "an evaluation-only entry (steps: 0) needs head: keep and no select")

    @property
    def evaluation_only(self) -> bool:
        return self.steps == 0


@dataclass(frozen=True, kw_only=True)
class ExtraEval:
    """Another evaluation of the final model (ImageNet ReaL labels)."""

    name: str = spec("TFDS dataset")
    split: str = spec("its split")
    key: str = spec("the result key it fills", choices=RESULT_KEYS, noun="result key")


@dataclass(frozen=True, kw_only=True)
class Dataset:
    """TFDS name and splits; `vtab: <task>` fills them from the VTAB-1k task registry (bench/tables/vtab.py)."""

    vtab: str | None = spec("a VTAB-1k task; sets name and the four splits", None)
    name: str = spec("TFDS builder name")
    train_split: str | None = spec("training split (TFDS split string)", None)
    test_split: str | None = spec("evaluation split", None)
    sweep_train_split: str | None = spec("training split of the `select` stage's runs", None)
    sweep_val_split: str | None = spec("held-out split the `select` stage scores on", None)
    label_noise: float = spec("fraction of training labels flipped to another class (fixed subset)", 0.0,
                              lo=0.0, hi=1.0)
    noise_seed: int = spec("seed of that subset", 0, lo=0, hi=2**31 - 1)
    extra_eval: tuple[ExtraEval, ...] = spec("extra evaluations of the final model", ())

    @property
    def names(self) -> list[str]:
        """Every TFDS dataset a run reads."""
        return [self.name] + [x.name for x in self.extra_eval]


SPLIT_KEYS = ("name", "train_split", "test_split", "sweep_train_split", "sweep_val_split")


def parse_recipe(c: Checker, raw: Any, path: str) -> Recipe:
    evaluation_only = isinstance(raw, dict) and raw.get("steps") == 0  # needs no optimizer or batch size
    defaults = {"optimizer": {"name": "sgd", "lr": 0.0}, "batch_size": 1} if evaluation_only else None
    return parse(Recipe, c, raw, path, defaults)


def parse_dataset(c: Checker, raw: Any, path: str, partial: bool = False) -> Dataset:
    """`partial` (entries that cannot run): the name alone is enough, to label the cell."""
    d = c.mapping(raw, path)
    defaults = None
    task = c.get(d, "vtab", path, str, None)
    if task is not None:
        from bench.tables.vtab import TASKS
        from bench.errors import choices

        if task not in TASKS:
            raise c.fail(f"{path}.vtab", f"unknown VTAB task {task!r}; {choices(task, TASKS)}")
        for key in SPLIT_KEYS:
            if key in d:
                raise c.fail(f"{path}.{key}", "set by the VTAB task; remove it")
        t = TASKS[task]
        defaults = {"name": t.tfds_name, "train_split": t.splits["train800val200"], "test_split": t.splits["test"],
                    "sweep_train_split": t.splits["train800"], "sweep_val_split": t.splits["val200"]}
    dataset = parse(Dataset, c, d, path, defaults)
    for key in ("train_split", "test_split"):
        if not partial and getattr(dataset, key) is None:
            raise c.fail(f"{path}.{key}", "missing required field")
    return dataset


def parse_checkpoint(c: Checker, raw: Any, path: str) -> dict[str, str] | None:
    """null (from scratch), {hub: <timm pretrained tag>} or {file: <path in the repository>}."""
    if raw is None:
        return None
    d = c.mapping(raw, path)
    if len(d) != 1 or next(iter(d)) not in ("hub", "file"):
        raise c.fail(path, "expected null (train from scratch), {hub: <timm tag>} or {file: <path>}")
    kind, value = next(iter(d.items()))
    if not isinstance(value, str) or not value:
        raise c.fail(f"{path}.{kind}", "expected a non-empty string")
    if kind == "file" and (Path(value).is_absolute() or ".." in Path(value).parts):
        raise c.fail(f"{path}.file", "must be a path relative to the repository, without '..'")
    return {kind: value}


parse_checkpoint.rows = lambda prefix: [
    (f"{prefix}hub", "str", "", "a timm pretrained tag: the weights timm downloads (`orig_in21k`)"),
    (f"{prefix}file", "str", "", "a weights file, a path in the repository (no `..`)")]


@dataclass(frozen=True, kw_only=True)
class Plan:
    """Everything that determines one entry's runs (plan/<entry>.json); `data`: the datasets' status."""

    entry: str
    table: str
    model: str
    model_kwargs: dict[str, Any]
    checkpoint: dict[str, str] | None
    dataset: Dataset
    recipe: Recipe
    unavailable: str | None = None
    data: dict[str, Any] | None = None
    table_file: str | None = None  # where the entry is written (provenance: its hash goes into metrics.json)

    def to_json(self) -> dict[str, Any]:
        out = to_json(self)
        for key in ("data", "table_file"):
            if out[key] is None:
                del out[key]
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        return from_json(cls, data)

    def with_selection(self, param: str | None, value: float | None) -> Plan:
        """This plan with a value chosen by the `select` stage (lr, SAM's rho or steps) in place."""
        if not param:
            return self
        opt = self.recipe.optimizer
        if param == "steps":
            return self.with_recipe(steps=int(value))
        if param == "lr":
            opt = dataclasses.replace(opt, lr=float(value))
        else:
            opt = dataclasses.replace(opt, sam=dataclasses.replace(opt.sam or Sam(rho=0.0), rho=float(value)))
        return self.with_recipe(optimizer=opt)

    def with_recipe(self, **changes: Any) -> Plan:
        return dataclasses.replace(self, recipe=dataclasses.replace(self.recipe, **changes))
