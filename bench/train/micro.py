"""The engine's micro-batch cap: how many examples one forward pass takes on this machine.

The recipe fixes what an update is: the global batch, its accumulation steps,
SAM's chunks of m examples (one perturbation each). A card fixes how many
images fit in one forward and backward. The cap cuts the recipe's micro-batches
further, never merging them, so the update is the one the recipe defines (up to
float summation order; tests/test_micro_batch.py holds it to 1e-6) whatever
the card.

One exception: BatchNorm in train mode normalises by the statistics of each
forward pass, so cutting its micro-batch changes the model's function. There
the cap is refused when it is set by hand, and not applied (with a warning)
when it was derived.

`auto` (the default in params.yaml): on CUDA, the largest micro-batch whose
estimated peak (bench.train.footprint: activations autograd saves, plus
weights, gradients and optimizer state, plus the step's batch on the device) fits 80% of the card; on the CPU, no
cap (host memory is not the limit a GPU's is).
"""

from __future__ import annotations

import math
import sys
from typing import Any

import torch
from torch.nn.modules.batchnorm import _BatchNorm

from bench.errors import BenchError


def parse(value: str | int | None) -> str | int | None:
    """`auto`, `off` (None: the recipe's micro-batches) or a positive integer."""
    if value is None or value == "off":
        return None
    if value == "auto":
        return "auto"
    try:
        n = int(value)
    except (TypeError, ValueError):
        n = 0
    if n < 1:
        raise BenchError(f"micro_batch {value!r}: expected auto, off or a positive number of examples")
    return n


def recipe_micro_batch(recipe, world_size: int) -> int:
    """The most examples one forward pass of the recipe takes on one device (without a cap)."""
    local = recipe.batch_size // world_size
    share = max(1, math.ceil(recipe.accum_steps / world_size))  # this device's share of the micro-batches
    sam = recipe.optimizer.sam
    if sam is None:
        return math.ceil(local / share)
    chunk = sam.m or local
    per_chunk = max(1, math.ceil(share * chunk / local))
    return math.ceil(chunk / per_chunk)


def bn_trains(model: torch.nn.Module) -> bool:
    return any(isinstance(m, _BatchNorm) and m.training for m in model.modules())


def choose(natural: int, setting: str | int | None, fits: int | None, batchnorm_trains: bool
           ) -> tuple[int | None, int | None]:
    """The one rule, for a run and for the checks before one: (the cap to apply or None, a cap that
    BatchNorm in train mode blocks or None). `setting` is parsed (auto, None or a number); `fits` is what
    the estimate fits on the card (auto; None: no estimate, no card)."""
    cap = fits if setting == "auto" else setting
    if cap is None or cap >= natural:
        return None, None  # no cap, or the recipe's micro-batches already fit
    if batchnorm_trains:
        return None, cap
    return cap, None


def resolve(requested: str | int | None, recipe, world_size: int, model: torch.nn.Module,
            estimate, card_bytes: float | None, precision: str) -> tuple[int | None, dict[str, Any]]:
    """(the cap to apply or None, what the run records). `model` is in the mode it trains in (frozen
    BatchNorm already in eval); `estimate()` returns its bench.train.footprint.Footprint; `card_bytes`
    is the device's memory (None on the CPU)."""
    requested = parse(requested)
    natural = recipe_micro_batch(recipe, world_size)
    record: dict[str, Any] = {"micro_batch_setting": requested if requested is not None else "off",
                              "recipe_micro_batch": natural}
    fits = None
    if requested == "auto" and card_bytes is not None:
        try:
            fits = estimate().largest_micro_batch(card_bytes, precision, recipe.optimizer.sam is not None,
                                                  recipe.batch_size // world_size)
        except Exception as exc:  # an estimate that fails must not stop a run that may well fit
            print(f"micro_batch auto: no memory estimate ({type(exc).__name__}: {exc}); the recipe's "
                  f"micro-batch of {natural} is used", file=sys.stderr, flush=True)
    cap, blocked = choose(natural, requested, fits, bn_trains(model))
    if blocked is not None and requested == "auto":
        print(f"micro_batch auto: the estimate fits {blocked} examples per pass, fewer than the recipe's "
              f"{natural}, but the model has BatchNorm in train mode, whose statistics a smaller "
              "micro-batch would change; the recipe's micro-batch is kept (set accum_steps in the "
              "recipe if it runs out of memory)", file=sys.stderr, flush=True)
    elif blocked is not None:
        raise BenchError(f"micro_batch {blocked}: the model has BatchNorm in train mode, which normalises "
                         f"each forward pass by its own statistics, so cutting the recipe's micro-batch "
                         f"of {natural} would change what is trained; raise micro_batch to {natural} or "
                         "more, or change accum_steps in the recipe")
    record["micro_batch"] = cap if cap is not None else natural
    return cap, record
