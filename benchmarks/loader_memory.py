"""Host memory of the streaming training loader: this harness's against the float32 loader it replaced.

    python benchmarks/loader_memory.py [--res 384] [--batch 128] [--workers 2] [--batches 6] [--step-s 0.5]

Both read the same synthetic TFDS dataset of 500x375 JPEGs through ViT
fine-tuning's training ops (inception crop, flip, normalize) with the same
DataLoader workers:

  baseline  the loader as it was: every op in the workers, one global float32
            batch collated per worker fetch, 4 batches prefetched per worker;
  harness   bench.data.stream.stream_train: the workers stop before
            `normalize` and ship uint8 pieces of at most PIECE examples (2 in
            flight per worker); the feed joins them and normalises on the
            device (here the CPU, so the joined float batch counts too).

The consumer sleeps --step-s per batch (a training step), so the prefetch
queues fill as in training. Peak memory is the largest sum of proportional set
sizes (PSS: shared pages split between the processes that map them) over the
main process and its workers, plus what /dev/shm holds (batches waiting in
the queues), sampled every 20 ms while the batches are read.
The last line:

  baseline_over_harness=<baseline peak PSS / harness peak PSS>
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from train_step import synthetic_jpeg  # noqa: E402


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
    return out


def _pss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _shm_used() -> int:
    """Bytes in /dev/shm: batches on their way from a worker to the main process live there (torch's
    shared-memory tensors), mapped by no process while they wait in the queue."""
    try:
        st = os.statvfs("/dev/shm")
        return (st.f_blocks - st.f_bfree) * st.f_frsize
    except OSError:
        return 0


def _used() -> int:
    return sum(_pss_bytes(p) for p in _tree(os.getpid())) + _shm_used()


class PeakMemory:
    """The peak of the summed PSS of this process and its descendants plus /dev/shm, sampled in a thread."""

    def __init__(self):
        self.peak, self.base, self._stop = 0, 0, threading.Event()

    def __enter__(self):
        self.base = _used()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, _used())
            time.sleep(0.02)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def baseline_batches(spec, pipeline, batch: int, data_dir: Path, workers: int):
    """The loader before the change: float32 from the workers, whole batches, prefetch 4."""
    from bench.data.stream import EpochBatches, SourceDataset

    dataset = SourceDataset(spec, "train", data_dir, pipeline.example)
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=EpochBatches(len(dataset), batch, 0),
                                         num_workers=workers, persistent_workers=workers > 0,
                                         prefetch_factor=4 if workers > 0 else None)
    return iter(loader)


def measure(name: str, make, batches: int, step_s: float) -> float:
    with PeakMemory() as mem:
        it = make()
        start = time.perf_counter()
        for _ in range(batches):
            x, _ = next(it)
            time.sleep(step_s)
        elapsed = time.perf_counter() - start
        peak = mem.peak
        del it, x
    print(f"{name}: peak memory {peak / 2**20:,.0f} MiB (+{(peak - mem.base) / 2**20:,.0f} MiB over the start), "
          f"{batches} batches in {elapsed:.1f} s", flush=True)
    return peak - mem.base


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--res", type=int, default=384)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--batches", type=int, default=6)
    p.add_argument("--step-s", type=float, default=0.5, help="seconds the consumer spends per batch")
    p.add_argument("--data-dir", help="where to build the synthetic JPEG dataset (default: a temp folder)")
    args = p.parse_args()
    data_dir = synthetic_jpeg(args.data_dir)
    os.environ["BENCH_DATA_WORKERS"] = str(args.workers)

    from bench.pp.grammar import parse
    from bench.data.spec import data_spec
    from bench.data.stream import PIECE, stream_train

    pipeline = parse(f"inception_crop({args.res})|flip_lr|normalize(vit)")
    spec = data_spec("synthetic_jpeg", data_dir)
    print(f"{args.workers} workers, batch {args.batch} at {args.res} px, pieces of {PIECE}, "
          f"{args.step_s} s per step", flush=True)
    harness = measure("harness", lambda: stream_train(spec, "train", pipeline, args.batch, data_dir, 0,
                                                      "cpu").batches, args.batches, args.step_s)
    baseline = measure("baseline", lambda: baseline_batches(spec, pipeline, args.batch, data_dir, args.workers),
                       args.batches, args.step_s)
    print(f"baseline_over_harness={baseline / harness:.2f}")


if __name__ == "__main__":
    main()
