"""`bench suite cost NAME`: what a suite costs before it is launched.

Per entry that runs, from timm's model built on the meta device (no weights,
no memory) with the entry's model_kwargs at its recipe's resolution:

  * FLOPs of one training image, forward and backward (torch's FlopCounterMode),
    times the images the recipe sees (steps x batch; twice for SAM's two passes),
    and the selection sweep's runs (one per grid value, same recipe);
  * device-hours at a stated MFU of a card's dense bf16 peak;
  * activation memory of one micro-batch (tensors autograd saves, counted with
    saved-tensor hooks, at bf16 = half the fp32 count) plus weights, gradients and
    two optimizer slots in fp32: an estimate of the peak, to compare with the card;
  * the DVC cache the final checkpoints take (fp32 state dict per run);
  * the critical path on K devices with `bench workers`: at least the total over
    K, and at least the longest entry (its selection, then its slowest seed).

Evaluation passes are not counted (a forward pass over the test split is a few
percent of a fine-tuning run). Estimates, not measurements: benchmarks/
gpu_check.sh measures the MFU a card really reaches.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

# Dense bf16 peak TFLOPS and memory (GiB) per card, from the vendors' data sheets.
CARDS = {"H100": (989.0, 80), "H200": (989.0, 141), "A100": (312.0, 80), "L40S": (362.0, 48), "L4": (121.0, 24)}


@dataclass(frozen=True)
class EntryCost:
    entry: str
    model: str
    resolution: int
    images: int  # training images seen, all passes counted once
    train_tflop: float  # one seed
    select_tflop: float  # the whole sweep
    activation_gib: float  # one micro-batch, bf16
    state_gib: float  # weights + gradients + two optimizer slots, fp32
    checkpoint_gib: float


def _per_image(model: str, kwargs: dict, resolution: int, in_chans: int) -> tuple[float, float, int]:
    """(FLOPs of one image's forward and backward, bytes autograd saves per image in fp32, parameters).
    The per-image figures are half the difference between a batch of 4 and a batch of 2 (BatchNorm needs
    two images), so the weights that autograd also saves (for the input gradients) are not counted as
    activations."""
    import timm
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    def measure(m, batch: int) -> tuple[float, int]:
        saved = [0]

        def pack(t):
            saved[0] += t.numel() * t.element_size()
            return t

        x = torch.randn(batch, in_chans, resolution, resolution)
        with FlopCounterMode(display=False) as counter:
            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                out = m(x)
            out.float().sum().backward()
        return float(counter.get_total_flops()), saved[0]

    with torch.device("meta"):
        m = timm.create_model(model, pretrained=False, in_chans=in_chans, **kwargs)
        flops2, saved2 = measure(m, 2)
        flops4, saved4 = measure(m, 4)
    return (flops4 - flops2) / 2, float(saved4 - saved2) / 2, sum(p.numel() for p in m.parameters())


def entry_cost(entry, cache: dict) -> EntryCost:
    plan, r = entry.plan(), entry.recipe
    in_chans = 1 if plan.dataset.name == "sklearn_digits" else 3
    key = json.dumps([plan.model, plan.model_kwargs, r.resolution, in_chans], sort_keys=True, default=str)
    if key not in cache:
        cache[key] = _per_image(plan.model, plan.model_kwargs, r.resolution, in_chans)
    flops, saved, params = cache[key]
    passes = 2 if r.optimizer.sam is not None else 1
    images = r.steps * r.batch_size
    train = flops * images * passes / 1e12
    grid = len(r.select.grid) if r.select else 0
    micro = max(1, r.batch_size // r.accum_steps)
    return EntryCost(entry=entry.id, model=plan.model, resolution=r.resolution, images=images, train_tflop=train,
                     select_tflop=train * grid, activation_gib=saved / 2 * micro / 2**30,
                     state_gib=params * 16 / 2**30, checkpoint_gib=params * 4 / 2**30)


def suite_cost(tables: dict, seeds: int, card: str, mfu: float, devices: int) -> str:
    peak, memory = CARDS[card]
    rate = peak * mfu * 3600.0  # TFLOP per device-hour
    cache: dict = {}
    costs = [entry_cost(e, cache) for t in tables.values() for e in t.entries.values() if e.runs]
    lines = ["| entry | model @ px | train images | GPU-h per seed | selection GPU-h | peak GiB (act + state) |",
             "|---|---|---:|---:|---:|---:|"]
    total = cache_gib = longest = 0.0
    over = []
    for c in costs:
        train_h, select_h = c.train_tflop / rate, c.select_tflop / rate
        total += train_h * seeds + select_h
        cache_gib += c.checkpoint_gib * seeds
        longest = max(longest, select_h + train_h)
        peak_gib = c.activation_gib + c.state_gib
        if peak_gib > memory:
            over.append(c.entry)
        lines.append(f"| {c.entry} | {c.model} @ {c.resolution} | {c.images:,} | {train_h:.2f} | {select_h:.2f} "
                     f"| {peak_gib:.1f}{' (over the card)' if peak_gib > memory else ''} |")
    lines += ["", f"{len(costs)} entries x {seeds} seeds on {card} (bf16 peak {peak:g} TFLOPS, {memory} GiB) at "
                  f"{mfu:.0%} MFU: about {total:,.1f} GPU-hours in all "
                  f"(selection sweeps {sum(c.select_tflop for c in costs) / rate:,.1f} of them).",
              f"On {devices} GPUs with `bench workers`: at least {max(total / devices, longest):,.1f} hours "
              f"(the total over {devices}, or the longest entry's selection and seed: {longest:,.1f} h).",
              f"DVC cache of the final checkpoints: about {cache_gib:,.1f} GiB."]
    if over:
        lines.append(f"Estimated peak memory over the card's {memory} GiB at the recipe's micro-batch: "
                     + ", ".join(over) + " (a smaller micro-batch, or a larger card).")
    return "\n".join(lines) + "\n"
