"""The per-entry parts of a table file: recipe, dataset and checkpoint.

Parsed here (pure Python, no torch) so that `bench validate` and `bench plan`
stay fast; bench.experiments assembles them into entries. Every field is
documented in experiments/README.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.errors import choices

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("cosine", "constant")
CROPS = ("none", "inception")
AUTOAUGMENT = ("cifar10", "imagenet", "svhn")
HEADS = ("reset", "zeros", "keep")
SELECT_PARAMS = ("lr", "rho")
DECAY_MODES = ("optimizer", "loss")  # the optimizer's own decay, or 0.5 * wd * ||w||^2 in the loss (SAM's code)
RESULT_KEYS = ("top1", "top1_err", "real_top1", "real_top1_err")
VIT_NORM = {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}  # pixels to [-1, 1], as the official ViT code


def _optimizer(c, raw: Any, op: str) -> dict[str, Any]:
    opt = c.mapping(raw, op)
    c.only(opt, op, ("name", "lr", "momentum", "weight_decay", "nesterov", "sam"))
    name = c.get(opt, "name", op, str)
    if name not in OPTIMIZERS:
        raise c.fail(f"{op}.name", f"unknown optimizer {name!r}; {choices(name, OPTIMIZERS)}")
    optimizer = {
        "name": name,
        "lr": c.number(opt, "lr", op, 0.0, 10.0),
        "weight_decay": c.number(opt, "weight_decay", op, 0.0, 1.0, 0.0),
        "momentum": c.number(opt, "momentum", op, 0.0, 1.0, 0.9),
        "nesterov": c.get(opt, "nesterov", op, bool, False),
        "sam": None,
    }
    if opt.get("sam") is not None:
        sp = f"{op}.sam"
        sam = c.mapping(opt["sam"], sp)
        c.only(sam, sp, ("rho", "adaptive", "m"))
        optimizer["sam"] = {"rho": c.number(sam, "rho", sp, 0.0, 10.0),
                            "adaptive": c.get(sam, "adaptive", sp, bool, False),
                            "m": c.integer(sam, "m", sp, 1, 1_000_000, None)}
    return optimizer


def _select(c, raw: Any, path: str, optimizer: dict[str, Any]) -> dict[str, Any] | None:
    """A hyper-parameter chosen on a held-out part of the training data (the `select` stage)."""
    if raw is None:
        return None
    s = c.mapping(raw, path)
    c.only(s, path, ("param", "grid", "seed"))
    param = c.get(s, "param", path, str)
    if param not in SELECT_PARAMS:
        raise c.fail(f"{path}.param", f"unknown parameter {param!r}; {choices(param, SELECT_PARAMS)}")
    if param == "rho" and optimizer["sam"] is None:
        raise c.fail(f"{path}.param", "selecting rho needs optimizer.sam")
    grid = c.get(s, "grid", path, list)
    if len(grid) < 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 10
                                for v in grid):
        raise c.fail(f"{path}.grid", "expected a list of at least two numbers in (0, 10]")
    return {"param": param, "grid": [float(v) for v in grid], "seed": c.integer(s, "seed", path, 0, 2**31 - 1, 0)}


def _normalize(c, raw: Any, path: str) -> dict[str, list[float]]:
    if raw is None:
        return dict(VIT_NORM)
    n = c.mapping(raw, path)
    c.only(n, path, ("mean", "std"))
    out = {}
    for key in ("mean", "std"):
        v = c.get(n, key, path, list)
        if len(v) not in (1, 3) or not all(isinstance(x, (int, float)) and 0 < x < 1 or key == "mean" and x == 0
                                           for x in v):
            raise c.fail(f"{path}.{key}", "expected 1 or 3 numbers in (0, 1)")
        out[key] = [float(x) for x in v]
    return out


def parse_recipe(c, raw: Any, path: str) -> dict[str, Any]:
    r = c.mapping(raw, path)
    c.only(r, path, ("optimizer", "schedule", "steps", "batch_size", "accum_steps", "resolution", "grad_clip",
                     "label_smoothing", "augmentation", "eval_batch_size", "select", "ema", "head", "freeze_bn",
                     "normalize", "eval_crop_pct", "weight_decay_mode"))
    evaluation_only = r.get("steps") == 0  # needs no optimizer or batch size
    default_opt = {"name": "sgd", "lr": 0.0} if evaluation_only else ...
    optimizer = _optimizer(c, c.get(r, "optimizer", path, dict, default_opt), f"{path}.optimizer")
    sp = f"{path}.schedule"
    sched = c.mapping(c.get(r, "schedule", path, dict, {"name": "cosine"}), sp)
    c.only(sched, sp, ("name", "warmup_steps"))
    sname = c.get(sched, "name", sp, str, "cosine")
    if sname not in SCHEDULES:
        raise c.fail(f"{sp}.name", f"unknown schedule {sname!r}; {choices(sname, SCHEDULES)}")
    steps = c.integer(r, "steps", path, 0, 10_000_000)  # 0: evaluate the checkpoint as it is
    ap = f"{path}.augmentation"
    aug = c.mapping(c.get(r, "augmentation", path, dict, {}), ap)
    c.only(aug, ap, ("shift", "hflip", "crop", "autoaugment"))
    crop = c.get(aug, "crop", ap, str, "none")
    if crop not in CROPS:
        raise c.fail(f"{ap}.crop", f"unknown crop {crop!r}; {choices(crop, CROPS)}")
    autoaugment = c.get(aug, "autoaugment", ap, str, None)
    if autoaugment is not None and autoaugment not in AUTOAUGMENT:
        raise c.fail(f"{ap}.autoaugment", f"unknown policy {autoaugment!r}; {choices(autoaugment, AUTOAUGMENT)}")
    head = c.get(r, "head", path, str, "reset")
    if head not in HEADS:
        raise c.fail(f"{path}.head", f"unknown head rule {head!r}; {choices(head, HEADS)}")
    batch = c.integer(r, "batch_size", path, 1, 1_000_000, 1 if evaluation_only else ...)
    accum = c.integer(r, "accum_steps", path, 1, 4096, 1)
    if batch % accum:
        raise c.fail(f"{path}.accum_steps", f"must divide batch_size ({batch}), got {accum}")
    recipe = {
        "optimizer": optimizer,
        "schedule": {"name": sname, "warmup_steps": c.integer(sched, "warmup_steps", sp, 0, max(steps, 0), 0)},
        "steps": steps,
        "batch_size": batch,
        "accum_steps": accum,
        "eval_batch_size": c.integer(r, "eval_batch_size", path, 1, 1_000_000, 512),
        "resolution": c.integer(r, "resolution", path, 1, 4096),
        "grad_clip": c.number(r, "grad_clip", path, 0.0, 1e6, None) if r.get("grad_clip") is not None else None,
        "label_smoothing": c.number(r, "label_smoothing", path, 0.0, 1.0, 0.0),
        "augmentation": {
            "shift": c.integer(aug, "shift", ap, 0, 64, 0),
            "hflip": c.get(aug, "hflip", ap, bool, False),
            "crop": crop,
            "autoaugment": autoaugment,
        },
        "select": _select(c, r.get("select"), f"{path}.select", optimizer),
        "ema": c.number(r, "ema", path, 0.0, 1.0, None) if r.get("ema") is not None else None,
        "head": head,
        "freeze_bn": c.get(r, "freeze_bn", path, bool, False),
        "normalize": _normalize(c, r.get("normalize"), f"{path}.normalize"),
        "eval_crop_pct": c.number(r, "eval_crop_pct", path, 0.1, 1.0, 1.0),
        "weight_decay_mode": c.get(r, "weight_decay_mode", path, str, "optimizer"),
    }
    if recipe["weight_decay_mode"] not in DECAY_MODES:
        raise c.fail(f"{path}.weight_decay_mode", f"unknown mode {recipe['weight_decay_mode']!r}; "
                                                  f"{choices(recipe['weight_decay_mode'], DECAY_MODES)}")
    m = (optimizer["sam"] or {}).get("m")
    if m and batch % m:
        raise c.fail(f"{path}.optimizer.sam.m", f"must divide batch_size ({batch}), got {m}")
    if steps == 0 and (head != "keep" or recipe["select"] is not None):
        raise c.fail(f"{path}.steps", "an evaluation-only entry (steps: 0) needs head: keep and no select")
    return recipe


def parse_dataset(c, raw: Any, path: str, partial: bool = False) -> dict[str, Any]:
    """TFDS name and splits; `vtab: <task>` fills them from the VTAB-1k task registry.

    `partial` (entries that cannot run): the name alone is enough, to label the cell.
    """
    d = c.mapping(raw, path)
    c.only(d, path, ("name", "train_split", "test_split", "sweep_train_split", "sweep_val_split", "label_noise",
                     "noise_seed", "vtab", "extra_eval"))
    out: dict[str, Any] = {"vtab": c.get(d, "vtab", path, str, None)}
    if out["vtab"] is not None:
        from bench.data.vtab import TASKS

        if out["vtab"] not in TASKS:
            raise c.fail(f"{path}.vtab", f"unknown VTAB task {out['vtab']!r}; {choices(out['vtab'], TASKS)}")
        task = TASKS[out["vtab"]]
        out.update(name=task.tfds_name, train_split=task.splits["train800val200"], test_split=task.splits["test"],
                   sweep_train_split=task.splits["train800"], sweep_val_split=task.splits["val200"])
        for key in ("name", "train_split", "test_split", "sweep_train_split", "sweep_val_split"):
            if key in d:
                raise c.fail(f"{path}.{key}", "set by the VTAB task; remove it")
    else:
        out.update(name=c.get(d, "name", path, str),
                   train_split=c.get(d, "train_split", path, str, required=not partial),
                   test_split=c.get(d, "test_split", path, str, required=not partial),
                   sweep_train_split=c.get(d, "sweep_train_split", path, str, None),
                   sweep_val_split=c.get(d, "sweep_val_split", path, str, None))
    out["label_noise"] = c.number(d, "label_noise", path, 0.0, 1.0, 0.0)
    out["noise_seed"] = c.integer(d, "noise_seed", path, 0, 2**31 - 1, 0)
    extra = c.get(d, "extra_eval", path, list, [])
    out["extra_eval"] = []
    for i, item in enumerate(extra):
        ep = f"{path}.extra_eval[{i}]"
        e = c.mapping(item, ep)
        c.only(e, ep, ("name", "split", "key"))
        key = c.get(e, "key", ep, str)
        if key not in RESULT_KEYS:
            raise c.fail(f"{ep}.key", f"unknown result key {key!r}; {choices(key, RESULT_KEYS)}")
        out["extra_eval"].append({"name": c.get(e, "name", ep, str), "split": c.get(e, "split", ep, str), "key": key})
    return out


def parse_checkpoint(c, raw: Any, path: str) -> dict[str, str] | None:
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
