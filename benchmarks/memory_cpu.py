"""The memory estimate against the peak a CPU process really reaches, for small models (no GPU needed).

    python benchmarks/memory_cpu.py [MODEL@RES:BATCH ...]

The estimate is the one `bench suite cost` prints and `micro_batch: auto` sizes
from (bench.train.footprint.Footprint.peak_bytes, fp32): the tensors autograd
saves for the batch, 16 bytes a parameter (weights, gradients, AdamW's two
moments) and the input batch. The measurement is one real AdamW training step
of the same model at that batch, in a process of its own:

  1. two warm-up steps (the optimizer's state is created; every kernel the
     step runs has been loaded);
  2. the gradients dropped, freed memory handed back to the system
     (malloc_trim), then the process's peak resident set reset (Linux:
     /proc/self/clear_refs, 5) and one more step run: its peak is VmHWM;
  3. the model, optimizer and batch deleted and memory handed back again: the
     resident set left (Python, torch's libraries and the kernels' code and
     caches, none of which the estimate counts) is subtracted from the peak.

tracemalloc does not see torch's allocations. ru_maxrss cannot be reset by
itself (clear_refs resets it too): read before the reset, minus the same
baseline, it is printed as a second reading, the warm-up steps' peak (the first
of which had no optimizer state yet). A baseline from a second process that
never steps would leave in the kernels' code pages and caches, tens of MiB that
a small model's step does not dwarf.

One line per model, then `memory_cpu_<model>=<measured>/<estimated> MiB (ratio)`.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# A small ViT, a ResNet and an EfficientNet (depthwise convs, squeeze-excitation), at sizes where the
# activations are hundreds of MiB: a step takes seconds on 2 cores.
DEFAULT = ["vit_small_patch16_224@112:16", "resnet18@112:32", "efficientnet_b0@112:16"]
CLASSES = 10


def _status(key: str) -> int:
    """A field of /proc/self/status (VmRSS, VmHWM), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def _release() -> None:
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: freed memory may stay resident (the figure reads high)
        pass


def one(model: str, res: int, batch: int) -> dict:
    """In this process: the estimate and the measured peak of one training step (see the module's doc)."""
    import resource

    import timm
    import torch
    import torch.nn.functional as F

    import bench.train.cifar  # noqa: F401  (the harness's own timm models)
    from bench.train.footprint import measure

    kwargs = {"img_size": res} if model.startswith("vit") else {}
    footprint = measure(model, kwargs, res, 3, num_classes=CLASSES)
    estimate = footprint.peak_bytes(batch, "fp32", sam=False, batch=batch)
    torch.manual_seed(0)
    net = timm.create_model(model, pretrained=False, num_classes=CLASSES, **kwargs).train()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    x, y = torch.randn(batch, 3, res, res), torch.randint(0, CLASSES, (batch,))

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(x), y).backward()
        opt.step()

    step(), step()
    opt.zero_grad(set_to_none=True)
    _release()
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # the warm-up steps' peak
    Path("/proc/self/clear_refs").write_text("5")  # the peak resident set starts again from here
    step()
    peak = _status("VmHWM")
    del net, opt, x, y
    _release()
    base = _status("VmRSS")
    return {"model": model, "res": res, "batch": batch, "estimate": estimate, "measured": peak - base,
            "maxrss_reading": maxrss - base, "activations": footprint.activation_bytes(batch, "fp32"),
            "state": footprint.state_bytes(False), "input": footprint.input_bytes(batch), "baseline": base}


def check(spec: str, threads: int = 2) -> dict:
    """One MODEL@RES:BATCH in a fresh process (no other model's memory or kernels in it)."""
    model, rest = spec.split("@")
    res, batch = (int(v) for v in rest.split(":"))
    code = (f"import sys, json, torch; sys.path.insert(0, {str(ROOT)!r}); torch.set_num_threads({threads}); "
            f"sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); import memory_cpu; "
            f"print(json.dumps(memory_cpu.one({model!r}, {res}, {batch})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"{spec}: {out.stderr.strip()[-500:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="*", help=f"MODEL@RES:BATCH (timm names; default: {' '.join(DEFAULT)})")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    if not Path("/proc/self/clear_refs").exists():
        sys.exit("memory_cpu.py needs Linux's /proc/self/clear_refs (to reset the peak resident set)")
    mib = 2**20
    lines = []
    for spec in args.models or DEFAULT:
        r = check(spec, args.threads)
        ratio = r["measured"] / r["estimate"]
        print(f"{r['model']} @ {r['res']} px, batch {r['batch']}: estimated peak {r['estimate'] / mib:.0f} MiB "
              f"(activations {r['activations'] / mib:.0f}, state {r['state'] / mib:.0f}, input {r['input'] / mib:.0f}),"
              f" measured {r['measured'] / mib:.0f} MiB (measured/estimated {ratio:.2f}; warm-up steps' "
              f"ru_maxrss {r['maxrss_reading'] / mib:.0f}); process baseline {r['baseline'] / mib:.0f} MiB", flush=True)
        lines.append(f"memory_cpu_{r['model']}={r['measured'] / mib:.0f}/{r['estimate'] / mib:.0f} MiB ({ratio:.2f})")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
