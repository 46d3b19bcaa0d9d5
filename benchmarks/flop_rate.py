"""The time estimate against a measurement on the CPU: counted FLOPs over measured step time, per model.

    python benchmarks/flop_rate.py [--rounds N] [--threads N (default 1)]

`bench suite cost` turns FLOPs into hours at one rate (an MFU of the card's
peak). That holds when a step's time follows its FLOPs whatever the model.
Here the FLOPs of one training step (bench.train.footprint.measure, as the
cost counts them) are divided by the step's measured time (fp32, forward,
cross-entropy, backward, SGD with momentum): the FLOP/s this machine achieves
on each model. A ViT and a ResNet, models of different kinds, should agree
within a factor of 2 (vit_over_resnet). Also printed, not compared:

  * a 1024^3 fp32 matmul: the machine's dense ceiling; a model above it has
    its FLOPs over-counted;
  * EfficientNet-b0, with the FLOPs counted both ways: torch's own count (every
    depthwise conv's grad_weight as dense) and the corrected one. Depthwise
    convolutions are memory-bound, so with its FLOPs right it reaches a
    fraction of the dense models' rate: FLOPs alone under-estimate its time,
    which is why `bench suite cost` also prints EfficientNet-b7's measured MFU.

The models' steps are interleaved round after round and each model's median
step is used, so that load from other processes (a shared 2-core machine
varies up to 10x) hits them alike: the ratios mean more than the absolute rates.
The ratios from each model's fastest step (the least disturbed) follow. One
thread by default: on this project's shared 2-core machine (load average 5-7)
two threads that wait for each other at every operation lost 5-10x and
unevenly (ViT's many small operations more than ResNet's), vit_over_resnet
0.59-0.91 from run to run, where one thread gave 0.89 at 7x the rate.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# (timm model, resolution, batch): each step some tens of GFLOP, a fraction of a second to seconds on 2 cores
MODELS = [("vit_small_patch16_224", 112, 8), ("resnet18", 112, 16), ("efficientnet_b0", 112, 16)]
CLASSES = 10


def torch_count(model: str, kwargs: dict, res: int) -> float:
    """FLOPs of one training image by torch's FlopCounterMode alone (what bench.train.footprint counted before
    it corrected a grouped convolution's backward)."""
    import timm
    from torch.utils.flop_counter import FlopCounterMode

    totals = []
    with torch.device("meta"):
        m = timm.create_model(model, num_classes=CLASSES, **kwargs)
        for batch in (2, 4):
            with FlopCounterMode(display=False) as counter:
                m(torch.randn(batch, 3, res, res)).sum().backward()
            totals.append(counter.get_total_flops())
    return (totals[1] - totals[0]) / 2


def main() -> int:
    import timm

    from bench.train.footprint import measure

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    runs = []
    for model, res, batch in MODELS:
        kwargs = {"img_size": res} if model.startswith("vit") else {}
        flops = measure(model, kwargs, res, 3, num_classes=CLASSES).flops_per_image * batch
        net = timm.create_model(model, num_classes=CLASSES, **kwargs).train()
        opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
        x, y = torch.randn(batch, 3, res, res), torch.randint(0, CLASSES, (batch,))

        def step(net=net, opt=opt, x=x, y=y):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(net(x), y).backward()
            opt.step()

        step(), step()  # warm-up: kernels, allocator, optimizer state
        runs.append({"name": f"{model} @ {res} px, batch {batch}", "model": model, "flops": flops, "step": step,
                     "times": [], "torch": torch_count(model, kwargs, res) * batch})
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    runs.append({"name": "matmul 1024^3 x 8 (the dense ceiling)", "model": "matmul", "flops": 8 * 2 * 1024 ** 3,
                 "step": lambda: [a @ b for _ in range(8)], "times": [], "torch": None})
    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
    print(f"{args.threads} threads, {args.rounds} interleaved rounds, load average before {load}, torch "
          f"{torch.__version__}", flush=True)
    for _ in range(args.rounds):
        for r in runs:
            start = time.perf_counter()
            r["step"]()
            r["times"].append(time.perf_counter() - start)
    rate, best = {}, {}
    for r in runs:
        med = statistics.median(r["times"])
        rate[r["model"]], best[r["model"]] = r["flops"] / med, r["flops"] / min(r["times"])
        extra = (f"; by torch's own count {r['torch'] / 1e9:.2f} GFLOP, {r['torch'] / med / 1e9:.1f} GFLOP/s"
                 if r["torch"] and abs(r["torch"] / r["flops"] - 1) > 0.01 else "")
        print(f"{r['name']}: {r['flops'] / 1e9:.2f} GFLOP a step, median {med * 1e3:.0f} ms (min "
              f"{min(r['times']) * 1e3:.0f}): {rate[r['model']] / 1e9:.1f} GFLOP/s{extra}", flush=True)
    vit, resnet, effnet, ceiling = (rate[m] for m in ("vit_small_patch16_224", "resnet18", "efficientnet_b0",
                                                      "matmul"))
    print(f"by the fastest steps: vit_over_resnet {best['vit_small_patch16_224'] / best['resnet18']:.2f}, "
          f"effnet_over_resnet {best['efficientnet_b0'] / best['resnet18']:.2f}")
    print(f"vit_over_resnet={vit / resnet:.2f} (target within 0.5-2) effnet_over_resnet={effnet / resnet:.2f} "
          f"resnet_over_ceiling={resnet / ceiling:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
