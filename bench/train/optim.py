"""Optimizers and learning-rate schedules named in table files.

Adding an optimizer: one function in OPTIMIZERS and its name in the choices
of bench.tables.recipe.Optimizer.name (the schema's list of valid names).
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from bench.tables.recipe import Optimizer, Recipe


def _sgd(params, cfg: Optimizer, weight_decay: float, **kw) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                           weight_decay=weight_decay, **kw)


def _adamw(params, cfg: Optimizer, weight_decay: float, **kw) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=weight_decay, **kw)


OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {"sgd": _sgd, "adamw": _adamw}


def build_optimizer(model: torch.nn.Module, cfg: Optimizer, decay_in_loss: bool = False,
                    **engine_kwargs) -> torch.optim.Optimizer:
    """The base optimizer; with `decay_in_loss` its own weight decay is 0 (the step adds it to the loss)."""
    params = [p for p in model.parameters() if p.requires_grad]
    return OPTIMIZERS[cfg.name](params, cfg, 0.0 if decay_in_loss else cfg.weight_decay, **engine_kwargs)


def lr_factor(step: int, total: int, warmup: int, name: str) -> float:
    """Multiplier of the base rate at `step` (0-based): linear warmup, then cosine to 0 or constant."""
    if step < warmup:
        return (step + 1) / warmup
    if name == "constant":
        return 1.0
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def build_schedule(optimizer: torch.optim.Optimizer, recipe: Recipe) -> torch.optim.lr_scheduler.LambdaLR:
    sched = recipe.schedule
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, recipe.steps, sched.warmup_steps, sched.name))


def build_mixer(recipe, num_classes: int):
    """timm's Mixup/CutMix for the recipe's `mix`, or None."""
    if recipe.mix is None:
        return None
    from timm.data import Mixup

    mix = recipe.mix
    return Mixup(mixup_alpha=mix.mixup_alpha, cutmix_alpha=mix.cutmix_alpha, prob=mix.prob,
                 switch_prob=mix.switch_prob, label_smoothing=recipe.label_smoothing, num_classes=num_classes)
