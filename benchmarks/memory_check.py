"""The memory estimate against a measurement: one real optimizer step at a recipe's micro-batch.

    python benchmarks/memory_check.py [--device cuda|cpu] [TABLE:ENTRY ...]

For each entry, the estimate `bench suite cost` prints and `micro_batch: auto`
sizes from (bench.train.footprint: the activations autograd saves, at bf16 half
the fp32 count, plus fp32 weights, gradients and optimizer state) at the
micro-batch a run on this card takes (bench.train.footprint.planned_micro_batch,
the rule the run applies), against torch.cuda.max_memory_allocated over one
real optimizer step of the entry's recipe: its global batch, accumulation,
SAM's m-chunks, clipping and in-loss weight decay, through the engine (bf16
autocast, channels_last) and bench.train.sam as bench.train.loop calls it.
Random weights and inputs (memory does not depend on their values); the
classifier has timm's default 1,000 classes in both figures.

One line per entry, then `memory_<entry>=<measured>/<estimated> GiB (ratio)`.
Both count the step's whole batch on the device, as the loader puts it there
(the estimate did not before an H200 run showed it: 4.1 GiB for b7's batch).

Default entries: ViT-B/16 at 384 px (ViT Table 5, micro-batch 64) and
EfficientNet-b7 at 600 px (SAM Table 10, plain: micro-batch 64; SAM: m = 16).
With --device cpu the embedded digits entries run (the plumbing is checked;
CUDA memory is not measured there).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT = ["experiments/vit/table5_i21k.yaml:vit_t5_b16_cifar10",
           "experiments/sam/table10.yaml:sam_t10_base_aircraft",
           "experiments/sam/table10.yaml:sam_t10_sam005_aircraft"]
CPU_DEFAULT = ["experiments/embedded/vit_digits.yaml:vit_p4_digits",
               "experiments/embedded/sam_digits.yaml:effnet_sam005_digits_noisy"]


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def check(table_file: str, entry_id: str, device: str) -> dict:
    from bench.scale.cost import entry_cost
    from bench.tables.table import load_table
    from bench.train.models import create_model
    from bench.train.engine import make_engine
    from bench.train.footprint import planned_micro_batch
    from bench.train.optim import build_optimizer
    from bench.train.sam import sam_step, sgd_step

    table = load_table(ROOT / table_file)
    entry = table.entries[entry_id]
    cost = entry_cost(entry, {})
    plan, recipe = entry.plan(), entry.recipe
    in_chans = 1 if plan.dataset.name == "sklearn_digits" else 3
    card = torch.cuda.get_device_properties(0).total_memory if device == "cuda" else None
    micro = planned_micro_batch(recipe, cost.footprint, card, "auto")[0] if card else cost.recipe_micro
    estimate = cost.peak_gib(micro)

    torch.manual_seed(0)
    model = create_model(plan.model, None, in_chans, plan.model_kwargs)
    engine = make_engine(device, model, "auto")
    model = engine.prepare(model)
    model.train()
    if recipe.freeze_bn:
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.eval()
    decay_in_loss = recipe.weight_decay_mode == "loss"
    optimizer = build_optimizer(model, recipe.optimizer, decay_in_loss, **engine.optimizer_kwargs())
    n, res = recipe.batch_size, recipe.resolution
    x = engine.batch(torch.randn(n, in_chans, res, res, device=device))
    y = torch.randint(0, 1000, (n,), device=device)
    input_gib = x.numel() * x.element_size() / 2**30
    cap = micro if micro < cost.recipe_micro else None
    l2 = recipe.optimizer.weight_decay if decay_in_loss else 0.0
    sam = recipe.optimizer.sam

    def loss_fn(logits, target):
        return F.cross_entropy(logits.float(), target, label_smoothing=recipe.label_smoothing)

    def step():
        if sam is not None:
            return sam_step(model, optimizer, loss_fn, x, y, sam.rho, sam.adaptive, recipe.grad_clip,
                            recipe.accum_steps, sam.m, l2, engine.autocast, micro_batch=cap)
        return sgd_step(model, optimizer, loss_fn, x, y, recipe.grad_clip, recipe.accum_steps, l2,
                        engine.autocast, micro_batch=cap)

    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    step()  # the first step: the optimizer state is created, cuDNN picks its kernels (slow on the GPU)
    sync(device)
    start = time.perf_counter()
    step()  # the second holds that state through a whole step: the peak of every later step
    sync(device)
    seconds = time.perf_counter() - start
    measured = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None
    del model, optimizer, x, y
    if device == "cuda":
        torch.cuda.empty_cache()
    return {"entry": entry_id, "model": plan.model, "res": res, "micro": micro, "recipe_micro": cost.recipe_micro,
            "sam": sam is not None, "estimate": estimate, "measured": measured, "input": input_gib,
            "step_s": seconds, "batch": n}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    p.add_argument("entries", nargs="*", help="TABLE_FILE:ENTRY (default: ViT-B/16 and EfficientNet-b7 entries)")
    args = p.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: CUDA is not available")
    entries = args.entries or (DEFAULT if args.device == "cuda" else CPU_DEFAULT)
    lines = []
    for spec in entries:
        table_file, entry_id = spec.rsplit(":", 1)
        try:
            r = check(table_file, entry_id, args.device)
        except torch.OutOfMemoryError as exc:
            lines.append(f"memory_{entry_id}=OUT OF MEMORY ({str(exc).splitlines()[0][:160]})")
            print(lines[-1], flush=True)
            torch.cuda.empty_cache()
            continue
        measured = f"{r['measured']:.1f}" if r["measured"] is not None else "n/a (CPU)"
        ratio = f" (measured/estimated {r['measured'] / r['estimate']:.2f})" if r["measured"] is not None else ""
        print(f"{entry_id}: {r['model']} @ {r['res']} px, batch {r['batch']}, micro-batch {r['recipe_micro']} -> "
              f"{r['micro']}{', SAM' if r['sam'] else ''}: estimated peak {r['estimate']:.1f} GiB, measured "
              f"{measured} GiB{ratio}; of which the input batch {r['input']:.1f} GiB; {r['step_s']:.2f} s the second step",
              flush=True)
        lines.append(f"memory_{entry_id}={measured}/{r['estimate']:.1f} GiB{ratio}")
    print("\n".join(lines))
    return 1 if any("OUT OF MEMORY" in line for line in lines) else 0


if __name__ == "__main__":
    sys.exit(main())
