"""Will a stage fit its card? The estimate `bench suite cost` prints, checked before a stage starts.

The peak of a training run on one card: activations autograd saves at the
micro-batch the run will take (the recipe's, or the engine's cap with
`train.micro_batch: auto`) plus weights, gradients and optimizer state
(bench.train.footprint). A stage whose estimate exceeds the card's memory is
refused before it starts, with the figures, rather than failing with an
out-of-memory error after its data and model have loaded.
"""

from __future__ import annotations

from pathlib import Path


class Fit:
    def __init__(self, micro_setting, plan_dir: str | Path = "plan"):
        self.micro_setting, self.plan_dir = micro_setting, Path(plan_dir)
        self._cache: dict[tuple[str, float], str | None] = {}

    def problem(self, entry: str, card_bytes: float | None, card: str = "the card") -> str | None:
        """Why `entry` cannot run on a card of `card_bytes`, or None (also when the card is unknown)."""
        if card_bytes is None:
            return None
        key = (entry, card_bytes)
        if key not in self._cache:
            self._cache[key] = self._check(entry, card_bytes, card)
        return self._cache[key]

    def _check(self, entry: str, card_bytes: float, card: str) -> str | None:
        from bench.train.footprint import plan_footprint, planned_micro_batch
        from bench.train.stage import read_plan

        plan = read_plan(self.plan_dir, entry)
        if plan.recipe.steps == 0:
            return None  # evaluation only: no activations kept for a backward pass
        footprint = plan_footprint(plan)
        micro, refused = planned_micro_batch(plan.recipe, footprint, card_bytes, self.micro_setting)
        if refused:
            return refused
        sam = plan.recipe.optimizer.sam is not None
        peak = footprint.peak_bytes(micro, "bf16", sam, plan.recipe.batch_size)
        if peak <= card_bytes:
            return None
        why = ("BatchNorm trains, so the engine keeps the recipe's micro-batch; raise accum_steps in the recipe"
               if footprint.batchnorm and not plan.recipe.freeze_bn else
               "even the smallest micro-batch does not fit" if micro == 1 else
               "set train.micro_batch to auto or lower in params.yaml")
        return (f"estimated peak {peak / 2**30:.1f} GiB at {micro} examples per forward pass exceeds "
                f"{card}'s {card_bytes / 2**30:.0f} GiB ({why}; `bench suite cost` shows every entry's estimate)")
