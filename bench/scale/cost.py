"""`bench suite cost NAME`: what a suite costs before it is launched.

Per entry that runs, from timm's model built on the meta device (no weights,
no memory) with the entry's model_kwargs at its recipe's resolution:

  * FLOPs of one training image, forward and backward (torch's FlopCounterMode,
    with a grouped convolution's backward counted right: bench.train.footprint),
    times the images the recipe sees (steps x batch; twice for SAM's two passes),
    and the selection sweep's runs (one per grid value, same recipe);
  * device-hours at a stated MFU of a card's dense bf16 peak, and, for the models
    whose MFU has been measured (MEASURED), at the measured MFU as well;
  * activation memory of one micro-batch (tensors autograd saves, counted with
    saved-tensor hooks, at bf16 = half the fp32 count) plus weights, gradients and
    optimizer state in fp32, plus the step's batch on the device
    (bench.train.footprint): an estimate of the peak, at
    the micro-batch `micro_batch: auto` runs (the recipe's, cut to what fits the
    card, unless BatchNorm trains: bench.train.micro);
  * the DVC cache the final checkpoints take (fp32 state dict per run);
  * the critical path on K devices with `bench workers`: at least the total over
    K, and at least the longest entry (its selection, then its slowest seed).

`bench study cost NAME` (study_cost): a study's tuning and final runs by the same
arithmetic; tuning is bounded by every trial running to the end (the median
pruner stops some early); the final runs are the study's seeds at each arm's recipe.

Evaluation passes are not counted (a forward pass over the test split is a few
percent of a fine-tuning run). Estimates, not measurements: benchmarks/
gpu_check.sh measures the MFU a card really reaches.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from bench.tables.study import split_cell
from bench.train.footprint import USABLE_FRACTION, Footprint, plan_footprint, planned_micro_batch

# Dense bf16 peak TFLOPS and memory (GiB) per card, from the vendors' data sheets (the sparse figures
# they also print are twice these). Each form factor its own: a PCIe or NVL card is slower than SXM.
CARDS = {"H100": (989.0, 80), "H100 PCIe": (756.0, 80), "H100 NVL": (835.0, 94), "H200": (989.0, 141),
         "H200 NVL": (835.0, 141), "A100": (312.0, 80), "L40S": (362.0, 48), "L4": (121.0, 24)}


def check_card(card: str) -> str:
    """`--card`: one of CARDS, else a clear error listing them."""
    if card not in CARDS:
        from bench.errors import BenchError, choices

        raise BenchError(f"--card {card!r}: unknown card; {choices(card, CARDS)}")
    return card


# MFU measured for a model on a card: (share of the card's dense bf16 peak, the measurement). The FLOPs are
# this module's (bench.train.footprint), so a figure here and an estimate at it agree on what a FLOP is.
# `bench suite cost` and `bench study cost` print the hours at these beside the stated MFU: EfficientNet-b7
# reaches a sixteenth of 40% in PyTorch (depthwise convolutions are memory-bound). Add a measurement here
# when benchmarks/gpu_check.sh has made one (it prints mfu for ViT-B/16 and mfu_b7 for EfficientNet-b7).
MEASURED = {
    ("H200", "tf_efficientnet_b7"): (0.025, "NVIDIA H200, 2026-12-04, torch 2.11, timm's model alone timed by hand "
                                            "at 600 px, bf16, channels_last: 0.144 s per 16-image forward and "
                                            "backward, 111 images/s x 226 GFLOP = 25 of 989 TFLOPS (README, "
                                            "\"Measured on NVIDIA H200\")"),
    ("H200", "vit_base_patch16_224"): (0.294, "benchmarks/gpu_check.sh on NVIDIA H200, 2026-12-04, torch 2.11: "
                                              "ViT-B/16 at 384 px, bf16, micro-batch 64, the harness's step, "
                                              "73.0 ms = 291 of 989 TFLOPS"),
}


def measured_mfu(card: str, model: str) -> tuple[float, str, str] | None:
    """(MFU, the card it was measured on, the measurement) for `model`: on `card` if measured there, else on
    another card (the first by name), else None."""
    for c in [card] + sorted(c for c, m in MEASURED if m == model and c != card):
        if (c, model) in MEASURED:
            mfu, source = MEASURED[(c, model)]
            return mfu, c, source
    return None


def at_measured(hours: list[tuple[str, float, float]], card: str, mfu: float, devices: int | None = None
                ) -> list[str]:
    """Summary lines: the GPU-hours at the MFU measured for each model, or why there is no such figure.
    `hours`: per entry (or cell), its model, its GPU-hours at `mfu` and its longest chain of runs (for the
    critical path on `devices` GPUs)."""
    found = {m: measured_mfu(card, m) for m, h, _ in hours if h > 0}
    used = {m: f for m, f in found.items() if f is not None}
    if not found:  # nothing trains (evaluation only): no hours to restate
        return []
    if not used:
        return [f"No MFU has been measured for these models (MEASURED in bench/scale/cost.py): the figure assumes "
                f"{mfu:.0%} of the peak; benchmarks/gpu_check.sh measures what a card reaches."]
    factor = {m: mfu / f[0] for m, f in used.items()}
    total = sum(h * factor.get(m, 1.0) for m, h, _ in hours)
    ratio = total / sum(h for _, h, _ in hours)
    which = ", ".join(f"{m} {f[0]:.1%} on {f[1]}" + ("" if f[1] == card else f", not measured on {card}")
                      for m, f in sorted(used.items()))
    rest = f"; the other models at {mfu:.0%}" if len(used) < len(found) else ""
    line = (f"At the MFU measured ({which}{rest}): about {total:,.1f} GPU-hours in all, "
            f"{ratio:.{0 if ratio >= 10 else 2}f}x the figure at {mfu:.0%}")
    if devices:
        longest = max(chain * factor.get(m, 1.0) for m, _, chain in hours)
        line += f"; on {devices} GPUs at least {max(total / devices, longest):,.1f} hours"
    return [line + "."] + [f"  {m} on {f[1]}: {f[2]}." for m, f in sorted(used.items())]


def card_of(device_name: str) -> str | None:
    """The CARDS key for a CUDA device name ("NVIDIA H100 80GB HBM3" -> H100, "NVIDIA H200 NVL" -> H200 NVL,
    "NVIDIA A100-SXM4-80GB" -> A100), or None; the most specific name matches first."""
    name = device_name.upper().replace("-", " ")
    for key in sorted(CARDS, key=len, reverse=True):
        if all(word in name.split() for word in key.upper().split()):
            return key
    return None


@dataclass(frozen=True)
class EntryCost:
    entry: str
    model: str
    resolution: int
    images: int  # training images seen, all passes counted once
    train_tflop: float  # one seed
    select_tflop: float  # the whole sweep
    footprint: Footprint
    recipe: object  # bench.tables.recipe.Recipe
    recipe_micro: int  # examples per forward pass on one device, as the recipe has it
    sam: bool

    @property
    def checkpoint_gib(self) -> float:
        return self.footprint.params * 4 / 2**30

    def peak_gib(self, micro: int) -> float:
        """Estimated peak at `micro` examples per pass: bf16 activations, fp32 state, the step's batch."""
        return self.footprint.peak_bytes(micro, "bf16", self.sam, self.recipe.batch_size) / 2**30


def tflop_per_hour(card: str, mfu: float) -> float:
    """What one device of `card` computes in an hour at `mfu` (bf16 peak), in TFLOP."""
    return CARDS[card][0] * mfu * 3600.0


def run_tflop(plan, cache: dict) -> tuple[Footprint, float]:
    """(the model's footprint, the TFLOP of one run of the plan's recipe: steps x batch, two passes a step
    with SAM); `cache` keeps footprints by model, its arguments and input."""
    r = plan.recipe
    key = json.dumps([plan.model, plan.model_kwargs, r.resolution, plan.dataset.name == "sklearn_digits"],
                     sort_keys=True, default=str)
    if key not in cache:
        cache[key] = plan_footprint(plan)
    passes = 2 if r.optimizer.sam is not None else 1
    return cache[key], cache[key].flops_per_image * r.steps * r.batch_size * passes / 1e12


def entry_cost(entry, cache: dict) -> EntryCost:
    from bench.train.micro import recipe_micro_batch

    plan, r = entry.plan(), entry.recipe
    footprint, train = run_tflop(plan, cache)
    images = r.steps * r.batch_size
    # The sweep: one run per grid value, each as long as the recipe (for steps, as long as that value).
    grid = (sum(r.select.grid) / r.steps if r.select.param == "steps" else len(r.select.grid)) if r.select else 0
    return EntryCost(entry=entry.id, model=plan.model, resolution=r.resolution, images=images, train_tflop=train,
                     select_tflop=train * grid, footprint=footprint, recipe=r,
                     recipe_micro=recipe_micro_batch(r, 1), sam=r.optimizer.sam is not None)


def suite_cost(tables: dict, seeds: int, card: str, mfu: float, devices: int) -> str:
    peak, memory = CARDS[card]
    rate = tflop_per_hour(card, mfu)
    cache: dict = {}
    costs = [entry_cost(e, cache) for t in tables.values() for e in t.entries.values() if e.runs]
    header = ("| entry | model @ px | train images | GPU-h per seed | selection GPU-h | micro-batch: recipe -> run "
              "| peak GiB (act + state) |")
    lines = [header, "|---|---|---:|---:|---:|---:|---:|"]
    total = cache_gib = longest = 0.0
    capped, over, by_model = [], [], []
    for c in costs:
        train_h, select_h = c.train_tflop / rate, c.select_tflop / rate
        total += train_h * seeds + select_h
        by_model.append((c.model, train_h * seeds + select_h, select_h + train_h))
        cache_gib += c.checkpoint_gib * seeds
        longest = max(longest, select_h + train_h)
        if not c.images:  # evaluation only: forward passes, not counted (a few seconds of a card)
            lines.append(f"| {c.entry} | {c.model} @ {c.resolution} | 0 | 0.00 | 0.00 | evaluation only | - |")
            continue
        micro, _ = planned_micro_batch(c.recipe, c.footprint, memory * 2**30, "auto")  # what the run will take
        if micro < c.recipe_micro:
            capped.append(c.entry)
        note = ""
        if c.peak_gib(micro) > memory * USABLE_FRACTION:
            over.append(c.entry)
            note = " (over the card)"
        lines.append(f"| {c.entry} | {c.model} @ {c.resolution} | {c.images:,} | {train_h:.2f} | {select_h:.2f} "
                     f"| {c.recipe_micro} -> {micro} | {c.peak_gib(micro):.1f}{note} |")
    lines += ["", f"{len(costs)} entries x {seeds} seeds on {card} (bf16 peak {peak:g} TFLOPS, {memory} GiB) at "
                  f"{mfu:.0%} MFU: about {total:,.1f} GPU-hours in all "
                  f"(selection sweeps {sum(c.select_tflop for c in costs) / rate:,.1f} of them).",
              f"On {devices} GPUs with `bench workers`: at least {max(total / devices, longest):,.1f} hours "
              f"(the total over {devices}, or the longest entry's selection and seed: {longest:,.1f} h).",
              *at_measured(by_model, card, mfu, devices),
              f"Final weights in the DVC cache with train.keep_checkpoint \"true\": about {cache_gib:,.1f} GiB "
              f"(default \"false\": a record of a few KiB per run, with the weights' digest)."]
    if capped:
        lines.append(f"micro_batch auto cuts the recipe's micro-batch to fit the card (same update) for "
                     f"{len(capped)} entries: " + ", ".join(capped) + ".")
    if over:
        lines.append(f"Estimated peak over {USABLE_FRACTION:.0%} of the card's {memory} GiB even so: "
                     + ", ".join(over) + " (BatchNorm in train mode keeps the recipe's micro-batch: a larger "
                     "accum_steps in the recipe, or a larger card).")
    return "\n".join(lines) + "\n"


def study_cost(study, card: str, mfu: float) -> str:
    """A study file's cost (bench.tables.study.Study): per cell, tuning at most and final runs."""
    rate = tflop_per_hour(card, mfu)
    cache: dict = {}
    lines = ["| cell | model @ px | steps x batch | GPU-h per run | tuning GPU-h (at most) | final GPU-h |",
             "|---|---|---:|---:|---:|---:|"]
    tuning = final = 0.0
    by_model = []
    for cell in study.cells():
        _, arm, dataset = split_cell(cell)
        plan = study.plan(arm, dataset)
        r = plan.recipe
        run_h = run_tflop(plan, cache)[1] / rate
        tuning += run_h * study.trials
        final += run_h * len(study.seeds)
        by_model.append((plan.model, run_h * (study.trials + len(study.seeds)), run_h))
        lines.append(f"| {cell} | {plan.model} @ {r.resolution} | {r.steps:,} x {r.batch_size} | {run_h:.2f} "
                     f"| {run_h * study.trials:.1f} | {run_h * len(study.seeds):.1f} |")
    lines += ["", f"{len(study.cells())} cells ({len(study.arms)} arms x {len(study.datasets)} datasets) on {card} "
                  f"at {mfu:.0%} MFU: tuning at most {tuning:,.1f} GPU-hours ({study.trials} trials a cell, "
                  f"before pruning), final runs {final:,.1f} ({len(study.seeds)} seeds a cell).",
              *at_measured(by_model, card, mfu)]
    return "\n".join(lines) + "\n"
