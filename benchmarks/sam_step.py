"""SAM's step with many m-sharpness chunks, this checkout against another, side by side.

    python benchmarks/sam_step.py --against /path/to/other/checkout [--chunks 16] [--rounds 3]

Each round times both checkouts' bench.train.sam.sam_step in fresh processes
(test_efficientnet, frozen BatchNorm as SAM's fine-tuning runs it, batch 64 on
the CPU, one thread): per-step dispatch, not arithmetic, dominates there, as it
does for EfficientNet-b7's 64 chunks per step on a GPU. Prints the median
milliseconds of each and `other_over_this=<ratio>` (above 1: this checkout is
faster). Make the other checkout with `git worktree add /tmp/old <commit>`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import sys, time, statistics, torch, timm, torch.nn.functional as F
sys.path.insert(0, {tree!r})
from bench.train.sam import sam_step
torch.set_num_threads(1); torch.manual_seed(0)
m = timm.create_model("test_efficientnet", num_classes=10, in_chans=1)
for mod in m.modules():
    if isinstance(mod, torch.nn.BatchNorm2d):
        mod.eval()
opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
x, y = torch.randn(64, 1, 8, 8), torch.randint(0, 10, (64,))
ts = []
for i in range(25):
    t = time.perf_counter(); sam_step(m, opt, F.cross_entropy, x, y, 0.05, m={m}); ts.append(time.perf_counter() - t)
print(statistics.median(ts[5:]) * 1e3)
"""


def time_tree(tree: Path, chunk: int) -> float:
    out = subprocess.run([sys.executable, "-c", CHILD.format(tree=str(tree), m=chunk)], capture_output=True,
                         text=True, check=True)
    return float(out.stdout.strip())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--against", required=True, type=Path, help="the other checkout (a git worktree)")
    p.add_argument("--chunks", type=int, default=16, help="m-sharpness chunks per step (batch 64)")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    this, other = Path(__file__).resolve().parents[1], args.against.resolve()
    chunk = 64 // args.chunks
    mine, theirs = [], []
    for r in range(args.rounds):
        mine.append(time_tree(this, chunk))
        theirs.append(time_tree(other, chunk))
        print(f"round {r + 1}: this {mine[-1]:.1f} ms, other {theirs[-1]:.1f} ms", flush=True)
    a, b = statistics.median(mine), statistics.median(theirs)
    print(f"this={a:.1f}ms other={b:.1f}ms other_over_this={b / a:.3f}")


if __name__ == "__main__":
    main()
